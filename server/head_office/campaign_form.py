"""The campaign form: a definition as the fields a category manager reads and types (money as money,
times in the chain's zone, the hold-out in percent), and the posted fields back as a raw definition
for `definition.parse_definition`, which does the real checks. Pure: the caller gives the Locale."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from server.errors import ApiError
from server.head_office.definition import CampaignError
from server.params import whole_number
from shop.money import parse_money

MONEY_REWARDS = ("fixed", "member_price")
REWARD_HINTS = {
    "percent": "Percent off the shelf price of each unit, e.g. 20 for 20% off.",
    "fixed": "Money off each unit, e.g. 0.50.",
    "member_price": "The price the member pays per unit, e.g. 1.99 (when it is below the shelf price).",
    "points": "Extra loyalty points for each unit bought, e.g. 50.",
}
LIST_FIELDS = ("product_ids", "categories", "stores", "lifecycle", "segments", "tiers")
TEXT_FIELDS = ("name", "reward_type", "reward_value", "valid_from", "valid_to", "min_propensity", "top_n",
               "max_per_member", "budget_kind", "budget_amount", "holdout_percent")
PICKER_TIME = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


@dataclass(frozen=True)
class Locale:
    """How the form shows money and times: the chain's time zone and its currency's minor-unit digits."""

    zone: ZoneInfo
    exponent: int

    @classmethod
    def of(cls, site: Mapping[str, Any]) -> Locale:
        """The [site] section's time zone and currency digits."""
        return cls(ZoneInfo(site["timezone"]), int(site["currency_exponent"]))

    def money_text(self, minor: int) -> str:
        """Minor units as the amount a person types: 150 -> '1.50' (no symbol, no thousands separator)."""
        return f"{minor / 10 ** self.exponent:.{self.exponent}f}"

    def amount(self, text: str, name: str, money: bool) -> int:
        """A typed amount: money as minor units ('1.50' -> 150) or a whole number."""
        try:
            return parse_money(text, self.exponent) if money else whole_number(text.strip(), name)
        except ValueError as exc:
            raise CampaignError(f"{name}: {exc}") from None
        except ApiError as exc:
            raise CampaignError(exc.message) from None

    def picker_time(self, stamp: str) -> str:
        """A stored UTC time as the date picker's value in the chain's time zone."""
        try:
            return datetime.fromisoformat(stamp).astimezone(self.zone).strftime(PICKER_TIME)
        except (TypeError, ValueError):
            return ""

    def utc(self, text: str, name: str) -> str:
        """The date picker's time in the chain's zone as UTC ISO text."""
        try:
            stamp = datetime.strptime(text.strip(), PICKER_TIME)
        except ValueError:
            raise CampaignError(f"{name} must be a date and time such as 2026-12-05 08:00, not {text[:40]!r}") from None
        return stamp.replace(tzinfo=self.zone).astimezone(timezone.utc).isoformat()


def _opt_number(text: str, name: str, kind: type) -> Any:
    """An optional number: a whole number within an INTEGER column, or a finite float; None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        value = whole_number(text, name) if kind is int else float(text)
    except ApiError as exc:
        raise CampaignError(exc.message) from None
    except ValueError:
        raise CampaignError(f"{name} must be a number, not {text[:40]!r}") from None
    if not math.isfinite(value):
        raise CampaignError(f"{name} must be a number, not {text[:40]!r}")
    return value


def definition_fields(d: Mapping[str, Any], loc: Locale) -> dict[str, Any]:
    """A definition as the form shows it: money as money, times in the chain's zone, percentages."""
    t, kind = d["target"], d["budget"]["kind"]
    value, amount = d["reward"]["value"], d["budget"]["amount"]
    return {"name": d["name"], "product_ids": list(d["product_ids"]), "categories": list(d["categories"]),
            "reward_type": d["reward"]["type"],
            "reward_value": loc.money_text(value) if d["reward"]["type"] in MONEY_REWARDS else str(value),
            "valid_from": loc.picker_time(d["valid_from"]), "valid_to": loc.picker_time(d["valid_to"]),
            "stores": list(d["stores"]), "lifecycle": list(t["lifecycle"]), "segments": list(t["segments"]),
            "tiers": list(t["tiers"]), "min_propensity": "" if t["min_propensity"] is None else f"{t['min_propensity']:g}",
            "top_n": "" if t["top_n"] is None else str(t["top_n"]), "max_per_member": str(d["max_per_member"]),
            "budget_kind": kind,
            "budget_amount": "" if not amount else loc.money_text(amount) if kind == "money" else str(amount),
            "holdout_percent": f"{d['holdout_share'] * 100:g}"}


def posted_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """The form as it was posted, to read or to show again after an error."""
    return {**{k: form.get(k, "") for k in TEXT_FIELDS}, **{k: form.getlist(k) for k in LIST_FIELDS}}


def form_to_definition(f: Mapping[str, Any], loc: Locale) -> dict[str, Any]:
    """The form's fields as a raw definition for parse_definition (which does the real checks)."""
    reward_type, kind = f["reward_type"], f["budget_kind"] or "redemptions"
    return {
        "name": f["name"], "product_ids": [loc.amount(p, "Products", money=False) for p in f["product_ids"]],
        "categories": [c.strip() for c in f["categories"] if c.strip()],
        "reward": {"type": reward_type, "value": loc.amount(f["reward_value"], "Reward", reward_type in MONEY_REWARDS)},
        "valid_from": loc.utc(f["valid_from"], "Starts"), "valid_to": loc.utc(f["valid_to"], "Ends"),
        "stores": f["stores"],
        "target": {"lifecycle": f["lifecycle"], "segments": f["segments"], "tiers": f["tiers"],
                   "min_propensity": _opt_number(f["min_propensity"], "Minimum score", float),
                   "top_n": _opt_number(f["top_n"], "Top N", int)},
        "max_per_member": _opt_number(f["max_per_member"], "Cap per member", int),
        "budget": {"kind": kind, "amount": loc.amount(f["budget_amount"] or "0", "Budget", kind == "money")},
        "holdout_share": (_opt_number(f["holdout_percent"], "Hold-out share", float) or 0.0) / 100,
    }
