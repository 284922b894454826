"""The sync path on PostgreSQL: a well-formed batch in one statement, committed on its own.

The statement reads the trip, the device and the stored events the batch touches, and
inserts the fresh events and bumps the trip only when every check the general path makes
(server/ingest.py) passes; it returns what it read, so Python gives the same answers and
errors from the same helpers. Nothing is written unless the whole batch is accepted, so
the statement can run outside a transaction block: one round trip per batch where the
general path needs six (BEGIN, trip, held events, INSERT, UPDATE, COMMIT).
"""
from __future__ import annotations

import json
import threading
from typing import Any, Mapping, Sequence
from weakref import WeakKeyDictionary

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from db.base import utcnow
from db.session import make_engine
from server.api.schemas import parse_time
from server.errors import ApiError
from server.basket import SERVER_SEQ_BASE
from server.ingest import (LAST_SEEN_EVERY, REVOKED, DeviceRef, IngestResult, check_scans, follows_on, gaps,
                           scannable, sort_out, staff_event_json, trip_open)

# %(check)s: the device comes from the API's token cache, so refuse it here if revoked and
# mark it seen. `ok` holds exactly the general path's refusals (trip_open, sort_out);
# ON CONFLICT covers a concurrent copy of the same batch stored since this one's snapshot.
# `held` looks each event up by key (LATERAL ... LIMIT 1) rather than `= ANY(array)`: psycopg
# prepares the statement, and a generic plan made while trip_events was small scanned the
# whole table for `= ANY` ever after (found when the bench's cost per batch grew with the table).
INGEST = """
WITH b AS (
    SELECT e->>0 AS id, (e->>1)::int AS seq, e->>2 AS kind, e->3 AS payload, (e->>4)::timestamptz AS occurred_at
    FROM jsonb_array_elements(%(batch)s::jsonb) AS e),
t AS (SELECT device_id, status, last_seq FROM trips WHERE id = %(tid)s),
live AS (SELECT 1 FROM devices WHERE %(check)s AND id = %(dev)s AND revoked_at IS NULL),
seen AS (UPDATE devices SET last_seen_at = %(now)s
         WHERE %(check)s AND id = %(dev)s AND revoked_at IS NULL
           AND (last_seen_at IS NULL OR last_seen_at <= %(stale)s) RETURNING 1),
held AS (SELECT h.* FROM b, LATERAL (SELECT id, trip_id, seq, device_id FROM trip_events
                                       WHERE id = b.id LIMIT 1) AS h
         UNION ALL
         SELECT h.* FROM b, LATERAL (SELECT id, trip_id, seq, device_id FROM trip_events
                                       WHERE device_id = %(dev)s AND seq = b.seq LIMIT 1) AS h),
fresh AS (SELECT * FROM b WHERE id NOT IN (SELECT id FROM held)),
ok AS (SELECT 1 FROM t
       WHERE t.device_id = %(dev)s AND t.status NOT IN ('checked_out', 'abandoned')
         AND (NOT %(check)s OR EXISTS (SELECT 1 FROM live))
         AND NOT EXISTS (SELECT 1 FROM held JOIN b USING (id) WHERE held.trip_id <> %(tid)s)
         AND NOT EXISTS (SELECT 1 FROM held JOIN fresh USING (seq) WHERE held.device_id = %(dev)s)),
ins AS (INSERT INTO trip_events (id, trip_id, device_id, seq, kind, payload, occurred_at, received_at)
        SELECT id, %(tid)s, %(dev)s, seq, kind, payload, occurred_at, %(now)s FROM fresh
        WHERE EXISTS (SELECT 1 FROM ok)
        ON CONFLICT (id) DO NOTHING
        RETURNING id, seq, kind),
bump AS (UPDATE trips SET event_count = event_count + (SELECT count(*) FROM ins),
                          last_seq = GREATEST(last_seq, (SELECT max(seq) FROM ins)),
                          needs_help = needs_help OR EXISTS (SELECT 1 FROM ins WHERE kind = 'help')
         WHERE id = %(tid)s AND EXISTS (SELECT 1 FROM ins) RETURNING 1)
SELECT EXISTS (SELECT 1 FROM t), t.device_id, t.status, t.last_seq, EXISTS (SELECT 1 FROM live),
       (SELECT json_agg(json_build_array(id, trip_id, seq, device_id)) FROM held),
       (SELECT max(seq) FROM trip_events WHERE device_id = %(dev)s),
       ARRAY(SELECT id FROM ins),
       (SELECT json_agg(json_build_array(id, seq, kind, payload, occurred_at) ORDER BY seq) FROM trip_events
        WHERE trip_id = %(tid)s AND seq >= %(server_seq)s)
FROM (SELECT 1) AS one LEFT JOIN t ON true
"""


def ingest_one_statement(session: Session, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
                         check_device: bool) -> IngestResult:
    """Store a checked, well-formed batch with one statement; same answers and errors as the general path."""
    params = _params(device, trip_id, events, check_device)
    if session.in_transaction():  # the session has read something (a catalogue miss): join its transaction
        row = session.connection().exec_driver_sql(INGEST, params).one()
    else:
        row = _run(session.get_bind(), params)  # type: ignore[arg-type]
    return _answer(row, device, trip_id, events, check_device)


def ingest_without_session(engine: Engine, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
                           check_device: bool) -> IngestResult | None:
    """The usual batch on PostgreSQL with no ORM session at all: conforming events (event_ok), every
    GTIN known from this worker's catalogue cache (or one light query). None when the batch needs
    ingest_events instead: another database, a batch check_scans refuses (ingest_events gives the
    trip's own errors first), or any database error (ingest_events runs it again with its retries)."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        check_scans(events, scannable(engine, {ev["payload"]["gtin"] for ev in events if ev["kind"] == "scan"}))
    except (ApiError, sa_exc.DBAPIError):
        return None
    try:
        row = _run(engine, _params(device, trip_id, events, check_device))
    except sa_exc.DBAPIError:
        return None
    return _answer(row, device, trip_id, events, check_device)


def _params(device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]], check_device: bool) -> dict[str, Any]:
    first: dict[str, Mapping[str, Any]] = {}
    for ev in events:
        first.setdefault(ev["id"], ev)
    # One JSON parameter: adapting five arrays cost more than the whole batch's JSON.
    batch = json.dumps([[eid, ev["seq"], ev["kind"], ev["payload"], parse_time(ev["occurred_at"]).isoformat()]
                        for eid, ev in first.items()], separators=(",", ":"))
    now = utcnow()
    return {"tid": trip_id, "dev": device.id, "check": check_device, "now": now, "stale": now - LAST_SEEN_EVERY,
            "batch": batch, "server_seq": SERVER_SEQ_BASE}


def _answer(row: Any, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
            check_device: bool) -> IngestResult:
    """The general path's answer (or error) from what INGEST read and wrote."""
    has_trip, trip_device, status, last_seq, live, found, top, inserted, staff = row
    if check_device and not live:
        raise ApiError(401, REVOKED)
    last_seq = trip_open(trip_id, device.id, (trip_device, status, last_seq) if has_trip else None)
    fresh, duplicates = sort_out(trip_id, device.id, events, found or [])
    new_seqs = sorted(ev["seq"] for ev in fresh.values())
    prev = last_seq if follows_on(last_seq, new_seqs) else int(top or 0)
    stored = set(inserted)
    # An id not inserted although fresh was stored by a concurrent copy of this batch.
    late = [eid for eid in fresh if eid not in stored]
    return IngestResult([eid for eid in fresh if eid in stored], duplicates + late, gaps(prev, new_seqs),
                        max([prev, *new_seqs]), [staff_event_json(*e) for e in staff or []])


# PostgreSQL plans a prepared statement afresh for its first five runs, then keeps a generic
# plan only if that looks no dearer than the fresh ones. For INGEST on a store with few trips
# it never does: every batch was planned again, 0.7 ms of PostgreSQL's CPU on top of the
# statement's 0.5 ms. Its connections therefore always use the generic plan. They come from a
# twin pool of their own, so the rest of the server keeps PostgreSQL's choice, which is the
# right one for a query on a skewed column such as the live trips' `status = 'active'`.
GENERIC_PLANS = {"options": "-c plan_cache_mode=force_generic_plan"}
_TWINS: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()
_TWINS_LOCK = threading.Lock()


def sync_engine(engine: Engine) -> Engine:
    """The pool INGEST runs on: same database as `engine`, disposed with it, generic plans only."""
    twin = _TWINS.get(engine)
    if twin is not None:
        return twin
    with _TWINS_LOCK:
        twin = _TWINS.get(engine)
        if twin is None:
            twin = make_engine(engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=8,
                               connect_args=GENERIC_PLANS)
            event.listen(engine, "engine_disposed", lambda _engine, twin=twin: twin.dispose())
            _TWINS[engine] = twin
    return twin


def _run(engine: Engine, params: dict[str, Any]) -> Any:
    """Execute INGEST on a pooled connection of the engine's twin (sync_engine), outside a transaction block.

    Plain psycopg, not SQLAlchemy's execution layer (a quarter of the path's CPU); its errors
    are raised as SQLAlchemy's, so the API's retry on a key clash or a dropped connection
    works the same.
    """
    raw = sync_engine(engine).raw_connection()
    driver: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    try:
        driver.autocommit = True  # one statement is atomic and durable on its own: no BEGIN/COMMIT
        cursor = driver.execute(INGEST, params)
        driver.autocommit = False
        return cursor.fetchone()
    except psycopg.Error as err:
        raw.invalidate()  # its state after a failed statement is not worth trusting: reconnect
        if isinstance(err, psycopg.IntegrityError):
            raise sa_exc.IntegrityError(INGEST, None, err) from err
        raise sa_exc.DBAPIError(INGEST, None, err, connection_invalidated=True) from err
    finally:
        raw.close()
