"""What head office's store API (server/head_office/api.py) takes and answers, for its OpenAPI document.

The same shapes as server/api/openapi.py uses for the store's handheld API, so that module can
merge them: OPERATIONS (method, path, summary, request schema name or None, {status:
description}, security, tag), REQUESTS (the request body schemas by name), ANSWERS (the 2xx
answer schema name by operation), PARAMETERS (query parameters by path) and SECURITY_SCHEMES.
`paths()` and `components()` give them as ready OpenAPI objects; `document()` is the whole
document of head office's store API on its own (tests fuzz it with schemathesis).

The bounds are the checks the views make (server.params, compiler.record_acks,
results.ingest_results): ids and counts are INTEGER columns, 0 or 1 up to 2^31 - 1.
"""
from __future__ import annotations

import re
from typing import Any

from server.head_office.compiler import ACK_STATUSES, MAX_ACKS
from server.head_office.results import MAX_ROWS
from server.params import MAX_ID

Schema = dict[str, Any]

PREFIX = "/api/v1/head-office"
STORE_LINK = [{"storeToken": []}]
SECURITY_SCHEMES: Schema = {"storeToken": {"type": "http", "scheme": "bearer",
                                           "description": "the token `shopgo head-office store-add` printed"}}
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ERROR: Schema = {"type": "object", "required": ["error", "status", "message"],
                 "properties": {"error": {"type": "string"}, "status": {"type": "integer"},
                                "message": {"type": "string", "description": "what was wrong"}}}


def _count(low: int = 0, description: str = "") -> Schema:
    out: Schema = {"type": "integer", "minimum": low, "maximum": MAX_ID}
    if description:
        out["description"] = description
    return out


def _obj(props: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "properties": props, "required": list(required)}


ACK = _obj({"seq": _count(1, "a pack number head office issued to this store"),
            "status": {"type": "string", "enum": list(ACK_STATUSES)},
            "reason": {"type": ["string", "null"], "description": "why; kept up to 2000 characters"}},
           ("seq", "status"))
ACKS = _obj({"acks": {"type": "array", "items": {"$ref": "#/components/schemas/HeadOfficeAck"},
                      "maxItems": MAX_ACKS, "description": "every ack names a pack issued to this store, "
                                                           "or the whole request is refused (422)"}}, ("acks",))
RESULT_ROW = _obj({
    "campaign_id": _count(1, "a campaign head office sent this store a pack for (403 otherwise)"),
    "member_id": _count(1),
    "kind": {"type": "string", "enum": ["purchase", "redemption"]},
    "ref": {"type": "string", "minLength": 1, "maxLength": 64, "description": "the store's purchase or redemption id"},
    "spend_minor": _count(0, "purchase: net spend on the campaign's products, minor units"),
    "discount_minor": _count(0, "redemption: the discount given, minor units"),
    "points": _count(0, "redemption: bonus points given"),
    "at": {"type": "string", "format": "date-time", "maxLength": 40, "description": "ISO 8601 with a UTC offset"}},
    ("campaign_id", "member_id", "kind", "ref", "at"))
RESULTS = _obj({"batch_id": {"type": "string", "pattern": UUID_PATTERN,
                             "description": "a UUID made by the store; a repeat counts once"},
                "rows": {"type": "array", "items": {"$ref": "#/components/schemas/HeadOfficeResultRow"},
                         "maxItems": MAX_ROWS}}, ("batch_id", "rows"))
PACKS_ANSWER = _obj({"store_id": {"type": "string"},
                     "packs": {"type": "array", "maxItems": 20, "items": _obj({
                         "seq": _count(1), "body": {"type": "string", "description": "canonical JSON, as signed"},
                         "signature": {"type": "string", "description": "Ed25519 over body, base64"}},
                         ("seq", "body", "signature"))}}, ("store_id", "packs"))
ACKS_ANSWER = _obj({"recorded": _count(0), "acked_seq": _count(0, "the newest pack the store applied")},
                   ("recorded", "acked_seq"))
RESULTS_ANSWER = _obj({"batch_id": {"type": "string"}, "duplicate": {"type": "boolean"}, "stored": _count(0),
                       "withdrawn": {"type": "array", "items": {"type": "integer"},
                                     "description": "campaigns withdrawn because this batch used up their budget"}},
                      ("batch_id", "duplicate", "stored"))

REQUESTS: dict[str, Schema] = {"HeadOfficeAcks": ACKS, "HeadOfficeAck": ACK, "HeadOfficeResults": RESULTS,
                               "HeadOfficeResultRow": RESULT_ROW}
ANSWER_SCHEMAS: dict[str, Schema] = {"HeadOfficePacks": PACKS_ANSWER, "HeadOfficeAcksRecorded": ACKS_ANSWER,
                                     "HeadOfficeResultsStored": RESULTS_ANSWER}
ANSWERS: dict[tuple[str, str], str] = {("get", f"{PREFIX}/packs"): "HeadOfficePacks",
                                       ("post", f"{PREFIX}/acks"): "HeadOfficeAcksRecorded",
                                       ("post", f"{PREFIX}/results"): "HeadOfficeResultsStored"}
PARAMETERS: dict[str, list[Schema]] = {f"{PREFIX}/packs": [
    {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
     "description": "the last pack the store applied (default 0); answers at most 20 packs after it"}]}

# (method, path, summary, request schema name or None, {status: description}, security, tag)
OPERATIONS: list[tuple[str, str, str, str | None, dict[str, str], list[dict[str, list[str]]], str]] = [
    ("get", f"{PREFIX}/packs", "The store's signed packs after a sequence number, oldest first", None,
     {"200": "up to 20 packs", "400": "after is not a whole number from 0 to 2^31-1", "401": "no or unknown token"},
     STORE_LINK, "head-office"),
    ("post", f"{PREFIX}/acks", "What the store did with packs issued to it", "HeadOfficeAcks",
     {"200": "recorded", "400": "not a JSON object", "401": "no or unknown token",
      "422": "not as described, or names a pack never issued to this store; nothing recorded"},
     STORE_LINK, "head-office"),
    ("post", f"{PREFIX}/results", "A batch of redemptions and campaign spend, stored once by batch_id",
     "HeadOfficeResults",
     {"200": "stored (or a duplicate, counted once)", "400": "not a JSON object", "401": "no or unknown token",
      "403": "names a campaign head office never sent this store; nothing stored",
      "422": "a row not as described; nothing stored"}, STORE_LINK, "head-office"),
]


def paths() -> dict[str, dict[str, Any]]:
    """The OpenAPI path items of head office's store API."""
    out: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, answers, security, tag in OPERATIONS:
        op: dict[str, Any] = {"summary": summary, "tags": [tag], "security": security,
                              "operationId": method + "_" + re.sub(r"[{}]", "", path[8:].strip("/").replace("/", "_")),
                              "parameters": PARAMETERS.get(path, []), "responses": {}}
        if body:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
        for status, text in answers.items():
            name = "Error" if int(status) >= 400 else ANSWERS[(method, path)]
            op["responses"][status] = {"description": text, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{name}"}}}}
        out.setdefault(path, {})[method] = op
    return out


def components() -> dict[str, Any]:
    """The schemas and security scheme the path items refer to (Error as the store document has it)."""
    return {"schemas": {**REQUESTS, **ANSWER_SCHEMAS, "Error": ERROR}, "securitySchemes": dict(SECURITY_SCHEMES)}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of head office's store API alone."""
    return {"openapi": "3.1.0",
            "info": {"title": "ShopGo head-office store API", "version": "1",
                     "description": "What a store linked to head office fetches (signed packs) and sends "
                                    "(acknowledgements, results); see server/head_office/__init__.py."},
            "servers": [{"url": "/"}], "paths": paths(), "components": components()}
