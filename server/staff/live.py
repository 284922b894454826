"""Live trips on the handhelds and what staff may do to them: approve an age check, void a
line, take over a trip, close a help request. Every action is a `StaffAction` row.

A void is also a server-side `remove` event in the trip's log and an age approval an `age_ok`
event there (server/store/server_events.py), so the checkout's fold agrees with what staff
did and the shopper's screen learns of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Device, Member, Product, StaffAction, Trip, TripEvent, User
from server.errors import ApiError
from server.store import age
from server.store.server_events import add_server_event, record_staff_action
from shop.basket import SERVER_SEQ_BASE, BasketLine, fold

LIVE_STATUSES = ("active", "finished")
CONSOLE_SEQ_BASE = SERVER_SEQ_BASE


@dataclass(frozen=True)
class LiveLine:
    """A basket line as staff see it."""

    key: str
    gtin: str
    name: str
    quantity: int
    weight_g: int | None
    min_age: int | None


@dataclass
class LiveTrip:
    """A trip in progress with what needs a person."""

    trip: Trip
    member_name: str | None
    device_name: str | None
    lines: list[LiveLine] = field(default_factory=list)
    age_check: bool = False
    help: bool = False
    taken_over_by: str | None = None

    @property
    def items(self) -> int:
        """Units in the basket."""
        return sum(line.quantity for line in self.lines)

    @property
    def urgent(self) -> bool:
        """Needs a person now (age check or help)."""
        return self.age_check or self.help


def _events(session: Session, trip_ids: list[str]) -> dict[str, list[TripEvent]]:
    out: dict[str, list[TripEvent]] = {t: [] for t in trip_ids}
    if trip_ids:
        for ev in session.scalars(select(TripEvent).where(TripEvent.trip_id.in_(trip_ids))
                                  .order_by(TripEvent.seq, TripEvent.received_at)):
            out[ev.trip_id].append(ev)
    return out


def _actions(session: Session, trip_ids: list[str]) -> dict[str, list[tuple[StaffAction, str]]]:
    out: dict[str, list[tuple[StaffAction, str]]] = {t: [] for t in trip_ids}
    if trip_ids:
        for act, name in session.execute(select(StaffAction, User.username).outerjoin(User, User.id == StaffAction.user_id)
                                         .where(StaffAction.trip_id.in_(trip_ids)).order_by(StaffAction.at)):
            out[act.trip_id].append((act, name or "?"))
    return out


def _products(session: Session, gtins: set[str]) -> dict[str, Product]:
    if not gtins:
        return {}
    return {p.gtin: p for p in session.scalars(select(Product).where(Product.gtin.in_(sorted(gtins))))}


def _view(trip: Trip, events: list[TripEvent], actions: list[tuple[StaffAction, str]],
          products: dict[str, Product], member_name: str | None, device_name: str | None) -> LiveTrip:
    basket = fold(events)
    lines = [_line(bl, products.get(bl.gtin)) for bl in basket.lines]
    age_ok_up_to = max((int(a.payload.get("up_to_seq", -1)) for a, _ in actions if a.kind == "age_ok"), default=-1)
    help_done_up_to = max((int(a.payload.get("up_to_seq", 0)) for a, _ in actions if a.kind == "help_done"), default=-1)
    last_help = max((e.seq for e in events if e.kind == "help"), default=None)
    view = LiveTrip(trip, member_name, device_name, lines)
    view.age_check = bool(age.waiting(basket.lines, {g: p.min_age for g, p in products.items()}, age_ok_up_to))
    view.help = trip.needs_help or (last_help is not None and last_help > help_done_up_to)
    takers = [name for a, name in actions if a.kind == "take_over"]
    view.taken_over_by = takers[-1] if takers else None
    return view


def _line(bl: BasketLine, product: Product | None) -> LiveLine:
    return LiveLine(bl.key, bl.gtin, product.name if product else f"Unknown item {bl.gtin}", bl.quantity,
                    bl.weight_g, product.min_age if product else None)


def live_trips(session: Session, store_id: str) -> list[LiveTrip]:
    """Trips being shopped in a store (finished ones have left for the till): age checks and help
    requests first, then oldest first."""
    rows = session.execute(
        select(Trip, Member.name, Device.name).outerjoin(Member, Member.id == Trip.member_id)
        .outerjoin(Device, Device.id == Trip.device_id)
        .where(Trip.store_id == store_id, Trip.status == "active")  # a finished trip is the till's
        .order_by(Trip.started_at).limit(200)).all()
    ids = [t.id for t, _, _ in rows]
    events, actions = _events(session, ids), _actions(session, ids)
    gtins = {str(e.payload.get("gtin")) for evs in events.values() for e in evs if e.kind == "scan"}
    products = _products(session, gtins)
    views = [_view(t, events[t.id], actions[t.id], products, m, d) for t, m, d in rows]
    return sorted(views, key=lambda v: (not v.age_check, not v.help, v.trip.started_at))


def live_trip(session: Session, trip_id: str) -> LiveTrip:
    """One trip as staff see it, or 404."""
    trip = session.get(Trip, trip_id) if len(trip_id) <= 36 else None
    if trip is None:
        raise ApiError(404, f"No trip {trip_id!r}.")
    member = session.get(Member, trip.member_id) if trip.member_id else None
    device = session.get(Device, trip.device_id) if trip.device_id else None
    events, actions = _events(session, [trip.id]), _actions(session, [trip.id])
    products = _products(session, {str(e.payload.get("gtin")) for e in events[trip.id] if e.kind == "scan"})
    return _view(trip, events[trip.id], actions[trip.id], products, member.name if member else None,
                 device.name if device else None)


def _must_be_live(trip: Trip) -> None:
    if trip.status not in LIVE_STATUSES:
        raise ApiError(409, f"Trip {trip.id} is {trip.status.replace('_', ' ')}; only trips in progress can be changed.")


def approve_age(session: Session, trip_id: str, user: User) -> StaffAction:
    """Record that staff checked the shopper's age for everything scanned so far."""
    trip = live_trip(session, trip_id).trip
    return age.approve_age(session, trip, user.id)


def help_done(session: Session, trip_id: str, user: User) -> StaffAction:
    """Record that a help request was dealt with."""
    view = live_trip(session, trip_id)
    _must_be_live(view.trip)
    last = max(view.trip.last_seq, max((e.seq for e in session.scalars(
        select(TripEvent).where(TripEvent.trip_id == trip_id, TripEvent.kind == "help"))), default=0))
    view.trip.needs_help = False  # the ingest sets it again on the next help event
    add_server_event(session, view.trip, "help_done", {"up_to_seq": last, "by": "staff"})  # the handheld learns
    return record_staff_action(session, view.trip, user.id, "help_done", {"up_to_seq": last})


def take_over(session: Session, trip_id: str, user: User) -> StaffAction:
    """Record that a staff member is now looking after this trip in person."""
    view = live_trip(session, trip_id)
    _must_be_live(view.trip)
    return record_staff_action(session, view.trip, user.id, "take_over", {"previous": view.taken_over_by})


def void_line(session: Session, trip_id: str, key: str, user: User) -> StaffAction:
    """Remove a line from a live trip: a server-side `remove` event plus the staff action."""
    view = live_trip(session, trip_id)
    _must_be_live(view.trip)
    line = next((ln for ln in view.lines if ln.key == key), None)
    if line is None:
        raise ApiError(404, f"Trip {trip_id} has no line {key!r} (it may already be removed).")
    event = add_server_event(session, view.trip, "remove", {"key": key, "by": "staff", "user_id": user.id})
    return record_staff_action(session, view.trip, user.id, "void_line", {"key": key, "gtin": line.gtin, "name": line.name,
                                                            "quantity": line.quantity, "event_id": event.id})


def recent_actions(session: Session, store_id: str, since: datetime, limit: int = 20) -> list[tuple[StaffAction, str]]:
    """The latest staff actions in a store, newest first."""
    return list(session.execute(
        select(StaffAction, User.username).outerjoin(User, User.id == StaffAction.user_id)
        .where(StaffAction.store_id == store_id, StaffAction.at >= since)
        .order_by(StaffAction.at.desc()).limit(limit)))
