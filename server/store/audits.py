"""Rescan audits: which finished trips staff recount, and what they found.

The rule ([audit] in config.toml): a member's first self-scan trip is always audited.
Otherwise the chance is `base_probability`, plus `mismatch_weight` per earlier audit of
the member that found a mismatch, `weighed_item_weight` per weighed item, `removal_weight`
per removal, and `high_value_weight` when the server's total is above `high_value_minor`,
never above `max_probability`. The draw is seeded from the trip id, so the same trip
always gets the same decision (a retried finish, a test, an appeal).
"""
from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, Trip
from server.auth.actors import Actor
from server.config import SCHEMA
from server.errors import ApiError
from server.store.priced_trip import price_trip
from server.store.schemas import AUDIT_OUTCOME, validate


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
    """Record what a rescan found (by a till or staff of the audit's store); any line whose
    count differs makes it a mismatch."""
    audit = session.get(Audit, audit_id, with_for_update=True)
    if audit is None:
        raise ApiError(404, f"no audit {audit_id}")
    actor.require_store(audit.store_id, f"audit {audit_id}")
    if audit.status != "pending":
        raise ApiError(409, f"audit {audit_id} was already recorded ({audit.status})")
    validate({"findings": list(findings)}, AUDIT_OUTCOME)
    clean = [{"gtin": f["gtin"], "expected": int(f["expected"]), "found": int(f["found"])} for f in findings]
    audit.findings = clean  # type: ignore[assignment]  # a JSON list, as the model comment shows
    audit.mismatch_count = sum(1 for f in clean if f["found"] != f["expected"])
    audit.status = "mismatch" if audit.mismatch_count else "passed"
    audit.completed_at = utcnow()
    audit.staff_user_id, audit.till_device_id = actor.staff_user_id, actor.till_device_id
    session.flush()
    return audit


def audit_json(session: Session, audit: Audit) -> dict[str, Any]:
    """An audit as the API answers it, with the member's audit rate from now on."""
    return {"id": audit.id, "trip_id": audit.trip_id, "member_id": audit.member_id, "status": audit.status,
            "reason": audit.reason, "probability": audit.probability, "mismatch_count": audit.mismatch_count,
            "findings": audit.findings, "completed_at": audit.completed_at.isoformat() if audit.completed_at else None,
            "member_audit_rate": audit_rate(session, audit.member_id) if audit.member_id is not None else None}
