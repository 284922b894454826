"""The console's blueprint and the small helpers its views share: the site, local dates, arguments."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, request

from server.errors import ApiError
from server.pages import site
from server.params import whole_number

bp = Blueprint("staff", "server.staff", url_prefix="/staff", template_folder="templates")
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)


def ago(when: datetime | None, now: datetime) -> str:
    """'3 min', '2 h 5 min': how long ago, for live pages."""
    if when is None:
        return "–"
    minutes = max(0, int((now - when).total_seconds() // 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def int_arg(name: str, default: int, low: int = 1, high: int = 1_000_000) -> int:
    """An integer query argument, or 400 saying what was wrong."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    return whole_number(raw, name, low=low, high=high)


def date_arg(name: str, default: date) -> date:
    """A YYYY-MM-DD query argument, or 400."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a date like 2025-03-31, not {raw!r}.") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # a day's bounds in any time zone must exist in UTC
        raise ApiError(400, f"{name} must be a date from {FIRST_DAY} to {LAST_DAY}, not {raw!r}.")
    return day


def today_local(now: datetime) -> date:
    """The store's calendar date now."""
    return now.astimezone(ZoneInfo(site()["timezone"])).date()


