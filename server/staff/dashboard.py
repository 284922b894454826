"""The store dashboard: today's trips, self-scan share, average basket, audit mismatch rate,
offer redemptions. "Today" is the store's calendar day, stored times are UTC."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Audit, Feedback, OfferRedemption, Purchase, Trip
from server.staff.audit_queue import mismatch_rate


@dataclass(frozen=True)
class Dashboard:
    """The figures on the dashboard for one store and day."""

    day: date
    trips: int
    trips_live: int
    purchases: int
    selfscan_purchases: int
    average_basket_minor: int | None
    mismatched: int
    audited: int
    audits_pending: int
    redemptions: int
    redemption_discount_minor: int
    feedback_open: int

    @property
    def selfscan_share(self) -> float | None:
        """Self-scanned purchases over all purchases of the day."""
        return self.selfscan_purchases / self.purchases if self.purchases else None

    @property
    def mismatch_rate(self) -> float | None:
        """Mismatched audits over completed audits (last 30 days)."""
        return self.mismatched / self.audited if self.audited else None


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The UTC start and end of a store-local calendar day."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def store_dashboard(session: Session, store_id: str, day: date, zone: str, now: datetime) -> Dashboard:
    """Every dashboard figure for `store_id` on the store-local `day`."""
    lo, hi = day_bounds(day, zone)
    trips = session.scalar(select(func.count()).select_from(Trip)
                           .where(Trip.store_id == store_id, Trip.started_at >= lo, Trip.started_at < hi)) or 0
    live = session.scalar(select(func.count()).select_from(Trip)
                          .where(Trip.store_id == store_id, Trip.status.in_(("active", "finished")))) or 0
    p = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Purchase.source == "selfscan", 1), else_=0)), 0),
               func.avg(Purchase.total_minor))
        .where(Purchase.store_id == store_id, Purchase.purchased_at >= lo, Purchase.purchased_at < hi)).one()
    mismatched, audited = mismatch_rate(session, store_id, now)
    pending = session.scalar(select(func.count()).select_from(Audit)
                             .where(Audit.store_id == store_id, Audit.status == "pending")) or 0
    r = session.execute(
        select(func.count(), func.coalesce(func.sum(OfferRedemption.discount_minor), 0))
        .join(Trip, Trip.id == OfferRedemption.trip_id)
        .where(Trip.store_id == store_id, OfferRedemption.redeemed_at >= lo, OfferRedemption.redeemed_at < hi)).one()
    fb = session.scalar(select(func.count()).select_from(Feedback)
                        .where(Feedback.store_id == store_id, Feedback.status != "resolved")) or 0
    return Dashboard(day, int(trips), int(live), int(p[0]), int(p[1]),
                     round(float(p[2])) if p[2] is not None else None, mismatched, audited, int(pending),
                     int(r[0]), int(r[1]), int(fb))
