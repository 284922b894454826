"""Trips past the retention window go too, with everything recorded about them.

A trip's scan events say what a member picked up, aisle by aisle, so they are personal
history just as purchase lines are and leave with the same window. A trip is old when its
last moment (checked out, else finished, else started) is before the cutoff; its events,
staff actions, rescan audit and offer redemptions go with it, and shopper feedback that
named it stays, unlinked. Each batch is one transaction, so a stop between batches leaves
no trip without its trip row or the other way round.

No index on the trip times is needed: old trips were written first, and a batch asks for
any `limit` old trips, not the oldest, so the scan stops as soon as it has found them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from db.models import Audit, Feedback, OfferRedemption, StaffAction, Trip, TripEvent

ROWS_PER_TRIP = 50  # a trip brings its events (30 or so) along: batches are sized in rows, not trips
_DEPENDENTS = (StaffAction, Audit, OfferRedemption)  # besides the events, which are counted


def _old(cutoff: datetime) -> Any:
    return func.coalesce(Trip.checked_out_at, Trip.finished_at, Trip.started_at) < cutoff


def count_old_trips(conn: Connection, cutoff: datetime) -> tuple[int, int]:
    """How many trips are past the window, and how many events they hold."""
    trips = int(conn.execute(select(func.count()).select_from(Trip).where(_old(cutoff))).scalar_one())
    events = int(conn.execute(select(func.count()).select_from(TripEvent).join(Trip, Trip.id == TripEvent.trip_id)
                              .where(_old(cutoff))).scalar_one())
    return trips, events


def trips_per_batch(batch_rows: int) -> int:
    """Trips to take per transaction for a batch of about `batch_rows` rows."""
    return max(1, batch_rows // ROWS_PER_TRIP)


def delete_trip_batch(conn: Connection, cutoff: datetime, limit: int) -> tuple[int, int]:
    """Delete up to `limit` old trips with their records in the caller's transaction; (trips, events) removed."""
    ids = list(conn.execute(select(Trip.id).where(_old(cutoff)).limit(limit)).scalars())
    if not ids:
        return 0, 0
    events = conn.execute(delete(TripEvent).where(TripEvent.trip_id.in_(ids))).rowcount or 0
    for model in _DEPENDENTS:
        conn.execute(delete(model).where(model.trip_id.in_(ids)))
    conn.execute(update(Feedback).where(Feedback.trip_id.in_(ids)).values(trip_id=None))
    conn.execute(delete(Trip).where(Trip.id.in_(ids)))
    return len(ids), events
