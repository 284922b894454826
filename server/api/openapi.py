"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

Request bodies come from server/api/schemas.py, the same objects the views validate
with, so the document cannot drift from the checks. The handheld, till and member
operations are described in OPERATIONS; any other /api/v1 route another subsystem
registers (head-office packs, ...) is listed from the app's url_map with its view's
docstring, so the document always names every real endpoint. A test walks the url_map
and fails when a route is missing or an operation here has no route.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from server.api.schemas import REQUESTS, Schema

ERROR: Schema = {"type": "object", "required": ["error", "status", "message"],
                 "properties": {"error": {"type": "string"}, "status": {"type": "integer"},
                                "message": {"type": "string", "description": "what was wrong"}}}
ANY_OBJECT: Schema = {"type": "object"}
EVENTS_ANSWER: Schema = {"type": "object", "properties": {
    "stored": {"type": "array", "items": {"type": "string"}}, "duplicates": {"type": "array", "items": {"type": "string"}},
    "gaps": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
             "description": "missing sequence ranges [first, last], inclusive"},
    "last_seq": {"type": "integer"},
    "staff_events": {"type": "array", "items": {"type": "object"},
                     "description": "events the store made for this trip (a staff void), to fold after the device's"},
    "durability": {"$ref": "#/components/schemas/Durability"}}}
DURABILITY: Schema = {
    "type": "object", "required": ["epoch", "synchronous"],
    "description": "PostgreSQL only. Keep every acknowledged event until this reports it flushed; on a new "
                   "epoch send again every event not yet reported flushed (see server/durability.py)",
    "properties": {
        "epoch": {"type": "string", "description": "changes when the database recovered from a crash"},
        "synchronous": {"type": "boolean",
                        "description": "this answer's commit was flushed: every event answered before, and "
                                       "this request's own, are safe"},
        "written": {"type": "integer", "description": "WAL position when this request was read; bounds every "
                                                      "commit answered before it"},
        "flushed": {"type": "integer", "description": "WAL position on disk at the same moment"}}}
DEVICE = [{"deviceToken": []}]
CONSOLE = [{"consoleSession": []}]

# (method, path, summary, request schema name or None, {status: description}, security, tag)
OPERATIONS: list[tuple[str, str, str, str | None, dict[str, str], list[dict[str, list[str]]], str]] = [
    ("get", "/api/v1/ping", "A trivial answer (load-benchmark baseline)", None, {"200": "ok"}, [], "meta"),
    ("get", "/api/v1/openapi.json", "This document", None, {"200": "the OpenAPI document"}, [], "meta"),
    ("get", "/api/v1/catalogue", "Full catalogue, or the delta since a version", None,
     {"200": "catalogue", "304": "unchanged (If-None-Match)", "400": "bad since", "401": "bad token"}, DEVICE,
     "catalogue"),
    ("post", "/api/v1/trips", "Start a trip by card or as a guest", "TripStart",
     {"200": "trip already started", "201": "trip started", "400": "not JSON", "401": "bad token",
      "404": "unknown card", "409": "trip of another device", "422": "invalid body"}, DEVICE, "trips"),
    ("get", "/api/v1/trips/{trip_id}/offers", "The member's personal offers valid now", None,
     {"200": "offers", "401": "bad token", "404": "unknown trip"}, DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/events", "Store a batch of events (idempotent by event id)", "EventBatch",
     {"200": "stored, duplicates, gaps", "400": "not JSON", "401": "bad token", "404": "unknown trip",
      "409": "trip checked out or sequence clash", "413": "batch too large", "422": "invalid event"}, DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/finish", "Finish the trip; decides the rescan audit", "Finish",
     {"200": "finished", "400": "not JSON", "401": "bad token", "404": "unknown trip",
      "409": "abandoned or other device", "422": "invalid body"}, DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/checkout", "Re-price, record the purchase and points, return the receipt",
     "Checkout", {"200": "the receipt (the same one again on a repeat)", "400": "not JSON", "401": "bad token",
                  "404": "unknown trip", "409": "not finished, or audit pending", "422": "invalid body"}, DEVICE,
     "checkout"),
    ("post", "/api/v1/feedback", "A shopper's report: missing item, wrong price, other", "Feedback",
     {"200": "already kept", "201": "kept", "400": "not JSON", "401": "bad token", "404": "unknown trip or GTIN",
      "422": "invalid body"}, DEVICE, "feedback"),
    ("post", "/api/v1/audits/{audit_id}/outcome", "Record a rescan audit's findings", "AuditOutcome",
     {"200": "the recorded audit", "400": "not JSON", "401": "bad token", "404": "unknown audit or staff user",
      "409": "already recorded", "422": "invalid findings"}, DEVICE, "audits"),
    ("get", "/api/v1/members/{member_id}/export", "Everything held about a member (staff console session)", None,
     {"200": "the export", "401": "not signed in", "403": "wrong role", "404": "unknown member"}, CONSOLE, "members"),
    ("post", "/api/v1/members/{member_id}/erase", "Erase a member's personal data (staff console session)", None,
     {"200": "erased", "400": "not confirmed", "401": "not signed in", "403": "wrong role",
      "404": "unknown member"}, CONSOLE, "members"),
]


def _parameters(path: str) -> list[dict[str, Any]]:
    params = []
    for part in path.split("/"):
        if part.startswith("{"):
            name = part[1:-1]
            kind = {"type": "integer"} if name == "audit_id" else {"type": "string"}
            params.append({"name": name, "in": "path", "required": True, "schema": kind})
    if path == "/api/v1/catalogue":
        params.append({"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
                       "description": "answer only what changed after this version"})
    return params


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: /trips/<id:audit_id> -> /trips/{audit_id}."""
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", rule)


def _routes(app: Flask) -> dict[tuple[str, str], str]:
    """Every /api/v1 (path, method) the app serves, with its view's first docstring line."""
    out = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            doc = (app.view_functions[rule.endpoint].__doc__ or rule.endpoint).strip().splitlines()[0]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                out[(openapi_path(rule.rule), method.lower())] = doc
    return out


def document(app: Flask | None = None) -> dict[str, Any]:
    """The OpenAPI document of the handheld API and, given the app, every other /api/v1 route."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, answers, security, tag in OPERATIONS:
        op: dict[str, Any] = {"summary": summary, "tags": [tag], "security": security,
                              "operationId": method + "_" + re.sub(r"[{}]", "", path[8:].strip("/").replace("/", "_")),
                              "parameters": _parameters(path), "responses": {}}
        if body:
            op["requestBody"] = {"required": body not in ("Finish", "Checkout"),
                                 "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
        for status, text in answers.items():
            schema = {"$ref": "#/components/schemas/Error"} if int(status) >= 400 else (
                EVENTS_ANSWER if path.endswith("/events") else ANY_OBJECT)
            op["responses"][status] = ({"description": text} if status == "304" else
                                       {"description": text, "content": {"application/json": {"schema": schema}}})
        paths.setdefault(path, {})[method] = op
    for (path, method), summary in (_routes(app) if app else {}).items():
        if method not in paths.get(path, {}):
            paths.setdefault(path, {})[method] = {
                "summary": summary, "tags": ["other"], "parameters": _parameters(path),
                "responses": {"200": {"description": "see the owning subsystem's documentation"},
                              "default": {"description": "error", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/Error"}}}}}}
    return {"openapi": "3.1.0",
            "info": {"title": "ShopGo store API", "version": "1",
                     "description": "Handheld, till and member-data API of a ShopGo store server; see HANDHELD_API.md."},
            "servers": [{"url": "/"}], "paths": paths,
            "components": {"schemas": {**REQUESTS, "Error": ERROR, "Durability": DURABILITY},
                           "securitySchemes": {"deviceToken": {"type": "http", "scheme": "bearer"},
                                               "consoleSession": {"type": "apiKey", "in": "cookie",
                                                                  "name": "session"}}}}


def init_app(app: Flask) -> None:
    """Serve the document at /api/v1/openapi.json."""

    def openapi_json() -> ResponseReturnValue:
        return jsonify(document(current_app._get_current_object()))  # type: ignore[attr-defined]

    app.add_url_rule("/api/v1/openapi.json", "openapi_json", openapi_json, methods=["GET"])
