"""The rescan audit queue: trips picked for a rescan, what the log says they hold, and the
staff member's findings, recorded through `server.store.audits.record_outcome`."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from db.models import Audit, Member, Product, Trip, TripEvent, User
from server.auth.actors import Actor
from server.errors import ApiError
from server.params import is_digits, whole_number
from server.store.audits import record_outcome
from shop.basket import fold

MAX_FOUND = 999


@dataclass(frozen=True)
class QueuedAudit:
    """An audit waiting for a rescan."""

    audit: Audit
    member_name: str | None
    items: int


@dataclass(frozen=True)
class ExpectedLine:
    """What the trip's log says one line holds."""

    gtin: str
    name: str
    expected: int


def pending_audits(session: Session, store_id: str) -> list[QueuedAudit]:
    """Audits waiting in a store, oldest request first."""
    rows = session.execute(
        select(Audit, Member.name).outerjoin(Member, Member.id == Audit.member_id)
        .where(Audit.store_id == store_id, Audit.status == "pending")
        .order_by(Audit.requested_at).limit(200)).all()
    counts = dict(session.execute(
        select(TripEvent.trip_id, func.count()).where(TripEvent.trip_id.in_([a.trip_id for a, _ in rows]),
                                                     TripEvent.kind == "scan")
        .group_by(TripEvent.trip_id)).all()) if rows else {}
    return [QueuedAudit(a, name, int(counts.get(a.trip_id, 0))) for a, name in rows]


def get_audit(session: Session, audit_id: int) -> Audit:
    """The audit, or 404."""
    audit = session.get(Audit, audit_id) if 0 < audit_id < 2**31 else None
    if audit is None:
        raise ApiError(404, f"No audit {audit_id}.")
    return audit


def expected_lines(session: Session, trip_id: str) -> list[ExpectedLine]:
    """The trip's basket by GTIN (labels of one item summed), named, in shelf-walk order."""
    basket = fold(session.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id)))
    qty: dict[str, int] = {}
    for line in reversed(basket.lines):  # oldest first: the order the shopper walked
        qty[line.gtin] = qty.get(line.gtin, 0) + line.quantity
    names = dict(session.execute(select(Product.gtin, Product.name).where(Product.gtin.in_(list(qty)))).all()) \
        if qty else {}
    return [ExpectedLine(g, names.get(g, f"Unknown item {g}"), n) for g, n in qty.items()]


def parse_findings(form: Mapping[str, Any], expected: list[ExpectedLine]) -> list[dict[str, Any]]:
    """Findings from the rescan form: one `found_<gtin>` count per expected line, plus extras."""
    findings: list[dict[str, Any]] = []
    for line in expected:
        raw = str(form.get(f"found_{line.gtin}", "")).strip()
        findings.append({"gtin": line.gtin, "expected": line.expected, "found": _count(raw, line.name)})
    extra_gtin = str(form.get("extra_gtin", "")).strip()
    if extra_gtin:
        if not is_digits(extra_gtin, low_len=8, high_len=14):
            raise ApiError(400, f"Extra item barcode {extra_gtin!r} should be 8 to 14 digits.")
        if any(f["gtin"] == extra_gtin for f in findings):
            raise ApiError(400, f"{extra_gtin} is already a line above; count it there.")
        findings.append({"gtin": extra_gtin, "expected": 0,
                         "found": _count(str(form.get("extra_found", "1")).strip(), "the extra item")})
    return findings


def _count(raw: str, what: str) -> int:
    return whole_number(raw, f"Found count for {what}", low=0, high=MAX_FOUND)


def record_findings(session: Session, audit_id: int, findings: list[dict[str, Any]], user: User) -> Audit:
    """Record a rescan's findings; the audits service decides pass/mismatch and the future rate."""
    audit = get_audit(session, audit_id)
    if audit.status != "pending":
        raise ApiError(409, f"Audit {audit_id} was already recorded ({audit.status}).")
    return record_outcome(session, audit_id, findings, Actor(audit.store_id, staff_user_id=user.id))


def mismatch_rate(session: Session, store_id: str, now: datetime, days: int = 30) -> tuple[int, int]:
    """(mismatched, completed) audits in a store over the last `days` days."""
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Audit.status == "mismatch", 1), else_=0)), 0))
        .where(Audit.store_id == store_id, Audit.status != "pending",
               Audit.completed_at >= now - timedelta(days=days))).one()
    return int(row[1]), int(row[0])


def trip_of(session: Session, audit: Audit) -> Trip:
    """The audited trip."""
    trip = session.get(Trip, audit.trip_id)
    if trip is None:  # the foreign key makes this impossible; say so plainly if it ever happens
        raise ApiError(404, f"Trip {audit.trip_id} of audit {audit.id} is gone.")
    return trip
