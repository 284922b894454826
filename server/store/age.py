"""Age-restricted items: which lines of a trip still wait for a staff member's check, and the approval.

A line of a product with a minimum age waits when it was last changed after the trip's
latest approval. An approval is made by a signed-in staff member (at the live trips page or
at the till), covers everything scanned up to then, and is kept twice: as a StaffAction (who,
when) and as an `age_ok` event in the trip's log, so the shopper's screen learns of it. Only
the StaffAction counts here: a handheld can send an event of any kind, never a staff action.
A trip with a line still waiting cannot check out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Product, StaffAction, Trip
from server.errors import ApiError
from server.store.server_events import add_server_event, record_staff_action
from server.store.trips import trip_events
from shop.basket import BasketLine, fold

APPROVABLE = ("active", "finished")


@dataclass(frozen=True)
class AgeLine:
    """A basket line that needs the shopper's age checked."""

    key: str
    gtin: str
    name: str
    min_age: int


def approved_up_to(session: Session, trip_id: str) -> int:
    """The highest sequence number staff approved the trip's age-restricted items up to (-1: none)."""
    marks = session.scalars(select(StaffAction.payload).where(StaffAction.trip_id == trip_id,
                                                             StaffAction.kind == "age_ok"))
    return max((int(p.get("up_to_seq", -1)) for p in marks), default=-1)


def waiting(lines: Iterable[BasketLine], min_ages: Mapping[str, int | None], up_to: int) -> list[BasketLine]:
    """The lines of age-restricted products changed after the approval up to `up_to`."""
    return [line for line in lines if min_ages.get(line.gtin) and line.last_seq > up_to]


def age_waiting(session: Session, trip: Trip) -> list[AgeLine]:
    """The trip's lines that still need a staff member's age check, oldest scan first."""
    return _waiting(session, trip)[0]


def _waiting(session: Session, trip: Trip) -> tuple[list[AgeLine], int]:
    """The lines waiting, and the highest sequence number in the trip's log."""
    events = trip_events(session, trip.id)
    lines = fold(events).lines
    products = {p.gtin: p for p in session.scalars(select(Product).where(
        Product.gtin.in_(sorted({line.gtin for line in lines})), Product.min_age.is_not(None)))} if lines else {}
    due = waiting(lines, {g: p.min_age for g, p in products.items()}, approved_up_to(session, trip.id))
    return [AgeLine(line.key, line.gtin, products[line.gtin].name, int(products[line.gtin].min_age or 0))
            for line in reversed(due)], max((e.seq for e in events), default=0)


def approve_age(session: Session, trip: Trip, user_id: int) -> StaffAction:
    """Record that staff member `user_id` checked the shopper's age for everything scanned so far
    (409 when nothing waits or the trip is over)."""
    if trip.status not in APPROVABLE:
        raise ApiError(409, f"Trip {trip.id} is {trip.status.replace('_', ' ')}; only trips in progress or at "
                            "the till can be approved.")
    due, up_to = _waiting(session, trip)
    if not due:
        raise ApiError(409, "This trip has no age check waiting.")
    add_server_event(session, trip, "age_ok", {"up_to_seq": up_to, "by": "staff", "user_id": user_id})
    return record_staff_action(session, trip, user_id, "age_ok",
                               {"up_to_seq": up_to, "gtins": sorted({line.gtin for line in due})})
