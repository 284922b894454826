"""Rescan audits: which finished trips staff recount, and what they found.

The rule ([audit] in config.toml): a member's first self-scan trip is always audited.
Otherwise the chance is `base_probability`, plus `mismatch_weight` per earlier audit of
the member that found a mismatch, `weighed_item_weight` per weighed item, `removal_weight`
per removal, and `high_value_weight` when the server's total is above `high_value_minor`,
never above `max_probability`. The draw is seeded from the trip id, so the same trip
always gets the same decision (a retried finish, a test, an appeal). What the rescan finds
corrects the bill (`record_outcome`).
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, Product, Trip
from server.auth.actors import Actor
from server.config import SCHEMA
from server.errors import ApiError
from server.store.priced_trip import price_trip
from server.store.schemas import AUDIT_OUTCOME, validate
from server.store.server_events import add_server_event
from server.store.trips import trip_events
from shop.basket import BasketLine, fold


def _section(cfg: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The [audit] settings from a whole config, the section itself, the app, or the defaults."""
    if cfg is None and has_app_context():
        cfg = current_app.config["SHOPGO"]
    if cfg is None:
        return {k: key.default for k, key in SCHEMA["audit"].items()}
    return cfg["audit"] if "audit" in cfg else cfg


def mismatches(session: Session, member_id: int) -> int:
    """How many of a member's audits found a mismatch."""
    return int(session.scalar(select(func.count()).select_from(Audit).where(
        Audit.member_id == member_id, Audit.status == "mismatch")) or 0)


def audit_rate(session: Session, member_id: int, cfg: Mapping[str, Any] | None = None) -> float:
    """A member's audit chance before trip-specific risk: base plus earlier mismatches, capped."""
    a = _section(cfg)
    rate = float(a["base_probability"]) + float(a["mismatch_weight"]) * mismatches(session, member_id)
    return min(float(a["max_probability"]), rate)


def _first_trip(session: Session, trip: Trip) -> bool:
    earlier = session.scalar(select(func.count()).select_from(Trip).where(
        Trip.member_id == trip.member_id, Trip.id != trip.id, Trip.status.in_(("finished", "checked_out"))))
    return not earlier


def decide_audit(session: Session, trip: Trip, cfg: Mapping[str, Any]) -> tuple[bool, str, float]:
    """Whether to audit a finished trip: (selected, reason, probability)."""
    a = _section(cfg)
    if trip.member_id is not None and a["first_trip"] and _first_trip(session, trip):
        return True, "first self-scan trip of this member", 1.0
    priced = price_trip(session, trip, cfg if "audit" in cfg else {}, trip.finished_at)
    weighed = sum(1 for line in priced.summary.lines if line.weight_g is not None)
    earlier = mismatches(session, trip.member_id) if trip.member_id is not None else 0
    high = priced.basket.total_minor > int(a["high_value_minor"])
    p = (float(a["base_probability"]) + float(a["mismatch_weight"]) * earlier
         + float(a["weighed_item_weight"]) * weighed + float(a["removal_weight"]) * priced.summary.removals
         + (float(a["high_value_weight"]) if high else 0.0))
    p = round(min(float(a["max_probability"]), p), 4)
    risks = [f"{n} {what}" for n, what in ((earlier, "earlier mismatches"), (weighed, "weighed items"),
                                            (priced.summary.removals, "removals")) if n]
    if high:
        risks.append("high value")
    why = f"p={p:.2f}" + (f": {', '.join(risks)}" if risks else "")
    if random.Random(trip.id).random() < p:
        return True, f"random draw at {why}", p
    return False, f"not selected ({why})", p


def open_audit(session: Session, trip: Trip, reason: str, probability: float) -> Audit:
    """Create the pending audit of a trip and flag the trip."""
    audit = Audit(trip_id=trip.id, member_id=trip.member_id, store_id=trip.store_id, reason=reason[:120],
                  probability=probability, status="pending", requested_at=utcnow(), mismatch_count=0)
    session.add(audit)
    trip.audit_required = True
    session.flush()
    return audit


def audit_of(session: Session, trip_id: str) -> Audit | None:
    """The audit of a trip, if it was selected."""
    return session.scalar(select(Audit).where(Audit.trip_id == trip_id))


def record_outcome(session: Session, audit_id: int, findings: Sequence[Mapping[str, Any]], actor: Actor) -> Audit:
    """Record what a rescan found (by a till or staff of the audit's store) and correct the bill to it.

    Each finding counts one GTIN; what it is compared with is the server's own log of the trip,
    not the request's `expected`. Any count that differs makes the audit a mismatch (raising the
    member's future rate) and becomes events of the store's own in the trip's log, so the
    checkout bills what was found: a unit item found more often is added, one found less often
    is taken off (weighed labels newest first). A weighed item found but not scanned, or an item
    the catalogue does not hold, cannot be priced here: the finding says so (`not_billed`).
    """
    audit = session.get(Audit, audit_id, with_for_update=True)
    if audit is None:
        raise ApiError(404, f"no audit {audit_id}")
    actor.require_store(audit.store_id, f"audit {audit_id}")
    if audit.status != "pending":
        raise ApiError(409, f"audit {audit_id} was already recorded ({audit.status})")
    validate({"findings": list(findings)}, AUDIT_OUTCOME)
    trip = session.get(Trip, audit.trip_id)
    assert trip is not None  # the foreign key
    lines = fold(trip_events(session, trip.id)).lines
    held: dict[str, list[BasketLine]] = {}
    for line in lines:  # newest first
        held.setdefault(line.gtin, []).append(line)
    found_by_gtin: dict[str, int] = {}
    for f in findings:
        found_by_gtin[str(f["gtin"])] = int(f["found"])  # a GTIN counted twice: the last count holds
    products = {p.gtin: p for p in session.scalars(select(Product).where(Product.gtin.in_(sorted(found_by_gtin))))}
    clean = []
    for gtin, found in found_by_gtin.items():
        expected = sum(line.quantity for line in held.get(gtin, []))
        finding: dict[str, Any] = {"gtin": gtin, "expected": expected, "found": found}
        if found != expected:
            note = _correct(session, trip, audit.id, products.get(gtin), held.get(gtin, []), gtin, found - expected)
            if note:
                finding["not_billed"] = note
        clean.append(finding)
    audit.findings = clean  # type: ignore[assignment]  # a JSON list, as the model comment shows
    audit.mismatch_count = sum(1 for f in clean if f["found"] != f["expected"])
    audit.status = "mismatch" if audit.mismatch_count else "passed"
    audit.completed_at = utcnow()
    audit.staff_user_id, audit.till_device_id = actor.staff_user_id, actor.till_device_id
    session.flush()
    return audit


def _correct(session: Session, trip: Trip, audit_id: int, product: Product | None, lines: list[BasketLine],
             gtin: str, delta: int) -> str | None:
    """Events that make the trip's log hold `delta` more (or fewer) of `gtin`; why not, when it cannot."""
    by = {"by": "audit", "audit_id": audit_id}
    if delta > 0:
        if product is None:
            return "not in the catalogue: price it by hand at the till"
        if product.sold_by_weight:
            return "sold by weight: weigh it and add its label at the till"
        add_server_event(session, trip, "scan", {"gtin": gtin, "barcode": gtin, "quantity": delta, **by})
        return None
    take = -delta
    for line in lines:  # unit line first (it is one line per GTIN), then labels newest first
        if take <= 0:
            break
        if line.is_label:
            add_server_event(session, trip, "remove", {"key": line.key, **by})
            take -= 1
        else:
            keep = max(0, line.quantity - take)
            add_server_event(session, trip, "set_quantity", {"key": line.key, "quantity": keep, **by})
            take -= line.quantity - keep
    return None


def audit_json(session: Session, audit: Audit) -> dict[str, Any]:
    """An audit as the API answers it, with the member's audit rate from now on."""
    return {"id": audit.id, "trip_id": audit.trip_id, "member_id": audit.member_id, "status": audit.status,
            "reason": audit.reason, "probability": audit.probability, "mismatch_count": audit.mismatch_count,
            "findings": audit.findings, "completed_at": audit.completed_at.isoformat() if audit.completed_at else None,
            "member_audit_rate": audit_rate(session, audit.member_id) if audit.member_id is not None else None}
