"""Ids and numbers from requests, checked once with bounds, and the JSON body parser.

Every id or whole number that arrives in a path, a query string, a form or a JSON body is
read here. ASCII digits only (`str.isdigit()` also takes "²", which `int()` then refuses),
and never past what the database column holds: an id is an INTEGER column (2^31 - 1 on
PostgreSQL; SQLite refuses 2^63 with an OverflowError). Anything else is a 4xx naming
what was wrong, never a 500.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

from server.errors import ApiError

MAX_ID = 2**31 - 1  # INTEGER primary keys, on both databases
MAX_BIG_ID = 2**63 - 1  # BIGINT keys (purchases, purchase lines)
_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # 18 digits: past every bound here, short of int()'s own limits


def is_digits(text: object, *, low_len: int = 1, high_len: int = 64) -> bool:
    """True for text of ASCII digits only, `low_len` to `high_len` of them (a card number, a GTIN)."""
    return isinstance(text, str) and low_len <= len(text) <= high_len and _DIGITS.fullmatch(text) is not None


def json_integer(raw: object) -> int | None:
    """A JSON number that is a whole number as an int (11 and 11.0 alike, as JSON Schema's
    "integer" has it); None for anything else (true, 11.5, NaN, text)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None


def whole_number(raw: object, name: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """`raw` (text of ASCII digits, perhaps after a '-', or a JSON integer such as 11 or 11.0)
    as an int within [low, high]; 400 otherwise."""
    value = json_integer(raw)
    if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None or not low <= value <= high:
        shown = repr(raw)[:40]
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}, not {shown}")
    return value


def optional_number(raw: object, name: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """Like whole_number, but None (or an absent query value) stays None."""
    return None if raw is None else whole_number(raw, name, low=low, high=high)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL, and surrogates JSON's \\u escapes left unpaired


def storable(value: Any) -> bool:
    """False when any text in `value` (keys too) holds NUL or a lone surrogate, or a number is
    NaN or infinite: JSON can spell the first two (\\u0000, \\ud800) and Python's parser takes
    the others, but neither database can store them (PostgreSQL refuses NUL in text and jsonb,
    and NaN in jsonb; UTF-8 has no surrogates)."""
    stack = [value]
    while stack:  # a loop, not recursion: a body may be nested as deeply as the parser allows
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, *, required: bool = True) -> Any:
    """A request body as JSON: 400 when it is missing (and required), not UTF-8, not JSON (NaN
    and Infinity are not), nested so deeply that Python's parser gives up (RecursionError), or
    holding text no database can store (`storable`)."""
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: not UTF-8 ({exc.reason})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON for this API: nested too deeply") from None
    if "\\u" in text and not storable(body):  # only an escape can spell either
        raise ApiError(400, "the body holds text no database can store: the NUL character (\\u0000) "
                            "or half of a UTF-16 surrogate pair")
    return body


class IdConverter(BaseConverter):
    """`<id:name>` in a route: ASCII digits, 1..MAX_ID; anything else is a 404 (no such page)."""

    regex = r"[0-9]{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


class BigIdConverter(IdConverter):
    """`<bigid:name>`: like `<id:...>` for BIGINT keys (purchases: imported basket ids pass 2^31)."""

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_BIG_ID:
            raise ValidationError()
        return number
