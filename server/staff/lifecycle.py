"""Lifecycle stage and RFM segment of one member, from SQL aggregates of their baskets.

The offers engine (`server.offers`) owns the chain-wide profiling; this is the member page's
small, documented stand-in so the page needs one indexed aggregate query, not a DataFrame
of the whole history. Rules (as of `now`):
  trial    first basket less than 90 days ago, or fewer than 4 baskets ever
  decline  no basket for 60 days, or the last 90 days fell below 70 % of the 90 before
           (visits or spend)
  growth   spend in the last 90 days above 115 % of the 90 before
  stable   otherwise
RFM scores are 1..5 by fixed grocery thresholds (recency days, baskets and spend over 365 days).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Purchase

STAGES = ("trial", "growth", "stable", "decline")
RECENCY_DAYS = (7, 14, 30, 60)          # <= these many days: 5, 4, 3, 2; else 1
FREQUENCY = (12, 26, 52, 104)           # baskets a year: >= 104 scores 5
MONETARY_MINOR = (25_000, 75_000, 150_000, 300_000)


@dataclass(frozen=True)
class MemberStats:
    """Aggregates of a member's baskets over the history window."""

    baskets: int
    spend_minor: int
    first_at: datetime | None
    last_at: datetime | None
    baskets_365: int
    spend_365: int
    baskets_recent: int     # last 90 days
    spend_recent: int
    baskets_before: int     # the 90 days before those
    spend_before: int


@dataclass(frozen=True)
class Profile:
    """Lifecycle stage, RFM scores and the segment they name."""

    stage: str
    segment: str
    recency: int
    frequency: int
    monetary: int
    days_since_last: int | None


def member_stats(session: Session, member_id: int, now: datetime, since: datetime) -> MemberStats:
    """One indexed aggregate over (member_id, purchased_at)."""
    d90, d180, d365 = now - timedelta(days=90), now - timedelta(days=180), now - timedelta(days=365)
    t, at = Purchase.total_minor, Purchase.purchased_at

    def in_window(lo: datetime, hi: datetime | None = None, value=None):  # type: ignore[no-untyped-def]
        cond = at >= lo if hi is None else (at >= lo) & (at < hi)
        return func.coalesce(func.sum(case((cond, value if value is not None else 1), else_=0)), 0)

    row = session.execute(
        select(func.count(), func.coalesce(func.sum(t), 0), func.min(at), func.max(at),
               in_window(d365), in_window(d365, value=t), in_window(d90), in_window(d90, value=t),
               in_window(d180, d90), in_window(d180, d90, value=t))
        .where(Purchase.member_id == member_id, at >= since)).one()
    return MemberStats(int(row[0]), int(row[1]), row[2], row[3], *(int(v) for v in row[4:]))


def _score(value: float, cuts: tuple[int, ...], higher_is_better: bool = True) -> int:
    if higher_is_better:
        return 1 + sum(value >= c for c in cuts)
    return 5 - sum(value > c for c in cuts)


def classify(stats: MemberStats, now: datetime) -> Profile:
    """Lifecycle stage and RFM segment by the rules in the module docstring."""
    if stats.last_at is None or stats.first_at is None:
        return Profile("trial", "New", 1, 1, 1, None)
    days = max(0, (now - stats.last_at).days)
    r = _score(days, RECENCY_DAYS, higher_is_better=False)
    f = _score(stats.baskets_365, FREQUENCY)
    m = _score(stats.spend_365, MONETARY_MINOR)
    if (now - stats.first_at).days < 90 or stats.baskets < 4:
        stage = "trial"
    elif days > 60 or (stats.baskets_before and stats.baskets_recent < 0.7 * stats.baskets_before) or \
            (stats.spend_before and stats.spend_recent < 0.7 * stats.spend_before):
        stage = "decline"
    elif stats.spend_recent > 1.15 * stats.spend_before:
        stage = "growth"
    else:
        stage = "stable"
    return Profile(stage, segment_name(r, f, m, stage), r, f, m, days)


def segment_name(r: int, f: int, m: int, stage: str) -> str:
    """A shop-floor name for an RFM cell."""
    if stage == "trial":
        return "New"
    if r >= 4 and f >= 4 and m >= 4:
        return "Champions"
    if r <= 2 and f >= 3:
        return "At risk"
    if f >= 4:
        return "Loyal regulars"
    if m >= 4:
        return "Big baskets"
    if r <= 2:
        return "Lapsing"
    return "Occasional"
