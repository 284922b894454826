"""Who a campaign reaches: consenting members of its stores, filtered by tier, lifecycle
stage, value segment and purchase propensity, then split into exposed and hold-out.

Lifecycle stage and value segment come from the offers engine's `profile_households`, and
the propensity for the campaign's products from its campaign targeting; head office only
feeds them the chain history it holds (see server/head_office/__init__.py for where that
history comes from) and applies the rule. The hold-out split is a hash of campaign and
member, so a member stays in the same group across every version of a campaign.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Member, Product, PurchaseLine
from server.head_office.definition import MAX_PRODUCTS, CampaignError
from server.offers.policy import holdout_fraction

HISTORY_DAYS = 365  # the engine looks at one year of baskets


@dataclass
class StoreAudience:
    """One store's audience: members who get the offers and members held out to measure lift."""

    eligible: int = 0  # consenting members of the store who pass tier/stage/segment rules
    exposed: list[int] = field(default_factory=list)
    holdout: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        """Counts for the preview."""
        return {"eligible": self.eligible, "exposed": len(self.exposed), "holdout": len(self.holdout),
                "audience": len(self.exposed) + len(self.holdout)}


def campaign_products(session: Session, definition: Mapping[str, Any]) -> list[int]:
    """Active product ids named by the campaign, directly or by category."""
    ids = set(definition.get("product_ids") or [])
    found = set(session.scalars(select(Product.id).where(Product.id.in_(ids), Product.active.is_(True)))) if ids else set()
    missing = sorted(ids - found)
    if missing:
        raise CampaignError(f"product(s) {', '.join(map(str, missing[:10]))} are not active in the catalogue")
    if definition.get("categories"):
        found |= set(session.scalars(select(Product.id).where(Product.category.in_(definition["categories"]),
                                                              Product.active.is_(True))))
    if not found:
        raise CampaignError("the campaign's categories hold no active products")
    if len(found) > MAX_PRODUCTS:
        raise CampaignError(f"the campaign covers {len(found)} products; at most {MAX_PRODUCTS} "
                            "(each targeted member gets one offer per product): narrow the categories")
    return sorted(found)


def in_holdout(campaign_id: int, member_id: int, share: float) -> bool:
    """Stable hold-out assignment (the offers engine's hash, salted per campaign): same group every time."""
    return holdout_fraction(member_id, f"campaign-{campaign_id}") < share


def eligible_members(session: Session, stores: list[str], tiers: list[str]) -> pd.DataFrame:
    """Consenting, not erased members of the stores (consent is always required)."""
    query = select(Member.id, Member.store_id, Member.tier).where(
        Member.store_id.in_(stores), Member.consent_personalisation.is_(True), Member.erased_at.is_(None))
    if tiers:
        query = query.where(Member.tier.in_(tiers))
    rows = session.execute(query.order_by(Member.id)).all()
    return pd.DataFrame(rows, columns=["member_id", "store_id", "tier"])


def load_history(session: Session, member_ids: list[int], as_of: datetime) -> pd.DataFrame:
    """The members' purchase lines of the last year, in the offers engine's history columns."""
    since = as_of - timedelta(days=HISTORY_DAYS)
    frames = []
    for i in range(0, len(member_ids), 5000):  # bounded IN lists
        chunk = member_ids[i:i + 5000]
        rows = session.execute(
            select(PurchaseLine.member_id, PurchaseLine.purchase_id, PurchaseLine.product_id, PurchaseLine.quantity,
                   PurchaseLine.sales_minor, PurchaseLine.purchased_at)
            .where(PurchaseLine.member_id.in_(chunk), PurchaseLine.purchased_at >= since,
                   PurchaseLine.purchased_at < as_of)).all()
        frames.append(pd.DataFrame(rows, columns=["household_id", "basket_id", "product_id", "quantity",
                                                  "sales_minor", "timestamp"]))
    frame = pd.concat(frames) if frames else pd.DataFrame(columns=["household_id", "basket_id", "product_id",
                                                                    "quantity", "sales_minor", "timestamp"])
    frame["sales_value"] = frame["sales_minor"].astype("float64") / 100.0
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.drop(columns=["sales_minor"]).reset_index(drop=True)


def select_audience(session: Session, campaign_id: int, definition: Mapping[str, Any],
                    as_of: datetime) -> dict[str, StoreAudience]:
    """Per store, the members the rule targets, split into exposed and hold-out."""
    from server.head_office import engine

    target = definition["target"]
    members = eligible_members(session, definition["stores"], target["tiers"])
    out = {s: StoreAudience() for s in definition["stores"]}
    if members.empty:
        return out
    wants_profile = bool(target["lifecycle"] or target["segments"])
    wants_score = target["min_propensity"] is not None or target["top_n"] is not None
    if wants_profile or wants_score:
        history = load_history(session, members["member_id"].tolist(), as_of)
        if wants_profile:
            profile = engine.profiles(history, as_of)
            keep = pd.Series(True, index=members.index)
            if target["lifecycle"]:  # members without history have no stage and are left out
                keep &= members["member_id"].map(profile["lifecycle"]).isin(target["lifecycle"])
            if target["segments"]:
                keep &= members["member_id"].map(profile["segment"]).isin(target["segments"])
            members = members[keep]
    for store, count in members.groupby("store_id").size().items():
        out[str(store)].eligible = int(count)
    if wants_score and not members.empty:
        products = campaign_products(session, definition)
        scores = engine.propensity(history[history["household_id"].isin(members["member_id"])], products, as_of)
        members = members.assign(score=members["member_id"].map(scores).fillna(0.0).astype("float64"))
        if target["min_propensity"] is not None:
            members = members[members["score"] >= target["min_propensity"]]
        if target["top_n"] is not None:
            members = members.sort_values(["score", "member_id"], ascending=[False, True]).head(target["top_n"])
    share = float(definition["holdout_share"])
    for member_id, store in sorted(zip(members["member_id"].tolist(), members["store_id"].tolist())):
        aud = out[str(store)]
        (aud.holdout if in_holdout(campaign_id, int(member_id), share) else aud.exposed).append(int(member_id))
    return out
