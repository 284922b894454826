"""The console's blueprint and the small helpers its views and templates share: money, local times, arguments."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request

from server.errors import ApiError
from server.params import whole_number
from shop.money import format_money

bp = Blueprint("staff", "server.staff", url_prefix="/staff", template_folder="templates", static_folder="static",
               static_url_path="/static")
FIRST_DAY, LAST_DAY = date(1, 1, 2), date(9999, 12, 30)


def site() -> dict[str, Any]:
    """The [site] section of the configuration."""
    return dict(current_app.config["SHOPGO"]["site"])


def money(minor: int | float | None) -> str:
    """Minor units as the store's currency, e.g. 12345 -> '£123.45'."""
    cfg = site()
    return format_money(minor, cfg["currency"], int(cfg["currency_exponent"]))


def local(when: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC time shown in the store's time zone."""
    if when is None:
        return "–"
    return when.astimezone(ZoneInfo(site()["timezone"])).strftime(fmt)


def ago(when: datetime | None, now: datetime) -> str:
    """'3 min', '2 h 5 min': how long ago, for live pages."""
    if when is None:
        return "–"
    minutes = max(0, int((now - when).total_seconds() // 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def percent(value: float | None) -> str:
    """0.1234 -> '12.3 %'."""
    return "–" if value is None else f"{100 * value:.1f} %"


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


FILTERS = {"money": money, "local": local, "percent": percent}
