"""Loyalty: tiers by rolling 12-month spend, points expiry, and a member's export and erasure.

Every function takes a session and leaves committing to the caller, so the staff console,
the JSON API, the scheduler and the tests share one code path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import (
    Audit,
    DataRequest,
    Feedback,
    Member,
    Offer,
    OfferRedemption,
    PointsEntry,
    Purchase,
    PurchaseLine,
    Trip,
    TripEvent,
)
from server.store import outbox

DEFAULT_TIERS: dict[str, int] = {"bronze": 0, "silver": 50000, "gold": 150000}
# Receipt keys that name the shopper; an erasure removes them from stored receipts.
PERSONAL_RECEIPT_KEYS = ("member", "member_id", "card_number", "member_name", "name", "email")


class LoyaltyError(ValueError):
    """A loyalty request that cannot be done; `status` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TierReport:
    """What a tier recompute did."""

    members: int
    changed: int
    by_tier: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExpiryReport:
    """What a points-expiry run did."""

    members: int
    points_expired: int


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass a UTC-aware time")


def year_before(now: datetime) -> datetime:
    """The same moment twelve calendar months earlier (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - 1)
    except ValueError:
        return now.replace(year=now.year - 1, day=28)


def tier_for(spend_minor: int, tiers: Mapping[str, int]) -> str:
    """The highest tier whose minimum spend `spend_minor` reaches (the lowest tier otherwise)."""
    ordered = sorted(tiers.items(), key=lambda kv: kv[1])
    best = ordered[0][0]
    for name, floor in ordered:
        if spend_minor >= floor:
            best = name
    return best


def rolling_spend(session: Session, now: datetime) -> dict[int, int]:
    """Each member's spend over the twelve months up to `now`, in minor units."""
    _check_aware(now)
    rows = session.execute(
        select(Purchase.member_id, func.sum(Purchase.total_minor))
        .where(Purchase.member_id.is_not(None), Purchase.purchased_at > year_before(now),
               Purchase.purchased_at <= now)
        .group_by(Purchase.member_id))
    return {int(mid): int(total or 0) for mid, total in rows}


def recompute_tiers(session: Session, now: datetime, tiers: Mapping[str, int] = DEFAULT_TIERS) -> TierReport:
    """Set every (not erased) member's tier from their rolling 12-month spend."""
    if not tiers:
        raise ValueError("tiers must name at least one tier")
    spend = rolling_spend(session, now)
    changed = 0
    by_tier: dict[str, int] = {name: 0 for name in tiers}
    members = session.scalars(select(Member).where(Member.erased_at.is_(None))).all()
    for member in members:
        tier = tier_for(spend.get(member.id, 0), tiers)
        by_tier[tier] += 1
        if member.tier != tier:
            member.tier = tier
            outbox.record_member(session, member)
            changed += 1
    session.flush()
    return TierReport(members=len(members), changed=changed, by_tier=by_tier)


def expire_points(session: Session, now: datetime) -> ExpiryReport:
    """Deduct points whose ledger entries expired by `now`; running it again deducts nothing more.

    Spending uses the oldest points first, so a member's balance may never exceed the points
    earned that are still unexpired: whatever the ledger balance holds above that sum has
    expired. Writing one "expiry" entry for the excess makes the rule idempotent without
    marking entries. Points held outside the ledger (the import's opening balances) never expire.
    """
    _check_aware(now)
    balance = dict(session.execute(
        select(PointsEntry.member_id, func.sum(PointsEntry.points)).group_by(PointsEntry.member_id)).all())
    alive = dict(session.execute(
        select(PointsEntry.member_id, func.sum(PointsEntry.points))
        .where(PointsEntry.points > 0, or_(PointsEntry.expires_at.is_(None), PointsEntry.expires_at > now))
        .group_by(PointsEntry.member_id)).all())
    members = 0
    total = 0
    for member_id, held in balance.items():
        excess = int(held or 0) - int(alive.get(member_id) or 0)
        if excess <= 0:
            continue
        session.add(PointsEntry(member_id=member_id, points=-excess, reason="expiry", earned_at=now,
                                expires_at=None))
        member = session.get(Member, member_id)
        if member is not None:
            member.points = max(0, member.points - excess)
        members += 1
        total += excess
    session.flush()
    return ExpiryReport(members=members, points_expired=total)


@dataclass(frozen=True)
class PointsRow:
    """One entry of a member's points ledger, with the balance right after it."""

    at: datetime
    points: int
    reason: str  # purchase, redeemed, expiry, ...
    trip_id: str | None
    expires_at: datetime | None
    balance: int


def points_history(session: Session, member_id: int, limit: int = 50) -> list[PointsRow]:
    """The member's latest points entries, newest first, each with the balance after it (worked back
    from today's balance, so an opening balance from the import shows as the oldest balance)."""
    member = session.get(Member, member_id)
    balance = member.points if member is not None else 0
    rows = []
    for entry in session.scalars(select(PointsEntry).where(PointsEntry.member_id == member_id)
                                 .order_by(PointsEntry.earned_at.desc(), PointsEntry.id.desc()).limit(limit)):
        rows.append(PointsRow(entry.earned_at, entry.points, entry.reason, entry.trip_id, entry.expires_at, balance))
        balance -= entry.points
    return rows


def get_member(session: Session, member_id: int) -> Member:
    """The member with this id, or a 404 LoyaltyError."""
    member = session.get(Member, member_id)
    if member is None:
        raise LoyaltyError(404, f"no member with id {member_id}")
    return member


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A model row as plain JSON values (times as ISO 8601 strings)."""
    out: dict[str, Any] = {}
    for col in obj.__table__.columns:
        if col.key in skip:
            continue
        value = getattr(obj, col.key)
        out[col.key] = _iso(value) if isinstance(value, datetime) else value
    return out


def export_member(session: Session, member_id: int, actor: str) -> dict[str, Any]:
    """Everything held about a member as JSON-ready data; the request is recorded."""
    member = get_member(session, member_id)
    purchases = session.scalars(select(Purchase).where(Purchase.member_id == member_id)
                                .order_by(Purchase.purchased_at, Purchase.id)).all()
    lines: dict[int, list[dict[str, Any]]] = {}
    if purchases:
        for line in session.scalars(select(PurchaseLine).where(PurchaseLine.member_id == member_id)
                                    .order_by(PurchaseLine.purchased_at, PurchaseLine.id)):
            lines.setdefault(line.purchase_id, []).append(_row(line, skip=("member_id",)))
    trips = session.scalars(select(Trip).where(Trip.member_id == member_id).order_by(Trip.started_at)).all()
    events: dict[str, list[dict[str, Any]]] = {}
    if trips:
        for ev in session.scalars(select(TripEvent).join(Trip, Trip.id == TripEvent.trip_id)
                                  .where(Trip.member_id == member_id).order_by(TripEvent.trip_id, TripEvent.seq)):
            events.setdefault(ev.trip_id, []).append(_row(ev))

    def rows(model: Any, order: Any) -> list[dict[str, Any]]:
        return [_row(r) for r in session.scalars(select(model).where(model.member_id == member_id).order_by(order))]

    session.add(DataRequest(member_id=member_id, kind="export", actor=actor))
    session.flush()
    return {
        "member_id": member.id,
        "profile": {"card_number": member.card_number, "name": member.name, "email": member.email,
                    "store_id": member.store_id, "tier": member.tier, "points": member.points,
                    "joined_at": _iso(member.joined_at), "erased_at": _iso(member.erased_at)},
        "consent": {"personalisation": member.consent_personalisation},
        "points_ledger": rows(PointsEntry, PointsEntry.earned_at),
        "purchases": [{**_row(p), "lines": lines.get(p.id, [])} for p in purchases],
        "trips": [{**_row(t), "events": events.get(t.id, [])} for t in trips],
        "offers": rows(Offer, Offer.valid_from),
        "redemptions": rows(OfferRedemption, OfferRedemption.redeemed_at),
        "audits": rows(Audit, Audit.requested_at),
        "feedback": rows(Feedback, Feedback.created_at),
        "data_requests": rows(DataRequest, DataRequest.at),
    }


def erased_card_number(member_id: int) -> str:
    """A card number no scanner can produce (cards are digits), unique per member."""
    return f"X{member_id:013d}"


def erase_member(session: Session, member_id: int, actor: str, now: datetime | None = None,
                 record: bool = True) -> dict[str, int]:
    """Remove a member's personal data and anonymise their history; the request is recorded, and
    head office told through the outbox (`record`=False: the erasure came from head office)."""
    member = get_member(session, member_id)
    if member.erased_at is not None:
        raise LoyaltyError(409, f"member {member_id} was already erased at {member.erased_at.isoformat()}")
    now = now or utcnow()
    counts: dict[str, int] = {}
    # Redemptions name the member (not nullable) and pin offers; they go before the offers.
    counts["redemptions_deleted"] = session.execute(
        delete(OfferRedemption).where(OfferRedemption.member_id == member_id)).rowcount or 0
    counts["offers_deleted"] = session.execute(delete(Offer).where(Offer.member_id == member_id)).rowcount or 0
    counts["points_entries_deleted"] = session.execute(
        delete(PointsEntry).where(PointsEntry.member_id == member_id)).rowcount or 0
    counts["purchase_lines_anonymised"] = session.execute(
        update(PurchaseLine).where(PurchaseLine.member_id == member_id).values(member_id=None)).rowcount or 0
    counts["purchases_anonymised"] = session.execute(
        update(Purchase).where(Purchase.member_id == member_id).values(member_id=None)).rowcount or 0
    for trip in session.scalars(select(Trip).where(Trip.member_id == member_id)):
        if isinstance(trip.receipt, dict) and any(k in trip.receipt for k in PERSONAL_RECEIPT_KEYS):
            trip.receipt = {k: v for k, v in trip.receipt.items() if k not in PERSONAL_RECEIPT_KEYS}
    session.flush()
    counts["trips_anonymised"] = session.execute(
        update(Trip).where(Trip.member_id == member_id).values(member_id=None)).rowcount or 0
    counts["audits_anonymised"] = session.execute(
        update(Audit).where(Audit.member_id == member_id).values(member_id=None)).rowcount or 0
    counts["feedback_anonymised"] = session.execute(
        update(Feedback).where(Feedback.member_id == member_id).values(member_id=None)).rowcount or 0
    member.name = None
    member.email = None
    member.card_number = erased_card_number(member_id)
    member.consent_personalisation = False
    member.points = 0
    member.erased_at = now
    session.add(DataRequest(member_id=member_id, kind="erase", actor=actor, at=now))
    if record:
        outbox.record_erasure(session, member_id, now)
    session.flush()
    return counts
