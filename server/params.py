"""Ids and numbers from requests, checked once with bounds, and the JSON body parser.

Every id or whole number that arrives in a path, a query string, a form or a JSON body is
read here. ASCII digits only (`str.isdigit()` also takes "²", which `int()` then refuses),
and never past what the database column holds: an id is an INTEGER column (2^31 - 1 on
PostgreSQL; SQLite refuses 2^63 with an OverflowError). Anything else is a 4xx naming
what was wrong, never a 500.
"""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.routing import BaseConverter, ValidationError

from server.errors import ApiError

MAX_ID = 2**31 - 1  # INTEGER primary keys, on both databases
_DIGITS = re.compile(r"[0-9]{1,10}")


def whole_number(raw: object, name: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """`raw` (text of ASCII digits, or a JSON integer) as an int within [low, high]; 400 otherwise."""
    value: int | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)  # JSON 11.0 is the integer 11 (JSON Schema agrees)
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None or not low <= value <= high:
        shown = repr(raw)[:40]
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}, not {shown}")
    return value


def optional_number(raw: object, name: str, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """Like whole_number, but None (or an absent query value) stays None."""
    return None if raw is None else whole_number(raw, name, low=low, high=high)


def parse_json(raw: bytes, *, required: bool = True) -> Any:
    """A request body as JSON: 400 when it is missing (and required), not UTF-8, not JSON, or
    nested so deeply that Python's parser gives up (RecursionError)."""
    if not raw.strip():
        if required:
            raise ApiError(400, "a JSON body is required")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: not UTF-8 ({exc.reason})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON for this API: nested too deeply") from None


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
