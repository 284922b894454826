"""Finishing a trip: the shopper's last step on the handheld, where the rescan audit is decided.
A trip finished with nothing in the basket is no purchase: it is abandoned, with no audit.

The finish answer is rebuilt from what is stored, so finishing again (a lost answer, a retry)
gives the same answer and the same audit decision.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Trip
from server.errors import ApiError
from server.store.audits import audit_of, decide_audit, open_audit
from server.store.ingest import DeviceRef, staff_events
from server.store.trips import own_trip, trip_events
from shop.basket import fold


def finish_trip(session: Session, device: DeviceRef, trip_id: str, cfg: Mapping[str, Any],
                handheld_total_minor: int | None = None, event_count: int | None = None) -> dict[str, Any]:
    """Finish a trip and decide its rescan audit; finishing again gives the same answer."""
    trip = own_trip(session, device, trip_id, for_update=True)
    if trip.status == "abandoned" and trip.finished_at is None:
        raise ApiError(409, f"trip {trip_id} was abandoned; it cannot be finished")
    if trip.status == "active":
        trip.finished_at = utcnow()
        if handheld_total_minor is not None:
            trip.handheld_total_minor = handheld_total_minor
        if not fold(trip_events(session, trip.id)).lines:
            trip.status = "abandoned"  # nothing to pay: an empty trip is no purchase
        else:
            trip.status = "finished"
            selected, reason, probability = decide_audit(session, trip, cfg)
            if selected:
                open_audit(session, trip, reason, probability)
        session.flush()
    return finish_json(session, trip, event_count)


def finish_json(session: Session, trip: Trip, event_count: int | None = None) -> dict[str, Any]:
    """The finish answer, rebuilt from what is stored so a repeat matches."""
    audit = audit_of(session, trip.id)
    staff = staff_events(session, trip.id)
    received = trip.event_count - len(staff)  # the device's own events (staff ones are counted in the trip too)
    out: dict[str, Any] = {"trip_id": trip.id, "status": trip.status, "audit": audit is not None,
                           "audit_reason": audit.reason if audit else "not selected",
                           "audit_id": audit.id if audit else None, "exit_code": trip.id,
                           "events_received": received, "staff_events": staff}
    if event_count is not None:
        out["events_missing"] = max(0, event_count - received)
    return out
