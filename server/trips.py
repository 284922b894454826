"""Trips on the server: start by card or as a guest, a member's offers, event batches, feedback.

Event batches are idempotent by event UUID and validated whole before anything is written:
a batch with one bad event is refused and stores nothing. Sequence numbers are per device
(across trips); a batch that skips numbers is stored and the missing ranges reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol, Sequence

from sqlalchemy import Integer, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Feedback, Member, Offer, OfferRedemption, Product, Trip, TripEvent
from server.api.schemas import EVENT, FEEDBACK, PAYLOADS, event_ok, parse_time, validate
from server.catalogue import products_by_gtin
from server.errors import ApiError
from server.pricing import PersonalOffer


class DeviceRef(Protocol):
    """What the trip services need of a handheld: a Device row or the API's light copy of one."""

    @property
    def id(self) -> int: ...

    @property
    def store_id(self) -> str: ...


@dataclass(frozen=True)
class IngestResult:
    """What a batch did: ids stored now, ids already held, missing sequence ranges."""

    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    gaps: list[list[int]] = field(default_factory=list)
    last_seq: int = 0

    def as_json(self) -> dict[str, Any]:
        """The answer body of POST /trips/<id>/events."""
        return {"stored": self.stored, "duplicates": self.duplicates, "gaps": self.gaps, "last_seq": self.last_seq}


def member_json(member: Member | None) -> dict[str, Any] | None:
    """A member as the handheld shows them."""
    if member is None:
        return None
    return {"id": member.id, "card_number": member.card_number, "name": member.name, "tier": member.tier,
            "points": member.points, "consent": member.consent_personalisation}


def start_trip(session: Session, device: DeviceRef, trip_id: str, card_number: str | None,
               started_at: datetime | None = None) -> tuple[Trip, bool]:
    """Start a trip (member by card, or guest); the same trip id again returns it unchanged."""
    trip = session.get(Trip, trip_id)
    if trip is not None:
        if trip.device_id != device.id:
            raise ApiError(409, f"trip {trip_id} belongs to another device")
        return trip, False
    member = None
    if card_number is not None:
        member = session.scalar(select(Member).where(Member.card_number == card_number))
        if member is None or member.erased_at is not None:
            raise ApiError(404, f"no member holds card {card_number}; shop as a guest or ask staff")
    trip = Trip(id=trip_id, store_id=device.store_id, device_id=device.id, member_id=member.id if member else None,
                status="active", started_at=started_at or utcnow(), last_seq=0, event_count=0)
    session.add(trip)
    session.flush()
    return trip, True


def get_trip(session: Session, trip_id: str, *, for_update: bool = False) -> Trip:
    """The trip, or a 404."""
    trip = session.get(Trip, trip_id, with_for_update=for_update or None)
    if trip is None:
        raise ApiError(404, f"no trip {trip_id}; start it with POST /api/v1/trips first")
    return trip


def member_offers(session: Session, member_id: int | None, now: datetime | None = None,
                  trip_id: str | None = None) -> list[tuple[Offer, Product]]:
    """A consenting member's offers valid now and not yet redeemed on another trip."""
    if member_id is None:
        return []
    member = session.get(Member, member_id)
    if member is None or member.erased_at is not None or not member.consent_personalisation:
        return []  # personalisation only for members who agreed to it
    now = now or utcnow()
    used = select(OfferRedemption.offer_id).where(OfferRedemption.member_id == member_id)
    if trip_id is not None:
        used = used.where(OfferRedemption.trip_id != trip_id)
    rows = session.execute(select(Offer, Product).join(Product, Product.id == Offer.product_id).where(
        Offer.member_id == member_id, Offer.valid_from <= now, Offer.valid_to > now, Offer.id.not_in(used),
        Product.active.is_(True)).order_by(Offer.id))
    return [(o, p) for o, p in rows]


def describe_offer(offer: Offer, product: Product) -> str:
    """A shopper-facing line for an offer."""
    v = offer.reward_value
    text = {"percent": f"{v}% off {product.name}", "fixed": f"{v / 100:.2f} off {product.name}",
            "member_price": f"{product.name} for {v / 100:.2f}", "points": f"{v} bonus points on {product.name}"}
    return text.get(offer.reward_type, product.name)


def offer_json(offer: Offer, product: Product) -> dict[str, Any]:
    """An offer as the handheld caches it."""
    return {"offer_id": offer.id, "product_id": offer.product_id, "gtin": product.gtin, "kind": offer.kind,
            "reward_type": offer.reward_type, "reward_value": offer.reward_value,
            "valid_to": offer.valid_to.isoformat(), "description": describe_offer(offer, product),
            "max_redemptions": offer.max_redemptions}


def personal_offers(rows: Sequence[tuple[Offer, Product]]) -> list[PersonalOffer]:
    """Offers as pricing takes them."""
    return [PersonalOffer(o.id, o.product_id, o.reward_type, o.reward_value, describe_offer(o, p), o.max_redemptions)
            for o, p in rows]


# Per process: GTIN -> (name, sold by weight, when read), per database. Checking a scan
# needs only these two facts, and reading them for every batch was a third of the sync
# path's queries. Only known products are kept, so a new product is accepted at once; a
# withdrawn one is still accepted for up to SCANNABLE_TTL (checkout re-prices anyway).
_SCANNABLE: dict[str, dict[str, tuple[str, bool, float]]] = {}
SCANNABLE_TTL = 300.0


def _scannable(session: Session, gtins: set[str]) -> dict[str, tuple[str, bool]]:
    """Name and sold-by-weight of the active products among `gtins`."""
    cache = _SCANNABLE.setdefault(str(session.get_bind().url), {})
    now = time.monotonic()
    out = {g: (c[0], c[1]) for g in gtins if (c := cache.get(g)) is not None and now - c[2] < SCANNABLE_TTL}
    missing = gtins - out.keys()
    if missing:
        if len(cache) > 200_000:
            cache.clear()
        for gtin, product in products_by_gtin(session, missing).items():
            cache[gtin] = (product.name, product.sold_by_weight, now)
            out[gtin] = (product.name, product.sold_by_weight)
    return out


def _check_batch(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Refuse the whole batch (422) if any event or payload is malformed or names an unknown product."""
    for i, ev in enumerate(events):
        if event_ok(ev):
            continue
        validate(ev, EVENT, f"events[{i}]")
        if ev["kind"] in PAYLOADS:
            validate(ev["payload"], PAYLOADS[ev["kind"]], f"events[{i}].payload")
    scans = [(i, ev["payload"]) for i, ev in enumerate(events) if ev["kind"] == "scan"]
    products = _scannable(session, {p["gtin"] for _, p in scans})
    for i, p in scans:
        known = products.get(p["gtin"])
        if known is None:
            raise ApiError(422, f"events[{i}].payload.gtin {p['gtin']} is not in the catalogue")
        name, by_weight = known
        weighed, labelled = "weight_g" in p, "label_price_minor" in p
        if weighed and not by_weight:
            raise ApiError(422, f"events[{i}]: {name} ({p['gtin']}) is not sold by weight")
        if by_weight and not (weighed or labelled):
            raise ApiError(422, f"events[{i}]: {name} ({p['gtin']}) is sold by weight; scan its label")
    seqs = [ev["seq"] for ev in events]
    ids = [ev["id"] for ev in events]
    clash = {s for s in seqs if seqs.count(s) > 1 and len({ids[j] for j, t in enumerate(seqs) if t == s}) > 1}
    if clash:
        raise ApiError(422, f"two different events carry sequence number {min(clash)}")


# The sync path's statements, built once: the batch is the hottest request of the store
# server and building SQL for it on every call was a large share of its CPU.
_events = TripEvent.__table__
_trips = Trip.__table__
_TRIP_STATE = select(_trips.c.device_id, _trips.c.status, _trips.c.last_seq).where(_trips.c.id == bindparam("tid"))
# One look-up answers three questions: which ids are held (and for which trip), and
# whether a sequence number of this device is already taken by another event.
_HELD = select(_events.c.id, _events.c.trip_id, _events.c.seq, _events.c.device_id).where(or_(
    _events.c.id.in_(bindparam("ids", expanding=True)),
    and_(_events.c.device_id == bindparam("dev"), _events.c.seq.in_(bindparam("seqs", expanding=True)))))
# The same look-up with the trip's state in front, for a well-formed batch: one round trip
# where two were (the trip row comes back even when no event matches).
_TRIP_AND_HELD = select(_trips.c.device_id, _trips.c.status, _trips.c.last_seq, *_HELD.selected_columns).select_from(
    _trips.outerjoin(_events, _HELD.whereclause)).where(_trips.c.id == bindparam("tid"))
_DEVICE_TOP = select(func.max(_events.c.seq)).where(_events.c.device_id == bindparam("dev"))
_INSERT_EVENTS = insert(_events)
# SQL-side arithmetic so two batches of one trip landing together both count.
_COUNT_EVENTS = update(_trips).where(_trips.c.id == bindparam("tid")).values(
    event_count=_trips.c.event_count + bindparam("n", type_=Integer),
    last_seq=case((_trips.c.last_seq < bindparam("top", type_=Integer), bindparam("top", type_=Integer)),
                  else_=_trips.c.last_seq))
_COUNT_EVENTS_HELP = _COUNT_EVENTS.values(needs_help=True)


def ingest_events(session: Session, device: DeviceRef, trip_id: str,
                  events: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Store a batch of a trip's events once each; report duplicates and sequence gaps."""
    found: list[Any] | None = None
    if all(event_ok(ev) for ev in events):
        ids = list(dict.fromkeys(str(ev["id"]) for ev in events))
        seqs = sorted({ev["seq"] for ev in events})
        rows = session.execute(_TRIP_AND_HELD, {"tid": trip_id, "ids": ids, "dev": device.id, "seqs": seqs}).all()
        trip = rows[0][:3] if rows else None
        found = [r[3:] for r in rows if r[3] is not None]
    else:  # the batch will be refused, but after the trip's own checks, as before
        trip = session.execute(_TRIP_STATE, {"tid": trip_id}).first()
    if trip is None:
        raise ApiError(404, f"no trip {trip_id}; start it with POST /api/v1/trips first")
    trip_device, status, last_seq = trip
    if trip_device != device.id:
        raise ApiError(409, f"trip {trip_id} belongs to another device")
    if status in ("checked_out", "abandoned"):
        raise ApiError(409, f"trip {trip_id} is {status.replace('_', ' ')}; it takes no more events")
    _check_batch(session, events)
    ids = list(dict.fromkeys(str(ev["id"]) for ev in events))
    seqs = sorted({ev["seq"] for ev in events})
    if found is None:
        found = list(session.execute(_HELD, {"ids": ids, "dev": device.id, "seqs": seqs})) if ids else []
    held: dict[str, str] = {}
    taken: dict[int, str] = {}
    wanted = set(ids)
    for eid, tid, seq, dev in found:
        if eid in wanted:
            held[eid] = tid
        if dev == device.id:
            taken[seq] = eid
    if any(t != trip_id for t in held.values()):
        raise ApiError(409, "an event id in this batch belongs to another trip")
    fresh: dict[str, Mapping[str, Any]] = {}
    duplicates: list[str] = []
    for ev in events:
        eid = str(ev["id"])
        if eid in held or eid in fresh:
            duplicates.append(eid)
        else:
            fresh[eid] = ev
    new_seqs = sorted(ev["seq"] for ev in fresh.values())
    clash = next((s for s in new_seqs if s in taken), None)
    if clash is not None:
        raise ApiError(409, f"sequence number {clash} of this device is already held by another event; "
                            "a reset device needs a new registration")
    if new_seqs and last_seq and new_seqs == list(range(last_seq + 1, last_seq + 1 + len(new_seqs))):
        prev = last_seq  # the usual batch: it carries on where this trip left off, so no gap
    else:
        prev = session.execute(_DEVICE_TOP, {"dev": device.id}).scalar() or 0
    gaps: list[list[int]] = []
    expected = prev + 1
    for s in new_seqs:
        if s > expected:
            gaps.append([expected, s - 1])
        expected = max(expected, s + 1)
    if fresh:
        now = utcnow()
        session.execute(_INSERT_EVENTS, [
            {"id": eid, "trip_id": trip_id, "device_id": device.id, "seq": ev["seq"], "kind": ev["kind"],
             "payload": dict(ev["payload"]), "occurred_at": parse_time(ev["occurred_at"]), "received_at": now}
            for eid, ev in fresh.items()])
        bump = _COUNT_EVENTS_HELP if any(ev["kind"] == "help" for ev in fresh.values()) else _COUNT_EVENTS
        session.execute(bump, {"tid": trip_id, "n": len(fresh), "top": new_seqs[-1]})
    return IngestResult(list(fresh), duplicates, gaps, max([prev, *new_seqs]))


def record_feedback(session: Session, device: DeviceRef, body: Mapping[str, Any]) -> tuple[Feedback, bool]:
    """Keep a shopper's report once (by its id); unknown trip or GTIN is a 404."""
    validate(body, FEEDBACK)
    existing = session.get(Feedback, body["id"])
    if existing is not None:
        return existing, False
    trip = get_trip(session, body["trip_id"]) if body.get("trip_id") else None
    product_id = None
    if body.get("gtin"):
        product = products_by_gtin(session, [body["gtin"]]).get(body["gtin"])
        if product is None:
            raise ApiError(404, f"GTIN {body['gtin']} is not in the catalogue")
        product_id = product.id
    fb = Feedback(id=body["id"], store_id=device.store_id, trip_id=trip.id if trip else None,
                  member_id=trip.member_id if trip else None, product_id=product_id, kind=body["kind"],
                  message=body.get("message") or "", status="open")
    session.add(fb)
    session.flush()
    return fb, True


def trip_events(session: Session, trip_id: str) -> list[TripEvent]:
    """A trip's events in device order."""
    return list(session.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id).order_by(TripEvent.seq)))


def finish_trip(session: Session, device: DeviceRef, trip_id: str, cfg: Mapping[str, Any],
                handheld_total_minor: int | None = None, event_count: int | None = None) -> dict[str, Any]:
    """Finish a trip and decide its rescan audit; finishing again gives the same answer."""
    from server.audits import decide_audit, open_audit

    trip = get_trip(session, trip_id, for_update=True)
    if trip.device_id != device.id:
        raise ApiError(409, f"trip {trip_id} belongs to another device")
    if trip.status == "abandoned":
        raise ApiError(409, f"trip {trip_id} was abandoned; it cannot be finished")
    if trip.status == "active":
        trip.status = "finished"
        trip.finished_at = utcnow()
        if handheld_total_minor is not None:
            trip.handheld_total_minor = handheld_total_minor
        selected, reason, probability = decide_audit(session, trip, cfg)
        if selected:
            open_audit(session, trip, reason, probability)
        session.flush()
    return finish_json(session, trip, event_count)


def finish_json(session: Session, trip: Trip, event_count: int | None = None) -> dict[str, Any]:
    """The finish answer, rebuilt from what is stored so a repeat matches."""
    from server.audits import audit_of

    audit = audit_of(session, trip.id)
    out: dict[str, Any] = {"trip_id": trip.id, "status": trip.status, "audit": audit is not None,
                           "audit_reason": audit.reason if audit else "not selected",
                           "audit_id": audit.id if audit else None, "exit_code": trip.id,
                           "events_received": trip.event_count}
    if event_count is not None:
        out["events_missing"] = max(0, event_count - trip.event_count)
    return out
