"""What both consoles' pages share: the site's money and local time as template filters.

The layout is server/templates/console.html and the look server/static/console.css (with
console.js), one of each for the staff console and the head-office console.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from shop.money import format_money


def site() -> dict[str, Any]:
    """The [site] section of the configuration."""
    return dict(current_app.config["SHOPGO"]["site"])


def money(minor: int | float | None) -> str:
    """Minor units as the site's currency, e.g. 12345 -> '£123.45'. Money is always whole minor units; a
    float here is a statistic of money (a mean spend or lift per member), rounded to the minor unit."""
    cfg = site()
    return format_money(minor, cfg["currency"], int(cfg["currency_exponent"]))


def local(when: datetime | str | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC time (or its ISO text) shown in the site's time zone."""
    if when is None or when == "":
        return "–"
    stamp = datetime.fromisoformat(when) if isinstance(when, str) else when
    return stamp.astimezone(ZoneInfo(site()["timezone"])).strftime(fmt)


def percent(value: float | None) -> str:
    """0.1234 -> '12.3 %'."""
    return "–" if value is None else f"{100 * value:.1f} %"


def init_app(app: Flask) -> None:
    """Register the filters for every template."""
    app.jinja_env.filters.update(money=money, local=local, percent=percent)
