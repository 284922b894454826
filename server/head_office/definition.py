"""A campaign's definition: what is offered, to whom, where, when, and within what budget.

Stored as a JSON document on each campaign version. `parse_definition` checks a whole
document (from the console form, the JSON API or the CLI) and answers one message that
says what was wrong, so a bad campaign is refused before anything is written.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

from server.errors import ApiError
from server.offers.profile import SEGMENTS as VALUE_SEGMENTS
from server.offers.profile import STAGES as LIFECYCLE_STAGES
from server.params import MAX_ID, whole_number

REWARD_TYPES = ("percent", "fixed", "member_price", "points")
BUDGET_KINDS = ("redemptions", "money")
MAX_PRODUCTS = 100  # each targeted member gets one offer row per product in every store
MAX_HOLDOUT = 0.9


class CampaignError(ValueError):
    """A campaign definition or action is not acceptable; the message says what to change."""


def _time(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise CampaignError(f"{name} must be an ISO 8601 time such as 2026-12-01T00:00:00Z")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CampaignError(f"{name} {value!r} is not an ISO 8601 time such as 2026-12-01T00:00:00Z") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)  # a bare date or time is taken as UTC
    return stamp.astimezone(timezone.utc).isoformat()


def _str_list(value: Any, name: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CampaignError(f"{name} must be a list of names")
    out = sorted({v.strip() for v in value})
    if allowed:
        bad = [v for v in out if v not in allowed]
        if bad:
            raise CampaignError(f"{name}: unknown {', '.join(bad)} (known: {', '.join(allowed)})")
    return out


def body_number(value: Any, name: str, low: int = 0, high: int = MAX_ID) -> int:
    """A whole number from a store's JSON body, read by server.params.whole_number within [low, high].

    JSON text such as "7" is refused (the published schema says integer), and every refusal is
    a CampaignError, so the API answers 422 and the batch it came in changes nothing.
    """
    if isinstance(value, str):
        raise CampaignError(f"{name} must be a whole number from {low} to {high}, not the text {value[:40]!r}")
    try:
        return whole_number(value, name, low=low, high=high)
    except ApiError as exc:
        raise CampaignError(exc.message) from None


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise CampaignError(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")
    return value


def parse_definition(raw: Mapping[str, Any], known_stores: set[str] | None = None) -> dict[str, Any]:
    """A checked, normalised definition; CampaignError names the first thing wrong."""
    if not isinstance(raw, Mapping):
        raise CampaignError("a campaign definition is a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 120:
        raise CampaignError("name must be 1-120 characters")
    products = raw.get("product_ids") or []
    if not isinstance(products, list) or not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= MAX_ID
                                                 for p in products):
        raise CampaignError(f"product_ids must be a list of product ids (whole numbers from 1 to {MAX_ID})")
    categories = _str_list(raw.get("categories"), "categories")
    if not products and not categories:
        raise CampaignError("give the campaign's products (product_ids) or categories")
    reward = raw.get("reward")
    if not isinstance(reward, Mapping) or reward.get("type") not in REWARD_TYPES:
        raise CampaignError(f"reward.type must be one of {', '.join(REWARD_TYPES)}")
    limits = {"percent": (1, 100), "fixed": (1, 1_000_000), "member_price": (0, 1_000_000), "points": (1, 100_000)}
    value = _int(reward.get("value"), f"reward.value ({reward['type']})", *limits[reward["type"]])
    valid_from, valid_to = _time(raw.get("valid_from"), "valid_from"), _time(raw.get("valid_to"), "valid_to")
    if valid_to <= valid_from:
        raise CampaignError("valid_to must be after valid_from")
    stores = _str_list(raw.get("stores"), "stores")
    if not stores or not all(re.fullmatch(r"[A-Za-z0-9_-]{1,32}", s) for s in stores):
        raise CampaignError("stores must list at least one store id (1-32 letters, digits, '-' or '_')")
    if known_stores is not None:
        unknown = [s for s in stores if s not in known_stores]
        if unknown:
            raise CampaignError(f"unknown store(s) {', '.join(unknown)}; link them with `shopgo head-office store-add`")
    target = raw.get("target") or {}
    if not isinstance(target, Mapping):
        raise CampaignError("target must be an object")
    unknown_keys = set(target) - {"lifecycle", "segments", "tiers", "min_propensity", "top_n", "consent"}
    if unknown_keys:
        raise CampaignError(f"target: unknown key(s) {', '.join(sorted(unknown_keys))}")
    if target.get("consent", True) is not True:
        raise CampaignError("target.consent cannot be switched off: personal offers go only to members who agreed")
    min_prop = target.get("min_propensity")
    if min_prop is not None and (isinstance(min_prop, bool) or not isinstance(min_prop, (int, float))
                                 or not 0.0 <= float(min_prop) <= 1.0):
        raise CampaignError("target.min_propensity must be a number from 0 to 1")
    top_n = target.get("top_n")
    if top_n is not None:
        top_n = _int(top_n, "target.top_n", 1, 10_000_000)
    budget = raw.get("budget") or {"kind": "redemptions", "amount": 0}
    if not isinstance(budget, Mapping) or budget.get("kind") not in BUDGET_KINDS:
        raise CampaignError(f"budget.kind must be one of {', '.join(BUDGET_KINDS)}")
    amount = _int(budget.get("amount"), "budget.amount (0 = no limit)", 0, 2_000_000_000)
    share = raw.get("holdout_share", 0.1)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= float(share) <= MAX_HOLDOUT:
        raise CampaignError(f"holdout_share must be a number from 0 to {MAX_HOLDOUT}")
    return {
        "name": name.strip(), "product_ids": sorted(set(products)), "categories": categories,
        "reward": {"type": reward["type"], "value": value}, "valid_from": valid_from, "valid_to": valid_to,
        "stores": stores,
        "target": {"lifecycle": _str_list(target.get("lifecycle"), "target.lifecycle", LIFECYCLE_STAGES),
                   "segments": _str_list(target.get("segments"), "target.segments", VALUE_SEGMENTS),
                   "tiers": _str_list(target.get("tiers"), "target.tiers"),
                   "min_propensity": None if min_prop is None else float(min_prop), "top_n": top_n,
                   "consent": True},
        "max_per_member": _int(raw.get("max_per_member", 1), "max_per_member", 1, 1000),
        "budget": {"kind": budget["kind"], "amount": amount},
        "holdout_share": float(share),
    }


def window(definition: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The validity window as UTC datetimes."""
    return (datetime.fromisoformat(definition["valid_from"]), datetime.fromisoformat(definition["valid_to"]))
