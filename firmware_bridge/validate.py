"""Validation helpers for settings: each raises ValueError naming the config key."""

from __future__ import annotations

from typing import Any

from . import wire

BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def fail(where: str, message: str, value: Any) -> ValueError:
    return ValueError(f"{where}: {message}, got {value!r}")


def check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise fail(where, f"must be an integer {lo}..{hi}", value)
    return value


def check_float(where: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise fail(where, f"must be a number {lo}..{hi}", value)
    return float(value)


def check_bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(where, "must be true or false", value)
    return value


def check_choice(where: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices or isinstance(value, bool):
        raise fail(where, "must be one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_digits(where: str, value: Any, lo: int = 1, hi: int = 12) -> str:
    if not isinstance(value, str) or not value.isdigit() or not lo <= len(value) <= hi:
        raise fail(where, f"must be a string of {lo}..{hi} digits", value)
    return value


def check_action(where: str, value: Any) -> str:
    """Check one feedback action: beep:N, led_on:COLOUR, led_off:COLOUR (SSI) or esc:N (Honeywell)."""
    if isinstance(value, str) and ":" in value:
        verb, _, arg = value.partition(":")
        if verb == "beep" and arg.isdigit() and int(arg) <= wire.BEEP_MAX:
            return value
        if verb in ("led_on", "led_off") and arg in wire.LED_MASKS:
            return value
        if verb == "esc" and arg in wire.HONEYWELL_ESC_CODES:
            return value
    raise fail(where, f"must be 'beep:0..{wire.BEEP_MAX}', 'led_on:green|red', 'led_off:green|red' or 'esc:1|2|3|7|8'", value)


def check_baud(where: str, value: Any) -> int:
    if value not in BAUDRATES or isinstance(value, bool):
        raise fail(where, "must be one of 1200..115200", value)
    return int(value)


def check_prefix(where: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) > 8 or any(ord(c) > 0xFF or c in "\r\n" for c in value):
        raise fail(where, "must be a string of at most 8 single-byte characters, without CR or LF", value)
    return value


def check_actions(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise fail(where, "must be a list of feedback actions", value)
    return tuple(check_action(f"{where}[{i}]", v) for i, v in enumerate(value))
