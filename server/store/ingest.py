"""Event batches from the handhelds: the store server's hottest request (the sync path).

One service function, `ingest_events`, used by the API view, the simulation and the tests
on SQLite and PostgreSQL alike. A batch is taken or refused whole: its events' shapes are
checked before anything is written, and a batch the trip or the catalogue refuses raises
after its write, in the caller's transaction, which the caller rolls back (server/api/handheld.py
`transaction`), so a refused batch stores nothing. Events are idempotent by their
UUID, so a batch sent again after a lost answer stores nothing twice. Sequence numbers are
per device (across trips); a batch that skips numbers is stored and the missing ranges
reported. A `help` event flags the trip for staff; a `feedback` event is kept as a shopper's
report (server/store/feedback.py); a `consent` event gives or withdraws the trip's member's
consent to a purpose (server/store/consents.py). The caller commits (an ordinary synchronous
commit) before answering, so an acknowledged event is on disk.

The write is one statement on PostgreSQL (`_write_postgresql`) and four or five on SQLite (`_write`);
the checks and the answer around it are the same code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from sqlalchemy import Integer, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, Product, Trip, TripEvent
from server.errors import ApiError
from server.store.consents import set_consent
from server.store.feedback import keep_feedback
from server.store.schemas import EVENT, PAYLOADS, event_ok, parse_time, validate
from shop.basket import SERVER_SEQ_BASE

# A real trip is a few hundred events; a device that sends tens of thousands is broken or hostile
# (150,000 made the live page take 3.5 s and 475 MB). A trip stops taking events once it holds
# this many, so it holds at most this plus one batch (server.max_batch_events).
MAX_TRIP_EVENTS = 5_000


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
    staff_events: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The answer body of POST /trips/<id>/events."""
        return {"stored": self.stored, "duplicates": self.duplicates, "gaps": self.gaps, "last_seq": self.last_seq,
                "staff_events": self.staff_events}


def staff_event_json(eid: str, seq: int, kind: str, payload: Any, occurred_at: Any) -> dict[str, Any]:
    """An event the server made for a trip (a staff void) as the handheld folds it."""
    when = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
    return {"id": eid, "seq": seq, "kind": kind, "payload": payload, "occurred_at": when}


def staff_events(session: Session, trip_id: str) -> list[dict[str, Any]]:
    """The trip's events made on the server (sequence numbers from SERVER_SEQ_BASE), in order."""
    return [staff_event_json(*row) for row in session.execute(_STAFF_EVENTS, {"tid": trip_id})]


# The two facts a scan is checked against, for the active products among some GTINs.
_products = Product.__table__
_SCANNABLE_ROWS = select(_products.c.gtin, _products.c.name, _products.c.sold_by_weight).where(
    _products.c.gtin.in_(bindparam("gtins", expanding=True)), _products.c.active.is_(True))


def _scannable(session: Session, gtins: list[str]) -> dict[str, tuple[str, bool]]:
    """Name and sold-by-weight of the active products among `gtins`."""
    return {gtin: (name, by_weight) for gtin, name, by_weight in session.execute(
        _SCANNABLE_ROWS, {"gtins": gtins})} if gtins else {}


def check_events(events: Sequence[Mapping[str, Any]]) -> None:
    """Refuse the whole batch (422) if any event or its payload is malformed."""
    for i, ev in enumerate(events):
        if event_ok(ev):
            continue
        validate(ev, EVENT, f"events[{i}]")
        if ev["kind"] in PAYLOADS:
            validate(ev["payload"], PAYLOADS[ev["kind"]], f"events[{i}].payload")


def check_scans(events: Sequence[Mapping[str, Any]], products: Mapping[str, tuple[str, bool]]) -> None:
    """Refuse the whole batch (422) if a scan names a product not in the catalogue (given name and
    sold-by-weight by GTIN) or is weighed wrongly, or two events share a sequence number."""
    scans = [(i, ev["payload"]) for i, ev in enumerate(events) if ev["kind"] == "scan"]
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
    if len(set(seqs)) < len(seqs):
        ids = [ev["id"] for ev in events]
        clash = {s for s in seqs if seqs.count(s) > 1 and len({ids[j] for j, t in enumerate(seqs) if t == s}) > 1}
        if clash:
            raise ApiError(422, f"two different events carry sequence number {min(clash)}")


def trip_open(trip_id: str, device_id: int, trip: tuple[Any, str, int, int] | None) -> int:
    """The trip's last sequence number; 404 for no trip, 403 for another device's, 409 for a
    closed one or one that already holds MAX_TRIP_EVENTS events."""
    if trip is None:
        raise ApiError(404, f"no trip {trip_id}; start it with POST /api/v1/trips first")
    trip_device, status, last_seq, event_count = trip
    if trip_device != device_id:
        raise ApiError(403, f"trip {trip_id} belongs to another device")
    if status in ("checked_out", "abandoned"):
        raise ApiError(409, f"trip {trip_id} is {status.replace('_', ' ')}; it takes no more events")
    if (event_count or 0) >= MAX_TRIP_EVENTS:
        raise ApiError(409, f"trip {trip_id} already holds {event_count} events, the most one trip may; "
                            "finish it and ask staff for help")
    return int(last_seq or 0)


def check_left_out(trip_id: str, left: Mapping[str, Mapping[str, Any]], found: Sequence[Sequence[Any]]) -> None:
    """The events the insert left out must each be held by this trip already, given the stored
    rows they touch (id, trip, seq, device); 409 for an id of another trip or a sequence number
    another event of this device holds."""
    held = {eid: tid for eid, tid, _, _ in found if eid in left}
    if any(t != trip_id for t in held.values()):
        raise ApiError(409, "an event id in this batch belongs to another trip")
    clash = sorted(ev["seq"] for eid, ev in left.items() if eid not in held)
    if clash:
        raise ApiError(409, f"sequence number {clash[0]} of this device is already held by another event; "
                            "a reset device needs a new registration")


def follows_on(last_seq: int, new_seqs: list[int]) -> bool:
    """True for the usual batch: it carries on where its trip left off, so the device's top is not needed."""
    return bool(new_seqs and last_seq and new_seqs == list(range(last_seq + 1, last_seq + 1 + len(new_seqs))))


def gaps(prev: int, new_seqs: list[int]) -> list[list[int]]:
    """Missing ranges between the device's highest stored number `prev` and the sorted new ones."""
    out: list[list[int]] = []
    expected = prev + 1
    for s in new_seqs:
        if s > expected:
            out.append([expected, s - 1])
        expected = max(expected, s + 1)
    return out


# The statements, built once (building SQL per batch was a large share of its CPU).
_events = TripEvent.__table__
_trips = Trip.__table__
# The trip's state, and whether the store made events for it (a staff void) that the answer must carry.
_TRIP_STATE = select(_trips.c.device_id, _trips.c.status, _trips.c.last_seq, _trips.c.event_count,
                     exists().where(_events.c.trip_id == bindparam("tid"), _events.c.seq >= SERVER_SEQ_BASE)
                     ).where(_trips.c.id == bindparam("tid"))
# Only when the insert left events out: which of them are held (and for which trip), and
# which sequence numbers of this device other events hold.
_HELD = select(_events.c.id, _events.c.trip_id, _events.c.seq, _events.c.device_id).where(or_(
    _events.c.id.in_(bindparam("ids", expanding=True)),
    and_(_events.c.device_id == bindparam("dev"), _events.c.seq.in_(bindparam("seqs", expanding=True)))))
_STAFF_EVENTS = select(_events.c.id, _events.c.seq, _events.c.kind, _events.c.payload, _events.c.occurred_at).where(
    _events.c.trip_id == bindparam("tid"), _events.c.seq >= SERVER_SEQ_BASE).order_by(_events.c.seq)
_DEVICE_TOP = select(func.max(_events.c.seq)).where(_events.c.device_id == bindparam("dev"))
# An event already held (its id, or its device's sequence number) is left out, not an error:
# the rows the insert returns are exactly the new ones, so the usual batch needs no look-up first.
_INSERT_EVENTS = sqlite.insert(_events).on_conflict_do_nothing().returning(_events.c.id)
# SQL-side arithmetic so two batches of one trip landing together both count.
_COUNT_EVENTS = update(_trips).where(_trips.c.id == bindparam("tid")).values(
    event_count=_trips.c.event_count + bindparam("n", type_=Integer),
    last_seq=case((_trips.c.last_seq < bindparam("top", type_=Integer), bindparam("top", type_=Integer)),
                  else_=_trips.c.last_seq))
_COUNT_EVENTS_HELP = _COUNT_EVENTS.values(needs_help=True)


def ingest_events(session: Session, device: DeviceRef, trip_id: str,
                  events: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Store a batch of a trip's events once each, in the caller's transaction; report
    duplicates and sequence gaps. The caller commits before it answers; an error raised
    here rolls back whatever the batch wrote."""
    check_events(events)
    candidates: dict[str, Mapping[str, Any]] = {}
    for ev in events:
        candidates.setdefault(str(ev["id"]), ev)  # the first of each id counts
    gtins = sorted({ev["payload"]["gtin"] for ev in events if ev["kind"] == "scan"})
    write = _write_postgresql if session.get_bind().dialect.name == "postgresql" else _write
    trip, has_staff_events, products, stored, top = write(session, device, trip_id, candidates, gtins)
    last_seq = trip_open(trip_id, device.id, trip)
    check_scans(events, products)
    seqs = sorted(ev["seq"] for ev in candidates.values())
    prev = last_seq if follows_on(last_seq, seqs) else top
    left = {eid: ev for eid, ev in candidates.items() if eid not in stored}
    if left:
        found = session.execute(_HELD, {"ids": list(left), "dev": device.id,
                                        "seqs": sorted(ev["seq"] for ev in left.values())})
        check_left_out(trip_id, left, list(found))
    fresh, duplicates = [], []
    for ev in events:  # in the batch's order: each stored id once, every other mention a duplicate
        eid = str(ev["id"])
        if eid in stored and candidates[eid] is ev:
            fresh.append(ev)
        else:
            duplicates.append(eid)
    new_seqs = sorted(ev["seq"] for ev in fresh)
    asides = [ev for ev in fresh if ev["kind"] in ("feedback", "consent")]
    if asides:  # problem reports reach the staff's feedback queue, consent changes the member, with the scans
        store_id, member_id = session.execute(select(_trips.c.store_id, _trips.c.member_id)
                                              .where(_trips.c.id == trip_id)).one()
        member = session.get(Member, member_id) if member_id is not None else None
        for ev in asides:
            if ev["kind"] == "feedback":
                keep_feedback(session, str(ev["id"]), store_id, trip_id, member_id, ev["payload"])
            elif member is not None and member.erased_at is None and not (  # a guest's belongs to no one
                    ev["payload"]["purpose"] == "email_receipts" and ev["payload"]["given"] and not member.email):
                set_consent(session, member, ev["payload"]["purpose"], ev["payload"]["given"], source="handheld")
    return IngestResult([str(ev["id"]) for ev in fresh], duplicates, gaps(prev, new_seqs), max([prev, *new_seqs]),
                        staff_events(session, trip_id) if has_staff_events else [])


# What a batch's write read and did, for ingest_events to check and answer from: the trip's
# device, status, last sequence number and event count (None for no such trip), whether the
# store made events for it, name and sold-by-weight of the batch's products, the ids inserted,
# and the device's highest sequence number before the batch.
Written = tuple[tuple[Any, str, int, int] | None, bool, dict[str, tuple[str, bool]], set[str], int]


def _write(session: Session, device: DeviceRef, trip_id: str, candidates: Mapping[str, Mapping[str, Any]],
           gtins: list[str]) -> Written:
    """On SQLite: read the trip, the batch's products and the device's top sequence number;
    insert the events not held yet if the trip is this device's, and count them on the trip."""
    trip = session.execute(_TRIP_STATE, {"tid": trip_id}).first()
    products = _scannable(session, gtins)
    seqs = sorted(ev["seq"] for ev in candidates.values())
    # The usual batch carries on where its trip left off: the trip's last number is the device's top.
    top = trip.last_seq if trip is not None and follows_on(trip.last_seq, seqs) else \
        session.execute(_DEVICE_TOP, {"dev": device.id}).scalar() or 0
    stored: set[str] = set()
    if trip is not None and trip.device_id == device.id and candidates:
        now = utcnow()
        stored = set(session.scalars(_INSERT_EVENTS, [
            {"id": eid, "trip_id": trip_id, "device_id": device.id, "seq": ev["seq"], "kind": ev["kind"],
             "payload": dict(ev["payload"]), "occurred_at": parse_time(ev["occurred_at"]), "received_at": now}
            for eid, ev in candidates.items()]))
    fresh = [ev for eid, ev in candidates.items() if eid in stored]
    if fresh:
        bump = _COUNT_EVENTS_HELP if any(ev["kind"] == "help" for ev in fresh) else _COUNT_EVENTS
        session.execute(bump, {"tid": trip_id, "n": len(fresh), "top": max(ev["seq"] for ev in fresh)})
    return (tuple(trip[:4]) if trip is not None else None, bool(trip and trip[4]),  # type: ignore[return-value]
            products, stored, top)


# _write as one statement on PostgreSQL: one round trip instead of five (seven with BEGIN and
# COMMIT). It held 1,250-1,500 handhelds on bench/bench_sync_load.py's store trips where the
# five statements held 750 on one day and 1,000 on the next (README): the one measure beyond the
# plain path, kept so that the capacity target holds with a margin.
# Every statement of a WITH sees the snapshot from before the batch, so `top` is the device's
# highest number before it, as on SQLite.
_ONE_STATEMENT = """
WITH b AS (
    SELECT e->>0 AS id, (e->>1)::int AS seq, e->>2 AS kind, e->3 AS payload, (e->>4)::timestamptz AS occurred_at
    FROM jsonb_array_elements(%(batch)s::jsonb) AS e),
t AS (SELECT device_id, status, last_seq, event_count FROM trips WHERE id = %(tid)s),
ins AS (INSERT INTO trip_events (id, trip_id, device_id, seq, kind, payload, occurred_at, received_at)
        SELECT id, %(tid)s, %(dev)s, seq, kind, payload, occurred_at, %(now)s FROM b
        WHERE EXISTS (SELECT 1 FROM t WHERE device_id = %(dev)s)
        ON CONFLICT DO NOTHING
        RETURNING id, seq, kind),
bump AS (UPDATE trips SET event_count = event_count + (SELECT count(*) FROM ins),
                          last_seq = GREATEST(last_seq, (SELECT max(seq) FROM ins)),
                          needs_help = needs_help OR EXISTS (SELECT 1 FROM ins WHERE kind = 'help')
         WHERE id = %(tid)s AND EXISTS (SELECT 1 FROM ins))
SELECT EXISTS (SELECT 1 FROM t), t.device_id, t.status, t.last_seq, t.event_count,
       EXISTS (SELECT 1 FROM trip_events WHERE trip_id = %(tid)s AND seq >= %(server_seq)s),
       (SELECT json_agg(json_build_array(gtin, name, sold_by_weight)) FROM products
        WHERE gtin IN (SELECT jsonb_array_elements_text(%(gtins)s::jsonb)) AND active),
       ARRAY(SELECT id FROM ins),
       (SELECT max(seq) FROM trip_events WHERE device_id = %(dev)s)
FROM (SELECT 1) AS one LEFT JOIN t ON true
"""


def _write_postgresql(session: Session, device: DeviceRef, trip_id: str,
                      candidates: Mapping[str, Mapping[str, Any]], gtins: list[str]) -> Written:
    """_write on PostgreSQL, in one statement (_ONE_STATEMENT) in the session's transaction."""
    # JSON parameters, not arrays: adapting five arrays cost more than the whole batch's JSON, and
    # the GTINs as a text[] cost PostgreSQL 0.3 ms more per batch (0.95 against 0.65 ms, paired runs).
    batch = json.dumps([[eid, ev["seq"], ev["kind"], ev["payload"], parse_time(ev["occurred_at"]).isoformat()]
                        for eid, ev in candidates.items()], separators=(",", ":"))
    has_trip, trip_device, status, last_seq, event_count, has_staff_events, products, stored, top = \
        session.connection().exec_driver_sql(_ONE_STATEMENT, {
            "batch": batch, "gtins": json.dumps(gtins), "tid": trip_id, "dev": device.id, "now": utcnow(),
            "server_seq": SERVER_SEQ_BASE}).one()
    return ((trip_device, status, last_seq, event_count) if has_trip else None, has_staff_events,
            {gtin: (name, by_weight) for gtin, name, by_weight in products or []}, set(stored), top or 0)
