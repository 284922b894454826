"""Results at head office: the lift report per campaign and store, from the results the feed derives.

Lift is the difference in mean spend on the campaign's products inside its window, per
audience member, between the exposed group and the hold-out group (members without a
purchase count as zero spend). The 95% confidence interval is Welch's t interval: it does
not assume the two groups have equal variances, and the t quantile uses the
Welch-Satterthwaite degrees of freedom. With fewer than two members in either group
there is no interval. Money stays in integer minor units; means and the interval are
reported in minor units as decimals because they are statistics, not prices.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from scipy import stats
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignAudience, CampaignResult
from server.head_office.definition import CampaignError

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Lift:
    """Exposed minus hold-out mean spend, with Welch's interval (None when not computable)."""

    exposed_mean: float
    holdout_mean: float
    lift: float
    low: float | None
    high: float | None
    relative: float | None  # lift / hold-out mean


def welch_lift(exposed: Sequence[float], holdout: Sequence[float], confidence: float = CONFIDENCE) -> Lift:
    """Difference of means with Welch's t confidence interval."""
    n1, n2 = len(exposed), len(holdout)
    m1 = sum(exposed) / n1 if n1 else 0.0
    m2 = sum(holdout) / n2 if n2 else 0.0
    diff = m1 - m2
    low = high = None
    if n1 >= 2 and n2 >= 2:
        v1 = sum((x - m1) ** 2 for x in exposed) / (n1 - 1)
        v2 = sum((x - m2) ** 2 for x in holdout) / (n2 - 1)
        a, b = v1 / n1, v2 / n2
        se = math.sqrt(a + b)
        if se == 0:
            low = high = diff
        else:
            df = (a + b) ** 2 / (a ** 2 / (n1 - 1) + b ** 2 / (n2 - 1))
            half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
            low, high = diff - half, diff + half
    return Lift(m1, m2, diff, low, high, diff / m2 if m2 else None)


@dataclass(frozen=True)
class StoreResult:
    """One line of the report: a store, or "ALL" for the campaign across its stores."""

    store_id: str
    exposed: int
    holdout: int
    redemptions: int
    discount_minor: int
    points: int
    buyers_exposed: int
    buyers_holdout: int
    lift: Lift

    def as_json(self) -> dict[str, Any]:
        """For the JSON API and the console."""
        return asdict(self)


def _line(store: str, audience: Mapping[int, str], results: Sequence[CampaignResult]) -> StoreResult:
    spend: dict[int, int] = {}
    reds = [r for r in results if r.kind == "redemption"]
    for r in results:
        if r.kind == "purchase" and r.member_id in audience:
            spend[r.member_id] = spend.get(r.member_id, 0) + r.spend_minor
    groups: dict[str, list[float]] = {"exposed": [], "holdout": []}
    for member, grp in audience.items():
        groups[grp].append(float(spend.get(member, 0)))
    buyers = {g: sum(1 for m, gg in audience.items() if gg == g and spend.get(m, 0) > 0) for g in groups}
    return StoreResult(store, len(groups["exposed"]), len(groups["holdout"]), len(reds),
                       sum(r.discount_minor for r in reds), sum(r.points for r in reds),
                       buyers["exposed"], buyers["holdout"], welch_lift(groups["exposed"], groups["holdout"]))


def campaign_report(session: Session, campaign_id: int) -> dict[str, Any]:
    """Audience, redemptions, budget used and lift with its interval, per store and overall."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"no campaign {campaign_id}")
    audience: dict[str, dict[int, str]] = {}
    for store, member, grp in session.execute(select(CampaignAudience.store_id, CampaignAudience.member_id,
                                                     CampaignAudience.grp)
                                              .where(CampaignAudience.campaign_id == campaign_id)):
        audience.setdefault(store, {})[member] = grp
    results = list(session.scalars(select(CampaignResult).where(CampaignResult.campaign_id == campaign_id)))
    lines = [_line(s, audience[s], [r for r in results if r.store_id == s]) for s in sorted(audience)]
    everyone = {m: g for members in audience.values() for m, g in members.items()}
    overall = _line("ALL", everyone, results)
    return {"campaign_id": campaign.id, "name": campaign.name, "status": campaign.status, "version": campaign.version,
            "window": [campaign.definition.get("valid_from"), campaign.definition.get("valid_to")],
            "budget": budget_used(campaign.definition, overall.redemptions, overall.discount_minor),
            "stores": [x.as_json() for x in lines], "overall": overall.as_json(), "confidence": CONFIDENCE,
            "method": "mean spend per member on the campaign's products in its window, exposed minus hold-out, "
                      "with Welch's t interval"}


def campaign_summaries(session: Session) -> dict[int, dict[str, Any]]:
    """Per campaign at a glance (for the list): members reached and held out, redemptions, discount and
    the share of its budget used. Campaigns never published have no entry."""
    out: dict[int, dict[str, Any]] = {}
    for cid, grp, count in session.execute(select(CampaignAudience.campaign_id, CampaignAudience.grp, func.count())
                                           .group_by(CampaignAudience.campaign_id, CampaignAudience.grp)):
        out.setdefault(cid, {"exposed": 0, "holdout": 0, "redemptions": 0, "discount_minor": 0})[grp] = int(count)
    for cid, count, discount in session.execute(
            select(CampaignResult.campaign_id, func.count(), func.coalesce(func.sum(CampaignResult.discount_minor), 0))
            .where(CampaignResult.kind == "redemption").group_by(CampaignResult.campaign_id)):
        line = out.setdefault(cid, {"exposed": 0, "holdout": 0, "redemptions": 0, "discount_minor": 0})
        line.update(redemptions=int(count), discount_minor=int(discount))
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(out))):
        line = out[campaign.id]
        line["budget"] = budget_used(campaign.definition, line["redemptions"], line["discount_minor"])
    return out


def budget_used(definition: Mapping[str, Any], redemptions: int, discount_minor: int) -> dict[str, Any]:
    """The campaign's budget (redemptions or discount money; amount 0 = no limit), what is used and the share."""
    budget = definition.get("budget", {"kind": "redemptions", "amount": 0})
    used = redemptions if budget["kind"] == "redemptions" else discount_minor
    amount = budget["amount"]
    return {"kind": budget["kind"], "amount": amount, "used": used, "exhausted": bool(amount) and used >= amount,
            "share": min(1.0, used / amount) if amount else None}
