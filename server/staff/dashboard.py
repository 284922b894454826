"""The store dashboard: the day's trips, sales and baskets by hour, self-scan share, average
basket, audits done and failed, help calls, feedback, offer redemptions; each beside the same
weekday a week earlier. "Today" is the store's calendar day, stored times are UTC."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Audit, Feedback, OfferRedemption, Purchase, Trip, TripEvent
from server.staff.audit_queue import mismatch_rate


@dataclass(frozen=True)
class Hour:
    """One local hour of a day: trips started, baskets paid and what they took."""

    hour: int
    trips: int = 0
    baskets: int = 0
    sales_minor: int = 0


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
    hours: tuple[Hour, ...] = ()  # 24 local hours of the day
    audits_done: int = 0  # recorded that day
    audits_failed: int = 0
    help_calls: int = 0
    feedback_new: int = 0
    last_week: Dashboard | None = None  # the same weekday a week before

    @property
    def sales_minor(self) -> int:
        """What the day's baskets took."""
        return sum(h.sales_minor for h in self.hours)

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


def hours_of(session: Session, store_id: str, lo: datetime, hi: datetime, zone: str) -> tuple[Hour, ...]:
    """Trips started and baskets paid per local hour between `lo` and `hi` (one day)."""
    tz = ZoneInfo(zone)
    trips = [0] * 24
    baskets = [0] * 24
    sales = [0] * 24
    for (started,) in session.execute(select(Trip.started_at).where(
            Trip.store_id == store_id, Trip.started_at >= lo, Trip.started_at < hi)):
        trips[_local(started, tz).hour] += 1
    for at, total in session.execute(select(Purchase.purchased_at, Purchase.total_minor).where(
            Purchase.store_id == store_id, Purchase.purchased_at >= lo, Purchase.purchased_at < hi)):
        h = _local(at, tz).hour
        baskets[h] += 1
        sales[h] += int(total or 0)
    return tuple(Hour(h, trips[h], baskets[h], sales[h]) for h in range(24))


def _local(when: datetime, tz: ZoneInfo) -> datetime:
    return (when if when.tzinfo else when.replace(tzinfo=ZoneInfo("UTC"))).astimezone(tz)


def store_dashboard(session: Session, store_id: str, day: date, zone: str, now: datetime,
                    compare: bool = True) -> Dashboard:
    """Every dashboard figure for `store_id` on the store-local `day` (and, with `compare`, the same
    weekday a week before)."""
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
    done = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Audit.status == "mismatch", 1), else_=0)), 0))
        .where(Audit.store_id == store_id, Audit.completed_at >= lo, Audit.completed_at < hi)).one()
    helps = session.scalar(select(func.count()).select_from(TripEvent).join(Trip, Trip.id == TripEvent.trip_id)
                           .where(Trip.store_id == store_id, TripEvent.kind == "help",
                                  TripEvent.received_at >= lo, TripEvent.received_at < hi)) or 0
    fb_new = session.scalar(select(func.count()).select_from(Feedback).where(
        Feedback.store_id == store_id, Feedback.created_at >= lo, Feedback.created_at < hi)) or 0
    week_ago = day - timedelta(days=7) if day.toordinal() > 8 else None  # the calendar's first week has none
    before = store_dashboard(session, store_id, week_ago, zone, now, compare=False) if compare and week_ago else None
    return Dashboard(day, int(trips), int(live), int(p[0]), int(p[1]),
                     round(float(p[2])) if p[2] is not None else None, mismatched, audited, int(pending),
                     int(r[0]), int(r[1]), int(fb), hours_of(session, store_id, lo, hi, zone), int(done[0]),
                     int(done[1]), int(helps), int(fb_new), before)
