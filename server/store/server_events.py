"""Events the store itself adds to a trip's log: a staff void, an age approval, a rescan's corrections.

They come from a per-store "staff console" device (revoked, so it can never sign in) and
carry sequence numbers from SERVER_SEQ_BASE up: they sort after every handheld event of the
trip, so the checkout's fold of the log agrees with what staff did, and a voided line stays
voided even if the shopper scans the item again (the point of an age refusal). The handheld
gets them with its next sync answer and folds them in too.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Device, StaffAction, Trip, TripEvent
from server.auth.accounts import hash_token
from server.errors import ApiError
from shop.basket import SERVER_SEQ_BASE

CONSOLE_DEVICE_NAME = "staff console"


def console_device(session: Session, store_id: str) -> Device:
    """The store's revoked pseudo-device that owns server-side trip events."""
    device = session.scalar(select(Device).where(Device.store_id == store_id, Device.name == CONSOLE_DEVICE_NAME,
                                                 Device.revoked_at.is_not(None)).order_by(Device.id).limit(1))
    if device is None:
        # A random token nobody keeps, revoked at once: the device exists only to own events.
        device = Device(store_id=store_id, name=CONSOLE_DEVICE_NAME, token_hash=hash_token(secrets.token_urlsafe(32)),
                        created_at=utcnow(), revoked_at=utcnow())
        session.add(device)
        session.flush()
    return device


def add_server_event(session: Session, trip: Trip, kind: str, payload: dict[str, Any]) -> TripEvent:
    """Add an event of the store's own to a trip's log; the handheld gets it with its next answer."""
    device = console_device(session, trip.store_id)
    seq = max(SERVER_SEQ_BASE, (session.scalar(select(func.max(TripEvent.seq))
                                               .where(TripEvent.device_id == device.id)) or 0)) + 1
    event = TripEvent(id=str(uuid.uuid4()), trip_id=trip.id, device_id=device.id, seq=seq, kind=kind,
                      payload=payload, occurred_at=utcnow(), received_at=utcnow())
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        raise ApiError(409, "Another change to this trip happened at the same moment; try again.") from None
    trip.event_count += 1
    return event


def record_staff_action(session: Session, trip: Trip, user_id: int | None, kind: str,
                        payload: dict[str, Any]) -> StaffAction:
    """Keep the record of who did what to a trip (kind: one of STAFF_ACTION_KINDS)."""
    action = StaffAction(trip_id=trip.id, store_id=trip.store_id, user_id=user_id, kind=kind, payload=payload,
                         at=utcnow())
    session.add(action)
    session.flush()
    return action
