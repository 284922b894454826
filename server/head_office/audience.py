"""Who a campaign reaches: consenting members of its stores, filtered by tier, lifecycle
stage, value segment and response score, then split into exposed and hold-out.

Stage, segment and each member's score for the campaign (their chance of redeeming it) are
the offers engine's, from head office's offers run over the chain's lake (scoring.py: nightly,
or `shopgo offers-build` at head office); this module only applies the rule to them. The
hold-out split is a hash of campaign and member, so a member stays in the same group across
every version of a campaign.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import CampaignScore, Member, MemberProfile, Product
from server.head_office.definition import MAX_PRODUCTS, CampaignError
from server.offers.policy import holdout_fraction

Progress = Callable[[int, int, str], None]  # (steps done, steps in all, what comes next)


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


def member_profiles(session: Session) -> pd.DataFrame:
    """Per member (index) the lifecycle stage and value segment of the latest offers run."""
    rows = session.execute(select(MemberProfile.member_id, MemberProfile.lifecycle, MemberProfile.segment)).all()
    if not rows:
        raise CampaignError("no member profiles yet: stage and segment rules need head office's offers run "
                            "(nightly, or `shopgo offers-build` now)")
    return pd.DataFrame(rows, columns=["member_id", "lifecycle", "segment"]).set_index("member_id")


def campaign_scores(session: Session, campaign_id: int) -> pd.Series:
    """Per member (index) their score for the campaign from the latest offers run."""
    rows = session.execute(select(CampaignScore.member_id, CampaignScore.score)
                           .where(CampaignScore.campaign_id == campaign_id)).all()
    if not rows:
        raise CampaignError(f"campaign {campaign_id} has no scores yet: minimum-score and top-N rules need head "
                            "office's offers run after the campaign was created (nightly, or `shopgo offers-build` "
                            "now); then preview or publish again")
    return pd.Series({int(m): float(s) for m, s in rows}, name="score")


def select_audience(session: Session, campaign_id: int, definition: Mapping[str, Any],
                    as_of: datetime, progress: Progress | None = None) -> dict[str, StoreAudience]:
    """Per store, the members the rule targets, split into exposed and hold-out; `progress` hears each step."""
    target = definition["target"]
    wants_profile = bool(target["lifecycle"] or target["segments"])
    wants_score = target["min_propensity"] is not None or target["top_n"] is not None
    steps = [f"finding the consenting members of {len(definition['stores'])} store(s)"]
    steps += ["applying the lifecycle and segment rules"] if wants_profile else []
    steps += ["ranking members by their score for the campaign"] if wants_score else []
    steps += ["splitting the audience into exposed and hold-out"]
    done = iter(range(len(steps) + 1))

    def step() -> None:
        n = next(done)
        if progress is not None:
            progress(n, len(steps), steps[n] if n < len(steps) else "done")

    step()
    members = eligible_members(session, definition["stores"], target["tiers"])
    out = {s: StoreAudience() for s in definition["stores"]}
    if members.empty:
        if progress is not None:
            progress(len(steps), len(steps), "done")
        return out
    if wants_profile:
        step()
        profile = member_profiles(session)
        keep = pd.Series(True, index=members.index)
        if target["lifecycle"]:  # members without history have no stage and are left out
            keep &= members["member_id"].map(profile["lifecycle"]).isin(target["lifecycle"])
        if target["segments"]:
            keep &= members["member_id"].map(profile["segment"]).isin(target["segments"])
        members = members[keep]
    for store, count in members.groupby("store_id").size().items():
        out[str(store)].eligible = int(count)
    if wants_score:
        step()
    if wants_score and not members.empty:
        scores = campaign_scores(session, campaign_id)
        members = members.assign(score=members["member_id"].map(scores).fillna(0.0).astype("float64"))
        if target["min_propensity"] is not None:
            members = members[members["score"] >= target["min_propensity"]]
        if target["top_n"] is not None:
            members = members.sort_values(["score", "member_id"], ascending=[False, True]).head(target["top_n"])
    step()
    share = float(definition["holdout_share"])
    for member_id, store in sorted(zip(members["member_id"].tolist(), members["store_id"].tolist())):
        aud = out[str(store)]
        (aud.holdout if in_holdout(campaign_id, int(member_id), share) else aud.exposed).append(int(member_id))
    step()
    return out
