"""Results at head office: idempotent batches from stores, and the lift report per campaign and store.

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
from datetime import datetime
from typing import Any, Mapping, Sequence

from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Campaign, CampaignAudience, CampaignResult, Pack, ResultBatch, StoreLink
from server.head_office.definition import CampaignError, body_number

CONFIDENCE = 0.95
MAX_ROWS = 100_000  # per batch; a store's batch is bounded by its redemptions per round and one window of purchases


class CampaignForbidden(CampaignError):
    """A store reported results for a campaign head office never sent it (answered 403)."""


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


def ingest_results(session: Session, link: StoreLink, batch_id: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store a batch once; a batch id seen before is acknowledged and changes nothing.

    Every row must be well formed (amounts and counts whole numbers from 0) and name a
    campaign head office sent this store a pack for; otherwise the whole batch is refused
    (CampaignError, or CampaignForbidden for another store's campaign) before anything is written.
    """
    if session.get(ResultBatch, batch_id) is not None:
        return {"batch_id": batch_id, "duplicate": True, "stored": 0}
    if len(rows) > MAX_ROWS:
        raise CampaignError(f"a batch holds at most {MAX_ROWS} rows, not {len(rows)}")
    checked = [_check_row(i, r) for i, r in enumerate(rows)]
    named = {r["campaign_id"] for r in checked}
    sent = set(session.scalars(select(Pack.campaign_id).distinct()
                               .where(Pack.store_id == link.store_id, Pack.campaign_id.in_(named)))) if named else set()
    foreign = sorted(named - sent)
    if foreign:  # unknown, or another store's: the same answer, so a store learns nothing of others' campaigns
        raise CampaignForbidden(f"rows name campaign(s) {', '.join(map(str, foreign[:10]))} that head office never "
                                f"sent to store {link.store_id}; nothing stored")
    held = set(session.execute(select(CampaignResult.kind, CampaignResult.ref, CampaignResult.campaign_id)
                               .where(CampaignResult.store_id == link.store_id,
                                      CampaignResult.ref.in_({r["ref"] for r in checked})))) if checked else set()
    session.add(ResultBatch(id=batch_id, store_id=link.store_id, rows=len(checked), received_at=utcnow()))
    session.flush()
    fresh = []
    for r in checked:
        key = (r["kind"], r["ref"], r["campaign_id"])
        if key not in held:  # the same purchase sent again in another batch still counts once
            held.add(key)
            fresh.append(CampaignResult(batch_id=batch_id, store_id=link.store_id, **r))
    session.add_all(fresh)
    link.last_contact_at = utcnow()
    session.flush()
    return {"batch_id": batch_id, "duplicate": False, "stored": len(fresh)}


def _check_row(i: int, r: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(r, Mapping):
        raise CampaignError(f"rows[{i}] must be an object")
    if r.get("kind") not in ("purchase", "redemption") or not isinstance(r.get("ref"), str) or not r["ref"]:
        raise CampaignError(f"rows[{i}] needs kind 'purchase' or 'redemption' and a ref")
    if len(r["ref"]) > 64:
        raise CampaignError(f"rows[{i}].ref must be at most 64 characters")
    at = r.get("at")
    try:
        moment = datetime.fromisoformat(at) if isinstance(at, str) and len(at) <= 40 else None
    except ValueError:
        moment = None
    if moment is None:
        raise CampaignError(f"rows[{i}].at must be an ISO 8601 time")
    if moment.tzinfo is None:
        raise CampaignError(f"rows[{i}].at must carry a UTC offset")

    def whole(name: str, low: int = 0) -> int:
        return body_number(r.get(name, 0), f"rows[{i}].{name}", low=low)

    return {"campaign_id": whole("campaign_id", 1), "member_id": body_number(r.get("member_id"), f"rows[{i}].member_id", low=1),
            "kind": r["kind"], "ref": r["ref"], "spend_minor": whole("spend_minor"),
            "discount_minor": whole("discount_minor"), "points": whole("points"), "at": moment}


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
    budget = campaign.definition.get("budget", {"kind": "redemptions", "amount": 0})
    used = overall.redemptions if budget["kind"] == "redemptions" else overall.discount_minor
    return {"campaign_id": campaign.id, "name": campaign.name, "status": campaign.status, "version": campaign.version,
            "window": [campaign.definition.get("valid_from"), campaign.definition.get("valid_to")],
            "budget": {"kind": budget["kind"], "amount": budget["amount"], "used": used,
                       "exhausted": bool(budget["amount"]) and used >= budget["amount"]},
            "stores": [x.as_json() for x in lines], "overall": overall.as_json(), "confidence": CONFIDENCE,
            "method": "mean spend per member on the campaign's products in its window, exposed minus hold-out, "
                      "with Welch's t interval"}
