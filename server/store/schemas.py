"""Request and answer schemas of the handheld API, and the small validator that enforces them.

Each schema is written once, here: the endpoints validate request bodies against it and
the OpenAPI document (server/api/openapi.py) publishes it. The validator understands the
JSON Schema keywords used below and nothing else: type, properties, required,
additionalProperties, items, minItems, maxItems, minimum, maximum, minLength, maxLength,
pattern, enum, format (uuid, date-time) and description. They mean what JSON Schema says:
a pattern's `$` is the end of the text (not before a final newline, as Python's `re` has
it), "integer" is any whole number, 11.0 as much as 11 (`validate` hands the service an
int), and a date-time is RFC 3339's (as JSON Schema has it), narrowed to what both
databases and Python read alike: at most six decimal places, an offset within the world's
(+-14:00), and a moment that exists in UTC (year 1 to 9999 after its offset).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Mapping

from server.errors import ApiError
from server.params import MAX_ID, json_integer, storable
from shop.basket import SERVER_SEQ_BASE

Schema = dict[str, Any]

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
GTIN_PATTERN = "^[0-9]{8,14}$"
MAX_MINOR = 100_000_000  # a million pounds: anything above is a bug, not a basket

UUID: Schema = {"type": "string", "pattern": UUID_PATTERN, "description": "a UUID made by the device"}
DATE_TIME: Schema = {"type": "string", "format": "date-time", "maxLength": 40,
                     "description": "RFC 3339 (2025-03-31T10:15:00.250+01:00 or ...Z): at most six decimal "
                                    "places, an offset within +-14:00, a moment between the years 1 and 9999 in UTC"}
GTIN: Schema = {"type": "string", "pattern": GTIN_PATTERN, "description": "GTIN-8 to GTIN-14, digits only"}
LINE_KEY: Schema = {"type": "string", "minLength": 1, "maxLength": 36, "description": "a basket line key"}


def _obj(props: Mapping[str, Schema], required: tuple[str, ...] = (), extra: bool = False) -> Schema:
    return {"type": "object", "properties": dict(props), "required": list(required), "additionalProperties": extra}


TRIP_START = _obj({"trip_id": UUID,
                   "card_number": {"type": ["string", "null"], "pattern": "^[0-9]{13}$",
                                   "description": "a loyalty card (GTIN-13) or null for a guest"},
                   "started_at": DATE_TIME}, ("trip_id",))

# Payloads by event kind; other kinds (help, age_ok, ...) take any object.
SCAN_PAYLOAD = _obj({"gtin": GTIN, "barcode": {"type": "string", "maxLength": 128},
                     "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                     "weight_g": {"type": "integer", "minimum": 1, "maximum": 100_000},
                     "label_price_minor": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR}},
                    ("gtin",), extra=True)
REMOVE_PAYLOAD = _obj({"key": LINE_KEY}, ("key",), extra=True)
SET_QUANTITY_PAYLOAD = _obj({"key": LINE_KEY, "quantity": {"type": "integer", "minimum": 0, "maximum": 999}},
                            ("key", "quantity"), extra=True)
SHOWN_LINE = _obj({"key": LINE_KEY, "gtin": GTIN, "quantity": {"type": "integer", "minimum": 0, "maximum": 999},
                   "net_minor": {"type": "integer", "minimum": -MAX_MINOR, "maximum": MAX_MINOR}},
                  ("key", "quantity", "net_minor"), extra=True)
FINISH_PAYLOAD = _obj({"handheld_total_minor": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR},
                       "item_count": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                       "lines": {"type": "array", "items": SHOWN_LINE, "maxItems": 5000,
                                 "description": "the lines as the screen showed them, for the till to compare"}},
                      extra=True)
FEEDBACK_PAYLOAD = _obj({"kind": {"type": "string", "enum": ["missing", "wrong_price", "damaged", "other"],
                                  "description": "missing: out of stock on the shelf"},
                         "gtin": {"type": ["string", "null"], "pattern": GTIN_PATTERN},
                         "message": {"type": "string", "maxLength": 2000}}, ("kind",), extra=True)
CONSENT_PAYLOAD = _obj({"purpose": {"type": "string", "enum": ["personal_offers", "email_receipts", "marketing"]},
                        "given": {"type": "boolean"}}, ("purpose", "given"), extra=True)
PAYLOADS: dict[str, Schema] = {"scan": SCAN_PAYLOAD, "remove": REMOVE_PAYLOAD, "set_quantity": SET_QUANTITY_PAYLOAD,
                               "finish": FINISH_PAYLOAD, "feedback": FEEDBACK_PAYLOAD, "consent": CONSENT_PAYLOAD}

# A device numbers its events 1, 2, 3, ...; the store numbers its own (a staff void) from
# SERVER_SEQ_BASE up, so a device's number stays below it.
EVENT = _obj({"id": UUID, "seq": {"type": "integer", "minimum": 1, "maximum": SERVER_SEQ_BASE - 1,
                                  "description": "the device's own sequence number, 1, 2, 3, ..."},
              "kind": {"type": "string", "pattern": "^[a-z_]{1,16}$",
                       "description": "scan, remove, set_quantity, finish, help, feedback, age_ok, ..."},
              "occurred_at": DATE_TIME,
              "payload": {"type": "object", "description": "by kind: see the Scan/Remove/SetQuantity/Finish payloads"}},
             ("id", "seq", "kind", "occurred_at", "payload"))
EVENT_BATCH = _obj({"events": {"type": "array", "items": EVENT, "minItems": 0,
                               "description": "at most server.max_batch_events (413 above)"}}, ("events",))
FINISH = _obj({"handheld_total_minor": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR},
               "event_count": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
               "epoch": {"type": "string", "maxLength": 64,
                         "description": "sent by handhelds before version 4; accepted and ignored"}}, ())
PAYMENT = _obj({"method": {"type": "string", "enum": ["cash", "manual", "card"]},
                "tendered_minor": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR},
                "reference": {"type": "string", "maxLength": 64}}, ("method",))
CHECKOUT = _obj({"handheld_total_minor": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR},
                 "spend_points": {"type": "integer", "minimum": 0, "maximum": MAX_MINOR},
                 "payment": PAYMENT, "print": {"type": "boolean", "description": "print the receipt too"}}, ())
FEEDBACK = _obj({"id": UUID, "trip_id": {"type": ["string", "null"], "pattern": UUID_PATTERN},
                 "gtin": {"type": ["string", "null"], "pattern": GTIN_PATTERN},
                 "kind": {"type": "string", "enum": ["missing", "wrong_price", "damaged", "other"],
                          "description": "missing: out of stock on the shelf"},
                 "message": {"type": "string", "maxLength": 2000}}, ("id", "kind"))
FINDING = _obj({"gtin": GTIN,
                "expected": {"type": "integer", "minimum": 0, "maximum": 999,
                             "description": "what the till showed; the server compares with its own log of the trip"},
                "found": {"type": "integer", "minimum": 0, "maximum": 999}}, ("gtin", "found"))
AUDIT_OUTCOME = _obj({"findings": {"type": "array", "items": FINDING, "maxItems": 500}}, ("findings",))

ERASE = _obj({"confirm": {"type": "boolean", "enum": [True], "description": "true: erasure cannot be undone"}},
             ("confirm",), extra=True)

REQUESTS: dict[str, Schema] = {"TripStart": TRIP_START, "EventBatch": EVENT_BATCH, "Event": EVENT,
                               "ScanPayload": SCAN_PAYLOAD, "RemovePayload": REMOVE_PAYLOAD,
                               "SetQuantityPayload": SET_QUANTITY_PAYLOAD, "FinishPayload": FINISH_PAYLOAD,
                               "Finish": FINISH, "Checkout": CHECKOUT, "Feedback": FEEDBACK,
                               "AuditFinding": FINDING, "AuditOutcome": AUDIT_OUTCOME,
                               "Erase": ERASE}

_TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
                                       "number": (int, float), "boolean": (bool,), "null": (type(None),)}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not the number 1
    if name == "integer":
        return json_integer(value) is not None  # 11.0 is an integer, as JSON Schema says
    return isinstance(value, _TYPES[name])


@lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A schema's pattern as JSON Schema (ECMA-262) means it: a final `$` is the end of the text."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def errors(value: Any, schema: Schema, path: str = "body") -> list[str]:
    """Every way `value` breaks `schema`, each naming the path; empty when it conforms."""
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if names and not any(_type_ok(value, n) for n in names):
        return [f"{path} must be {' or '.join(names)}, not {_json_type(value)}"]
    if value is None:
        return []
    out: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path} must be one of {', '.join(map(str, schema['enum']))}, not {value!r}")
    if isinstance(value, str) or (isinstance(value, dict) and "properties" not in schema):
        if not storable(value):
            out.append(f"{path} holds text no database can store (NUL, or half of a surrogate pair)")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 1 << 30):
            out.append(f"{path} must be {schema.get('minLength', 0)}..{schema.get('maxLength', '')} characters long")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            out.append(f"{path} {value[:60]!r} is not {schema.get('description') or 'in the expected form'}")
        if schema.get("format") == "date-time" and parse_time(value) is None:
            out.append(f"{path} {value[:60]!r} is not an ISO 8601 time with a UTC offset")
    if _number(value):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            out.append(f"{path} must be from {schema.get('minimum', '')} to {schema.get('maximum', '')}, not {value}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1 << 30):
            out.append(f"{path} must hold {schema.get('minItems', 0)}..{schema.get('maxItems', '')} items")
        for i, item in enumerate(value):
            out += errors(item, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{path}.{k} is required" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties", True) is False:
            out += [f"{path}.{k} is not a known field" for k in value if k not in props]
        for key, sub in props.items():
            if key in value:
                out += errors(value[key], sub, f"{path}.{key}")
    return out


def validate(value: Any, schema: Schema, path: str = "body") -> Any:
    """Return `value` when it conforms, its whole numbers as ints (11.0 becomes 11, in place, so
    whoever holds the parsed body sees them so too); otherwise raise a 422 naming the first few
    problems."""
    problems = errors(value, schema, path)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ApiError(422, "; ".join(problems[:3]) + more)
    return _normalised(value, schema)


def _normalised(value: Any, schema: Schema) -> Any:
    """`value` (which conforms to `schema`) with every number the schema calls an integer as an int."""
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if isinstance(value, float) and "integer" in names and "number" not in names:
        return json_integer(value)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            value[i] = _normalised(item, schema["items"])
    elif isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                value[key] = _normalised(value[key], sub)
    return value


# RFC 3339's date-time, at most six decimal places (PostgreSQL rounds a seventh, which can
# carry 9999-12-31T23:59:59.9999999Z past its last year). Python's fromisoformat takes more
# (week dates, commas, no seconds), which PostgreSQL, reading the same text on the sync
# path, refuses: only this form reaches either.
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
MAX_OFFSET = timedelta(hours=14)  # Kiribati; PostgreSQL refuses offsets past 15:59


def parse_time(text: str) -> datetime | None:
    """An aware datetime from RFC 3339 text (an offset or Z), else None; None too for an offset
    beyond +-14:00 and for a time that does not exist in UTC (year 1 at +14:00, year 9999 at
    -12:00), which the database could not hold."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        offset = moment.utcoffset()
        if offset is None or abs(offset) > MAX_OFFSET:
            return None
        moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return moment


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _type_ok(value, name):
            return name
    return type(value).__name__


# The sync path's fast check. It answers only "does this event conform?", exactly as the
# schemas above do (tests/store_api/test_event_validator.py holds the two together), and like
# `validate` it leaves a conforming event's whole numbers as ints (7.0 becomes 7), so what it
# passes on is what the general path would store; anything it refuses goes to `errors`, so
# the messages a device sees for a bad event are the validator's own.
_UUID_RE = _pattern(UUID_PATTERN)
_GTIN_RE = _pattern(GTIN_PATTERN)
_KIND_RE = _pattern(EVENT["properties"]["kind"]["pattern"])
_EVENT_KEYS = frozenset(EVENT["properties"])
_SCAN_LIMITS = {k: (s["minimum"], s["maximum"]) for k, s in SCAN_PAYLOAD["properties"].items() if "minimum" in s}
_SEQ_MIN, _SEQ_MAX = EVENT["properties"]["seq"]["minimum"], EVENT["properties"]["seq"]["maximum"]


def _whole_within(item: dict[str, Any], key: str, low: int, high: int) -> bool:
    """item[key] is a whole number within [low, high]; 7.0 is made 7 on the way."""
    value = item[key]
    if type(value) is not int:
        value = json_integer(value)
        if value is None:
            return False
        item[key] = value
    return low <= value <= high


def _scan_ok(payload: dict[str, Any]) -> bool:
    gtin = payload.get("gtin")
    if type(gtin) is not str or not _GTIN_RE.search(gtin):
        return False
    if "barcode" in payload and (type(payload["barcode"]) is not str or len(payload["barcode"]) > 128):
        return False
    return all(_whole_within(payload, k, low, high) for k, (low, high) in _SCAN_LIMITS.items() if k in payload)


def event_ok(event: Any) -> bool:
    """True when `event` conforms to EVENT and its payload to its kind's schema (fast path)."""
    if type(event) is not dict or len(event) != len(_EVENT_KEYS) or event.keys() != _EVENT_KEYS:
        return False
    eid, kind, when, payload = event["id"], event["kind"], event["occurred_at"], event["payload"]
    if not (type(eid) is str and _UUID_RE.search(eid) and type(kind) is str and _KIND_RE.search(kind)
            and type(payload) is dict and type(when) is str and len(when) <= 40 and parse_time(when) is not None
            and _whole_within(event, "seq", _SEQ_MIN, _SEQ_MAX)):
        return False
    if not storable(payload):  # neither database stores it: the view's parse_json refuses it too
        return False
    if kind == "scan":
        return _scan_ok(payload)
    if kind not in PAYLOADS or errors(payload, PAYLOADS[kind]):
        return kind not in PAYLOADS
    _normalised(payload, PAYLOADS[kind])
    return True


def validate_event_batch(body: Any) -> Any:
    """Return `body` when it conforms to EVENT_BATCH; otherwise raise the validator's 422."""
    if type(body) is dict and len(body) == 1 and type(events := body.get("events")) is list \
            and all(event_ok(ev) for ev in events):
        return body
    return validate(body, EVENT_BATCH)
