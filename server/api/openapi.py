"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

Request bodies come from server/store/schemas.py, the same objects the views validate
with, so the document cannot drift from the checks. The handheld, till, member and
pack-notify operations are described in OPERATIONS; on a head-office site the operations
of head office's store API are merged in from server/head_office/openapi.py. Any other
/api/v1 route a subsystem registers is listed from the app's url_map with its view's
docstring, so the document always names every real endpoint, and an operation whose
route this app does not serve is left out. A test walks the url_map and fails when the
two differ.

Links (OpenAPI's own, on the answers that make a trip or an audit) say which operation a
value goes to next: a started trip's id to its events, finish, offers and checkout, a
finish's audit id to the audit's outcome. Fuzzers follow them (schemathesis' stateful
phase), and so can a reader.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from server.params import MAX_ID
from server.store.schemas import REQUESTS, UUID_PATTERN, Schema

ERROR: Schema = {"type": "object", "required": ["error", "status", "message"],
                 "properties": {"error": {"type": "string"}, "status": {"type": "integer"},
                                "message": {"type": "string", "description": "what was wrong"}}}
ANY_OBJECT: Schema = {"type": "object"}
EVENTS_ANSWER: Schema = {"type": "object", "properties": {
    "stored": {"type": "array", "items": {"type": "string"}},
    "duplicates": {"type": "array", "items": {"type": "string"}},
    "gaps": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
             "description": "missing sequence ranges [first, last], inclusive"},
    "last_seq": {"type": "integer"},
    "staff_events": {"type": "array", "items": {"type": "object"},
                     "description": "events the store made for this trip (a staff void), to fold after the device's"}}}
TRIP_STARTED: Schema = {"type": "object", "required": ["trip_id", "status", "member", "offers"], "properties": {
    "trip_id": {"type": "string"}, "status": {"type": "string"},
    "member": {"type": ["object", "null"], "description": "the card's member, or null for a guest"},
    "offers": {"type": "array", "items": {"type": "object"}},
    "card_pending": {"type": "boolean", "description": "true: head office could not be asked about the card; the "
                                                       "trip runs as a guest's and its purchase is attributed later"},
    "notice": {"type": "string", "description": "what to tell the shopper when the card is pending"}}}
FINISHED: Schema = {"type": "object", "required": ["trip_id", "status", "audit", "audit_id"], "properties": {
    "trip_id": {"type": "string"}, "status": {"type": "string"}, "audit": {"type": "boolean"},
    "audit_reason": {"type": "string"},
    "audit_id": {"type": ["integer", "null"], "description": "the rescan audit a till or staff records, if any"}}}
AUDIT: Schema = {"type": "object", "required": ["id", "trip_id", "status"], "properties": {
    "id": {"type": "integer"}, "trip_id": {"type": "string"}, "status": {"type": "string"},
    "mismatch_count": {"type": ["integer", "null"]}, "findings": {"type": ["array", "null"]}}}
PULLING: Schema = {"type": "object", "required": ["pulling", "started"], "properties": {
    "pulling": {"type": "boolean"},
    "started": {"type": "boolean", "description": "false when a pull was running: it runs once more instead"}}}
PACK_STATUS: Schema = {"type": "object", "required": ["last_applied", "packs"], "properties": {
    "last_applied": {"type": "integer", "description": "the newest pack applied (0 before the first)"},
    "packs": {"type": "array", "items": {"type": "object"}}}}
ANSWER_SCHEMAS: dict[str, Schema] = {"EventsStored": EVENTS_ANSWER,
                                     "TripStarted": TRIP_STARTED, "TripFinished": FINISHED, "Audit": AUDIT,
                                     "PullStarted": PULLING, "PackStatus": PACK_STATUS}

NOT_JSON = "not JSON, or text holding NUL (\\u0000) or half of a surrogate pair, which no database stores"
NONE: list[dict[str, list[str]]] = []
DEVICE = [{"deviceToken": []}]
CONSOLE = [{"consoleSession": [], "csrfToken": []}]
TILL_OR_STAFF = [{"deviceToken": []}, {"consoleSession": [], "csrfToken": []}]
SECURITY_SCHEMES: Schema = {
    "deviceToken": {"type": "http", "scheme": "bearer",
                    "description": "a handheld's or a till's token (shopgo device add NAME --role handheld|till)"},
    "consoleSession": {"type": "apiKey", "in": "cookie", "name": "session",
                       "description": "the staff console's session, after signing in at /signin"},
    "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                  "description": "the session's CSRF token (the console's forms carry it), with every POST"}}

# (method, path, summary, request schema name or None, {status: description}, security, tag)
OPERATIONS: list[tuple[str, str, str, str | None, dict[str, str], list[dict[str, list[str]]], str]] = [
    ("get", "/api/v1/ping", "A trivial answer (load-benchmark baseline)", None, {"200": "ok"}, NONE, "meta"),
    ("get", "/api/v1/openapi.json", "This document", None, {"200": "the OpenAPI document"}, NONE, "meta"),
    ("get", "/api/v1/catalogue", "Full catalogue, or the delta since a version", None,
     {"200": "catalogue", "304": "unchanged (If-None-Match)", "400": "bad since", "401": "bad token"}, DEVICE,
     "catalogue"),
    ("post", "/api/v1/trips", "Start a trip by card or as a guest (a handheld)", "TripStart",
     {"200": "trip already started", "201": "trip started", "400": NOT_JSON, "401": "bad token",
      "403": "a till, or the trip of another device", "404": "unknown card",
      "409": "a concurrent start of the same trip", "422": "invalid body",
      "429": "too many unknown cards from this handheld lately"}, DEVICE, "trips"),
    ("get", "/api/v1/trips/{trip_id}/offers", "The member's personal offers valid now (the trip's handheld)", None,
     {"200": "offers", "401": "bad token", "403": "a till, or another device's trip", "404": "unknown trip"},
     DEVICE, "trips"),
    ("get", "/api/v1/trips/{trip_id}/staff-events", "What the store did to the trip after sequence number `after` "
     "(the trip's handheld)", None,
     {"200": "the store's events", "400": "bad after", "401": "bad token", "403": "a till, or another device's trip",
      "404": "unknown trip"}, DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/events", "Store a batch of events (idempotent by event id)", "EventBatch",
     {"200": "stored, duplicates, gaps", "400": NOT_JSON, "401": "bad token",
      "403": "a till, or another device's trip", "404": "unknown trip",
      "409": "trip checked out, full, or sequence clash", "413": "batch too large", "422": "invalid event"},
     DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/finish", "Finish the trip; decides the rescan audit", "Finish",
     {"200": "finished", "400": NOT_JSON, "401": "bad token", "403": "a till, or another device's trip",
      "404": "unknown trip", "409": "abandoned", "422": "invalid body"},
     DEVICE, "trips"),
    ("post", "/api/v1/trips/{trip_id}/checkout", "Re-price, record the purchase and points, return the receipt "
     "(a till or staff of the trip's store)", "Checkout",
     {"200": "the receipt (the same one again on a repeat)", "400": NOT_JSON, "401": "no or bad credential",
      "403": "a handheld, another store's till or staff, or no CSRF token", "404": "unknown trip",
      "402": "the payment was refused (the trip stays open)",
      "409": "not finished, audit pending, or points the member does not hold", "422": "invalid body"},
     TILL_OR_STAFF, "checkout"),
    ("get", "/api/v1/till/{code}", "The bill for an exit code before payment: lines, every difference from the "
     "handheld and why, the rescan audit and age checks that wait (a till or staff of the trip's store)", None,
     {"200": "the bill (or the receipt of a trip already paid)", "400": "not an exit code",
      "401": "no or bad credential", "403": "a handheld, another store's till or staff, or no CSRF token",
      "404": "no trip has this exit code", "409": "the shopper has not finished, or the trip was abandoned"},
     TILL_OR_STAFF, "checkout"),
    ("post", "/api/v1/trips/{trip_id}/age-approval", "A signed-in staff member approves the trip's age-restricted "
     "items (recorded with their name)", None,
     {"200": "approved", "401": "not signed in", "403": "not staff of the trip's store, or no CSRF token",
      "404": "unknown trip", "409": "no age check waiting, or the trip is over"}, CONSOLE, "checkout"),
    ("post", "/api/v1/feedback", "A shopper's report: missing item, wrong price, other", "Feedback",
     {"200": "already kept", "201": "kept", "400": NOT_JSON, "401": "bad token",
      "403": "a till, or another device's trip", "404": "unknown trip or GTIN",
      "409": "a concurrent report with the same id", "422": "invalid body"}, DEVICE, "feedback"),
    ("post", "/api/v1/audits/{audit_id}/outcome", "Record a rescan audit's findings (a till or staff of the "
     "audit's store)", "AuditOutcome",
     {"200": "the recorded audit", "400": NOT_JSON, "401": "no or bad credential",
      "403": "a handheld, another store's till or staff, or no CSRF token", "404": "unknown audit",
      "409": "already recorded", "422": "invalid findings"}, TILL_OR_STAFF, "audits"),
    ("post", "/api/v1/members/{member_id}/export", "Everything held about a member (a manager's or head "
     "office's console session; a GET answers 405)", None,
     {"200": "the export", "401": "not signed in", "403": "wrong role, another store's member, or no CSRF token",
      "404": "unknown member"}, CONSOLE, "members"),
    ("post", "/api/v1/members/{member_id}/erase", "Erase a member's personal data (a manager's or head office's "
     "console session)", "Erase",
     {"200": "erased", "400": 'not the body {"confirm": true}', "401": "not signed in",
      "403": "wrong role, another store's member, or no CSRF token", "404": "unknown member",
      "409": "already erased"}, CONSOLE, "members"),
    ("post", "/api/v1/packs/notify", "Head office says new packs wait: the store starts pulling them and answers "
     "at once", None, {"202": "a pull started (or one running runs once more)"}, NONE, "packs"),
    ("get", "/api/v1/packs/status", "The last applied pack and the newest few received", None,
     {"200": "pack status"}, NONE, "packs"),
]
ANSWERS: dict[tuple[str, str], str] = {
    ("post", "/api/v1/trips"): "TripStarted", ("post", "/api/v1/trips/{trip_id}/events"): "EventsStored",
    ("post", "/api/v1/trips/{trip_id}/finish"): "TripFinished", ("post", "/api/v1/audits/{audit_id}/outcome"): "Audit",
    ("post", "/api/v1/packs/notify"): "PullStarted", ("get", "/api/v1/packs/status"): "PackStatus"}
OPTIONAL_BODY = {"Finish", "Checkout"}


def operation_id(method: str, path: str) -> str:
    """post /api/v1/trips/{trip_id}/events -> post_trips_trip_id_events."""
    return method + "_" + re.sub(r"[{}]", "", path[8:].strip("/").replace("/", "_"))


def _trip_links(trip_id: str) -> dict[str, Any]:
    return {name: {"operationId": operation_id(method, path), "parameters": {"trip_id": trip_id}}
            for name, method, path in (("Events", "post", "/api/v1/trips/{trip_id}/events"),
                                       ("Finish", "post", "/api/v1/trips/{trip_id}/finish"),
                                       ("Offers", "get", "/api/v1/trips/{trip_id}/offers"),
                                       ("Checkout", "post", "/api/v1/trips/{trip_id}/checkout"))}


# (method, path) -> {status: links}: where the values an answer carries go next.
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("post", "/api/v1/trips"): {"200": _trip_links("$response.body#/trip_id"),
                                "201": _trip_links("$response.body#/trip_id")},
    ("post", "/api/v1/trips/{trip_id}/events"): {"200": {
        k: v for k, v in _trip_links("$request.path.trip_id").items() if k in ("Finish", "Events")}},
    ("post", "/api/v1/trips/{trip_id}/finish"): {"200": {
        "Checkout": _trip_links("$response.body#/trip_id")["Checkout"],
        "AuditOutcome": {"operationId": operation_id("post", "/api/v1/audits/{audit_id}/outcome"),
                         "parameters": {"audit_id": "$response.body#/audit_id"}}}},
}

_ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
PATH_PARAMETERS: dict[str, Schema] = {"trip_id": {"type": "string", "pattern": UUID_PATTERN}, "audit_id": _ID,
                                      "member_id": _ID,
                                      "code": {"type": "string", "pattern": UUID_PATTERN,
                                               "description": "the exit code the handheld shows (its trip id)"}}
QUERY_PARAMETERS: dict[str, list[Schema]] = {"/api/v1/catalogue": [
    {"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
     "description": "answer only what changed after this version (400 for anything but a whole number)"}],
    "/api/v1/trips/{trip_id}/staff-events": [
        {"name": "after", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
         "description": "only events with a higher sequence number (400 for anything but a whole number)"}]}


def _parameters(path: str) -> list[dict[str, Any]]:
    params = [{"name": part[1:-1], "in": "path", "required": True,
               "schema": PATH_PARAMETERS.get(part[1:-1], {"type": "string"})}
              for part in path.split("/") if part.startswith("{")]
    return params + QUERY_PARAMETERS.get(path, [])


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


def _operation(method: str, path: str, summary: str, body: str | None, answers: dict[str, str],
               security: list[dict[str, list[str]]], tag: str) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "security": security,
                          "operationId": operation_id(method, path), "parameters": _parameters(path), "responses": {}}
    if body:
        op["requestBody"] = {"required": body not in OPTIONAL_BODY,
                             "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
    links = LINKS.get((method, path), {})
    for status, text in answers.items():
        if status == "304":
            op["responses"][status] = {"description": text}
            continue
        name = ANSWERS.get((method, path))
        schema = ({"$ref": "#/components/schemas/Error"} if int(status) >= 400 else
                  {"$ref": f"#/components/schemas/{name}"} if name else ANY_OBJECT)
        op["responses"][status] = {"description": text, "content": {"application/json": {"schema": schema}}}
        if status in links:
            op["responses"][status]["links"] = links[status]
    return op


def _head_office_part(app: Flask | None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Head office's store API (its path items and components) when this app serves it."""
    if app is None or "head_office_api.packs" not in app.view_functions:
        return {}, {}
    from server.head_office import openapi as head_office

    return head_office.paths(), head_office.components()


def document(app: Flask | None = None) -> dict[str, Any]:
    """The OpenAPI document of the API; given the app, of exactly the /api/v1 routes it serves."""
    routes = _routes(app) if app else None
    office_paths, office_components = _head_office_part(app)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, *rest in OPERATIONS:
        if routes is None or (path, method) in routes:
            paths.setdefault(path, {})[method] = _operation(method, path, *rest)
    for path, ops in office_paths.items():
        paths.setdefault(path, {}).update(ops)
    for (path, method), summary in (routes or {}).items():
        if method not in paths.get(path, {}):
            paths.setdefault(path, {})[method] = {
                "summary": summary, "tags": ["other"], "parameters": _parameters(path),
                "responses": {"200": {"description": "see the owning subsystem's documentation"},
                              "default": {"description": "error", "content": {"application/json": {
                                  "schema": {"$ref": "#/components/schemas/Error"}}}}}}
    schemas = {**REQUESTS, **ANSWER_SCHEMAS, **office_components.get("schemas", {}), "Error": ERROR}
    schemes = {**SECURITY_SCHEMES, **office_components.get("securitySchemes", {})}
    title = "ShopGo head-office API" if office_paths else "ShopGo store API"
    return {"openapi": "3.1.0",
            "info": {"title": title, "version": "1",
                     "description": "Handheld, till and member-data API of a ShopGo server"
                                    + (", and head office's API for its stores" if office_paths else "")
                                    + "; see server/api/HANDHELD_API.md."},
            "servers": [{"url": "/"}], "paths": paths,
            "components": {"schemas": schemas, "securitySchemes": schemes}}


def init_app(app: Flask) -> None:
    """Serve the document at /api/v1/openapi.json."""

    def openapi_json() -> ResponseReturnValue:
        return jsonify(document(current_app._get_current_object()))  # type: ignore[attr-defined]

    app.add_url_rule("/api/v1/openapi.json", "openapi_json", openapi_json, methods=["GET"])
