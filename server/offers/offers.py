"""Offer selection: from ranked products and profiles to personal offers, under the policy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from server.offers.engine import score_households
from server.offers.history import before, check_history
from server.offers.policy import OfferPolicy, in_holdout
from server.offers.profile import profile_households
from server.offers.recommend import ChainStats, EngineParams

KINDS = ("replenish", "discover", "winback", "reward")


@dataclass(frozen=True)
class OfferProposal:
    """One personal offer for one member and product, valid on whole UTC days from valid_from to valid_to."""

    household_id: int
    product_id: int
    kind: str  # replenish | discover | winback | reward
    reward_type: str  # percent | points
    reward_value: int  # percent off, or points multiplier
    valid_from: dt.date
    valid_to: dt.date
    score: float


def everyday_full_price(history: pd.DataFrame, as_of: pd.Timestamp, policy: OfferPolicy = OfferPolicy()
                        ) -> set[tuple[int, int]]:
    """(household, product) pairs bought at full price on nearly every recent trip.

    A line is at full price when what was paid is at least `full_price_ratio` of its price before
    the line's discount (the history's `discount` column; without it every line is at full price).
    Each line decides alone, so a partition of households gives the same pairs as the whole chain.
    A pair counts when it is in at least `everyday_trip_share` of the member's last
    `everyday_recent_trips` trips, and the member made at least `everyday_min_trips` trips.
    """
    rows = before(check_history(history), as_of)
    rows = rows.loc[(rows["quantity"] > 0) & (rows["sales_value"] > 0)]
    if rows.empty:
        return set()
    rows = rows.assign(full=rows["sales_value"] >= policy.full_price_ratio * (rows["sales_value"] + rows["discount"]))
    trips = rows.groupby(["household_id", "basket_id"])["timestamp"].min().reset_index()
    trips["age"] = trips.sort_values("timestamp", ascending=False).groupby("household_id").cumcount()
    recent = trips.loc[trips["age"] < policy.everyday_recent_trips, ["household_id", "basket_id"]]
    n_trips = recent.groupby("household_id").size()
    lines = rows.loc[rows["full"]].merge(recent, on=["household_id", "basket_id"])
    hits = lines.drop_duplicates(["household_id", "basket_id", "product_id"]) \
        .groupby(["household_id", "product_id"]).size().rename("trips").reset_index()
    hits["of"] = hits["household_id"].map(n_trips)
    keep = (hits["of"] >= policy.everyday_min_trips) & (hits["trips"] >= policy.everyday_trip_share * hits["of"])
    return set(zip(hits.loc[keep, "household_id"].astype(int), hits.loc[keep, "product_id"].astype(int)))


def _validity(as_of: pd.Timestamp, policy: OfferPolicy) -> tuple[dt.date, dt.date]:
    """First and last UTC day an offer made at as_of is valid."""
    start = as_of.tz_convert("UTC").date() + dt.timedelta(days=policy.start_days)
    return start, start + dt.timedelta(days=policy.valid_days - 1)


def select_offers(ranked: pd.DataFrame, profiles: pd.DataFrame, members: pd.DataFrame,
                  everyday: set[tuple[int, int]], as_of: pd.Timestamp,
                  policy: OfferPolicy = OfferPolicy()) -> list[OfferProposal]:
    """Choose each consenting, not held-out member's offers from their ranked products (pure)."""
    valid_from, valid_to = _validity(as_of, policy)
    stage = dict(zip(profiles["household_id"], profiles["lifecycle"])) if len(profiles) else {}
    live = members["live_offers"] if "live_offers" in members.columns else pd.Series(0, index=members.index)
    by_member = {int(h): g for h, g in ranked.sort_values(["household_id", "rank"]).groupby("household_id")}
    out: list[OfferProposal] = []
    for household_id, consent, n_live in zip(members["household_id"], members["consent"], live):
        household_id = int(household_id)
        if not bool(consent) or in_holdout(household_id, policy) or household_id not in by_member:
            continue
        room = policy.max_live_offers - int(0 if pd.isna(n_live) else n_live)
        if room <= 0:
            continue
        picks = by_member[household_id]
        picks = picks.loc[picks["score"] >= policy.min_score]
        declining = stage.get(household_id) == "decline"
        chosen: list[OfferProposal] = []
        for product_id, kind, score in zip(picks["product_id"], picks["kind"], picks["score"]):
            if len(chosen) >= room or (declining and len(chosen) >= policy.winback_offers):
                break
            offer_kind, reward_type, value = _offer_terms(household_id, int(product_id), str(kind),
                                                          declining, everyday, policy)
            if offer_kind is None:
                continue
            chosen.append(OfferProposal(household_id, int(product_id), offer_kind, reward_type, value,
                                        valid_from, valid_to, float(score)))
        out.extend(chosen)
    return out


def _offer_terms(household_id: int, product_id: int, kind: str, declining: bool,
                 everyday: set[tuple[int, int]], policy: OfferPolicy) -> tuple[str | None, str, int]:
    """Kind, reward type and value of an offer on one ranked product, or None for no offer."""
    if declining:
        # a member in decline no longer buys their favourites anyway: win them back on those
        if kind != "replenish":
            return None, "", 0
        return "winback", policy.discount_type, _value(policy.winback_value, policy)
    if (household_id, product_id) in everyday:
        # bought anyway at full price: a discount would only give margin away; points reward loyalty
        if policy.reward_everyday:
            return "reward", "points", policy.reward_points_multiplier
        return None, "", 0
    value = policy.replenish_value if kind == "replenish" else policy.discover_value
    return kind, policy.discount_type, _value(value, policy)


def _value(percent: int, policy: OfferPolicy) -> int:
    """The reward value: percent off as given, or a points multiplier of at least 2 when paying in points."""
    return int(percent) if policy.discount_type == "percent" else max(2, int(round(percent / 10)))


def build_offers(history: pd.DataFrame, members: pd.DataFrame, as_of: pd.Timestamp,
                 policy: OfferPolicy = OfferPolicy(), params: EngineParams = EngineParams(),
                 stats: ChainStats | None = None) -> list[OfferProposal]:
    """The nightly job's pure core: offers for all members from the history before as_of (one
    partition of the chain when `stats` are the chain's statistics, else the whole chain)."""
    return plan_offers(history, members, as_of, policy, params, stats)[0]


def plan_offers(history: pd.DataFrame, members: pd.DataFrame, as_of: pd.Timestamp,
                policy: OfferPolicy = OfferPolicy(), params: EngineParams = EngineParams(),
                stats: ChainStats | None = None) -> tuple[list[OfferProposal], pd.DataFrame]:
    """build_offers, and the households' profiles it chose by (profile_households)."""
    if "household_id" not in members.columns or "consent" not in members.columns:
        raise ValueError("members needs columns household_id and consent")
    rows = before(check_history(history), as_of)
    ranked = score_households(rows, as_of, policy.candidates, params, stats)
    profiles = profile_households(rows, as_of, policy)
    everyday = everyday_full_price(rows, as_of, policy)
    return select_offers(ranked, profiles, members, everyday, as_of, policy), profiles
