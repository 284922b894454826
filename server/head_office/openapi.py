"""What head office's store API (server/head_office/api.py) takes and answers, for its OpenAPI document.

The same shapes as server/api/openapi.py uses for the store's handheld API, so that module can
merge them: OPERATIONS (method, path, summary, request schema name or None, {status:
description}, security, tag), REQUESTS (the request body schemas by name), ANSWERS (the 2xx
answer schema name by operation), PARAMETERS (query parameters by path) and SECURITY_SCHEMES.
`paths()` and `components()` give them as ready OpenAPI objects; `document()` is the whole
document of head office's store API on its own (tests fuzz it with schemathesis).

The bounds are the checks the views make (server.params, compiler.record_acks,
batch.read_batch): ids and counts are INTEGER columns, 0 or 1 up to 2^31 - 1.
"""
from __future__ import annotations

import re
from typing import Any

from server.head_office.batch import BIG_ID, LINE_COLUMNS, MAX_FACTS, MAX_LINES, MONEY
from server.head_office.compiler import ACK_STATUSES, MAX_ACKS
from server.params import MAX_ID

Schema = dict[str, Any]

PREFIX = "/api/v1/head-office"
STORE_LINK = [{"storeToken": []}]
SECURITY_SCHEMES: Schema = {"storeToken": {"type": "http", "scheme": "bearer",
                                           "description": "the token `shopgo head-office store-add` printed"}}
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
TIME: Schema = {"type": "string", "format": "date-time", "maxLength": 40, "description": "RFC 3339 with a UTC offset"}


def _ints(low: int, high: int, nullable: bool = False, what: str = "", most: int = MAX_FACTS) -> Schema:
    item: Schema = {"type": ["integer", "null"] if nullable else "integer", "minimum": low, "maximum": high}
    return {"type": "array", "items": item, "maxItems": most, **({"description": what} if what else {})}


PURCHASES = _obj({
    "purchase_id": _ints(1, BIG_ID, what="the store's ids; (store, purchase_id) is the chain-wide key, each once"),
    "member_id": _ints(1, MAX_ID, nullable=True, what="null for a guest"),
    "purchased_at": {"type": "array", "items": TIME, "maxItems": MAX_FACTS},
    "lines": _ints(0, MAX_LINES, what="how many of `lines` belong to each purchase, in order")},
    ("purchase_id", "member_id", "purchased_at", "lines"))
LINES = _obj({name: _ints(low, high, nullable, most=MAX_LINES) for name, low, high, nullable in LINE_COLUMNS},
             tuple(name for name, *_ in LINE_COLUMNS))
REDEMPTION = _obj({"purchase_id": {"type": "integer", "minimum": 1, "maximum": BIG_ID,
                                   "description": "a purchase of this batch"},
                   "offer_id": _count(1), "campaign_id": _count(1, "counted only if head office sent this store the "
                                                                   "campaign"),
                   "discount_minor": _count(0), "points": _count(0)},
                  ("purchase_id", "offer_id", "campaign_id", "discount_minor", "points"))
TEXT = {"type": "string", "minLength": 1}
MEMBER = _obj({"member_id": _count(1), "card_number": {**TEXT, "maxLength": 14},
               "store_id": {**TEXT, "maxLength": 32}, "tier": {**TEXT, "maxLength": 16},
               "consent": {"type": "boolean"}, "erased": {"type": "boolean"}, "joined_at": TIME},
              ("member_id", "card_number", "store_id", "tier", "joined_at"))
ERASURE = _obj({"member_id": _count(1), "at": TIME}, ("member_id", "at"))
FEED_BATCH = _obj({
    "seq": _count(0, "the store's batch number, 1, 2, 3, ...; a number head office holds changes nothing "
                     "(0: nothing new, the store only reports its backlog)"),
    "purchases": {**PURCHASES, "description": f"in columns of equal length, at most {MAX_FACTS} purchases"},
    "lines": {**LINES, "description": f"in columns as long as the sum of purchases.lines, at most {MAX_LINES}"},
    "redemptions": {"type": "array", "items": REDEMPTION, "maxItems": MAX_FACTS},
    "cards": {"type": "array", "maxItems": MAX_FACTS, "description": "guests' purchases made on a card head office "
              "could not be asked about: head office gives each to the card's member",
              "items": _obj({"purchase_id": {"type": "integer", "minimum": 1, "maximum": BIG_ID},
                             "card_number": {**TEXT, "maxLength": 14}}, ("purchase_id", "card_number"))},
    "members": {"type": "array", "items": MEMBER, "maxItems": MAX_FACTS},
    "erasures": {"type": "array", "items": ERASURE, "maxItems": MAX_FACTS},
    "backlog": _obj({"facts": {"type": "integer", "minimum": 0, "maximum": MONEY},
                     "lines": {"type": "integer", "minimum": 0, "maximum": MONEY},
                     "caught_up_at": {**TIME, "description": "when the store's outbox was last empty, or its oldest "
                                                            "fact's time"}}, ("facts", "lines", "caught_up_at"))},
    ("seq", "backlog"))
PACKS_ANSWER = _obj({"store_id": {"type": "string"},
                     "packs": {"type": "array", "maxItems": 20, "items": _obj({
                         "seq": _count(1), "body": {"type": "string", "description": "canonical JSON, as signed"},
                         "signature": {"type": "string", "description": "Ed25519 over body, base64"}},
                         ("seq", "body", "signature"))}}, ("store_id", "packs"))
ACKS_ANSWER = _obj({"recorded": _count(0), "acked_seq": _count(0, "the newest pack the store applied")},
                   ("recorded", "acked_seq"))
FEED_ANSWER = _obj({"held": _count(0, "the newest batch of this store head office holds"),
                    "applied": {"type": "boolean", "description": "false: head office held this batch already"},
                    "facts": _count(0), "lines": _count(0), "results": _count(0),
                    "skipped": {"type": "array", "items": {"type": "string"}},
                    "withdrawn": {"type": "array", "items": {"type": "integer"},
                                  "description": "campaigns withdrawn because this batch used up their budget"}},
                   ("held", "applied"))

REQUESTS: dict[str, Schema] = {"HeadOfficeAcks": ACKS, "HeadOfficeAck": ACK, "HeadOfficeFeedBatch": FEED_BATCH}
ANSWER_SCHEMAS: dict[str, Schema] = {"HeadOfficePacks": PACKS_ANSWER, "HeadOfficeAcksRecorded": ACKS_ANSWER,
                                     "HeadOfficeFeedApplied": FEED_ANSWER,
                                     "HeadOfficeMember": _obj({"member": MEMBER}, ("member",))}
ANSWERS: dict[tuple[str, str], str] = {("get", f"{PREFIX}/cards/{{card_number}}"): "HeadOfficeMember",
                                       ("get", f"{PREFIX}/packs"): "HeadOfficePacks",
                                       ("post", f"{PREFIX}/acks"): "HeadOfficeAcksRecorded",
                                       ("post", f"{PREFIX}/feed"): "HeadOfficeFeedApplied"}
PARAMETERS: dict[str, list[Schema]] = {f"{PREFIX}/cards/{{card_number}}": [
    {"name": "card_number", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,14}$"},
     "description": "the loyalty card's number as scanned"}], f"{PREFIX}/packs": [
    {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
     "description": "the last pack the store applied (default 0); answers at most 20 packs after it"}]}

# (method, path, summary, request schema name or None, {status: description}, security, tag)
OPERATIONS: list[tuple[str, str, str, str | None, dict[str, str], list[dict[str, list[str]]], str]] = [
    ("get", f"{PREFIX}/packs", "The store's signed packs after a sequence number, oldest first", None,
     {"200": "up to 20 packs", "400": "after is not a whole number from 0 to 2^31-1", "401": "no or unknown token"},
     STORE_LINK, "head-office"),
    ("post", f"{PREFIX}/acks", "What the store did with packs issued to it", "HeadOfficeAcks",
     {"200": "recorded", "400": "not a JSON object", "401": "no or unknown token",
      "413": "a body over 4 MB; nothing recorded",
      "422": "not as described, or names a pack never issued to this store; nothing recorded"},
     STORE_LINK, "head-office"),
    ("get", f"{PREFIX}/cards/{{card_number}}", "The chain's member holding a card this store does not know", None,
     {"200": "the member", "400": "not 1 to 14 digits", "401": "no or unknown token",
      "404": "no member of the chain holds it"}, STORE_LINK, "head-office"),
    ("post", f"{PREFIX}/feed", "A numbered batch of the store's outbox, applied once", "HeadOfficeFeedBatch",
     {"200": "applied, or held already (changes nothing)", "400": "not a JSON object", "401": "no or unknown token",
      "409": "a batch after one head office never received; nothing applied",
      "413": "a body over 4 MB; nothing applied (the store sends smaller batches)",
      "422": "a fact not as described; nothing applied",
      "503": "head office cannot sign the roster packs the batch calls for; nothing applied, send it again"},
     STORE_LINK, "head-office"),
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
                                    "(acknowledgements, its feed); see server/head_office/__init__.py."},
            "servers": [{"url": "/"}], "paths": paths(), "components": components()}
