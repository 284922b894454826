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
import os
import threading
import weakref
from typing import Any, Mapping, Sequence
from weakref import WeakKeyDictionary, WeakSet

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from db.base import utcnow
from db.session import connection_closed_by_server
from server.api.schemas import parse_time
from server import durability
from server.basket import SERVER_SEQ_BASE
from server.errors import ApiError
from server.ingest import (LAST_SEEN_EVERY, MAX_TRIP_EVENTS, REVOKED, DeviceRef, IngestResult, check_scans, follows_on, gaps,
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
t AS (SELECT device_id, status, last_seq, event_count FROM trips WHERE id = %(tid)s),
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
         AND t.event_count < %(max_events)s
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
SELECT EXISTS (SELECT 1 FROM t), t.device_id, t.status, t.last_seq, t.event_count, EXISTS (SELECT 1 FROM live),
       (SELECT json_agg(json_build_array(id, trip_id, seq, device_id)) FROM held),
       (SELECT max(seq) FROM trip_events WHERE device_id = %(dev)s),
       ARRAY(SELECT id FROM ins),
       (SELECT json_agg(json_build_array(id, seq, kind, payload, occurred_at) ORDER BY seq) FROM trip_events
        WHERE trip_id = %(tid)s AND seq >= %(server_seq)s),
       (SELECT epoch FROM sync_epoch WHERE id = 1),
       pg_current_wal_insert_lsn() - '0/0'::pg_lsn, pg_current_wal_flush_lsn() - '0/0'::pg_lsn
FROM (SELECT 1) AS one LEFT JOIN t ON true
"""


def ingest_one_statement(session: Session, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
                         check_device: bool) -> IngestResult:
    """Store a checked, well-formed batch with one statement in the session's transaction; same
    answers and errors as the general path. The caller commits (synchronously) and reports."""
    row = session.connection().exec_driver_sql(INGEST, _params(device, trip_id, events, check_device)).one()
    return _answer(row, device, trip_id, events, check_device)


def ingest_without_session(engine: Engine, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
                           check_device: bool) -> IngestResult | None:
    """The usual batch on PostgreSQL with no ORM session at all, answered before its commit is
    flushed, so only for a client that keeps events until told they are on disk (durability.aware):
    conforming events (event_ok), every
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
    result = _answer(row, device, trip_id, events, check_device)
    # No epoch (its table emptied under a live connection): the general path answers, finding this
    # batch stored, and reports with a fresh epoch.
    return result if result.durability is not None else None


def _params(device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]], check_device: bool) -> dict[str, Any]:
    first: dict[str, Mapping[str, Any]] = {}
    for ev in events:
        first.setdefault(ev["id"], ev)
    # One JSON parameter: adapting five arrays cost more than the whole batch's JSON.
    batch = json.dumps([[eid, ev["seq"], ev["kind"], ev["payload"], parse_time(ev["occurred_at"]).isoformat()]
                        for eid, ev in first.items()], separators=(",", ":"))
    now = utcnow()
    return {"tid": trip_id, "dev": device.id, "check": check_device, "now": now, "stale": now - LAST_SEEN_EVERY,
            "batch": batch, "server_seq": SERVER_SEQ_BASE, "max_events": MAX_TRIP_EVENTS}


def _answer(row: Any, device: DeviceRef, trip_id: str, events: Sequence[Mapping[str, Any]],
            check_device: bool) -> IngestResult:
    """The general path's answer (or error) from what INGEST read and wrote."""
    has_trip, trip_device, status, last_seq, event_count, live, found, top, inserted, staff, epoch, written, flushed = row
    if check_device and not live:
        raise ApiError(401, REVOKED)
    last_seq = trip_open(trip_id, device.id, (trip_device, status, last_seq, event_count) if has_trip else None)
    fresh, duplicates = sort_out(trip_id, device.id, events, found or [])
    new_seqs = sorted(ev["seq"] for ev in fresh.values())
    prev = last_seq if follows_on(last_seq, new_seqs) else int(top or 0)
    stored = set(inserted)
    # An id not inserted although fresh was stored by a concurrent copy of this batch.
    late = [eid for eid in fresh if eid not in stored]
    return IngestResult([eid for eid in fresh if eid in stored], duplicates + late, gaps(prev, new_seqs),
                        max([prev, *new_seqs]), [staff_event_json(*e) for e in staff or []],
                        None if epoch is None else durability.report(epoch, written, flushed))


# PostgreSQL plans a prepared statement afresh for its first five runs, then keeps a generic
# plan only if that looks no dearer than the fresh ones. For INGEST on a store with few trips
# it never does: every batch was planned again, 0.7 ms of PostgreSQL's CPU on top of the
# statement's 0.5 ms. Its connections therefore always use the generic plan. They are its
# own, so the rest of the server keeps PostgreSQL's choice, which is the right one for a
# query on a skewed column such as the live trips' `status = 'active'`.
#
# A generic plan is made once per connection from the statistics of that moment and kept
# until the next ANALYZE. Made while a table was small (a new store, the morning after a
# purge), it scanned devices and trip_events whole: a batch cost 0.4 ms of PostgreSQL's CPU
# on 300 devices and grew to 2.4 ms as one trip's events piled up before autovacuum's
# ANALYZE came round. Every lookup INGEST makes is by key, so its connections never plan a
# sequential scan.
GENERIC_PLANS = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off"
# A batch answered here is not yet on disk; the handheld keeps it until the answers report it
# flushed (server/durability.py). Waiting for the flush bounded the answer by the disk's worst
# flush (100-800 ms stalls on the benchmark machine) and cost a quarter of PostgreSQL's CPU per batch.
ASYNC_COMMIT = "-c synchronous_commit=off"


class SyncConnections:
    """The connections INGEST runs on, kept open between batches: in autocommit, generic plans
    only, commits not waiting for the flush, each with its cursor. A sync worker uses one; a threaded server one per request
    running, keeping up to KEEP_IDLE. Checking a connection out of SQLAlchemy's pool,
    switching autocommit on and off and making a cursor for every batch was a fifth of the
    lane's CPU. A connection the server has closed is replaced before use; all are closed
    with the engine; a forked process makes its own."""

    KEEP_IDLE = 8

    def __init__(self, engine: Engine) -> None:
        self.url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pid = os.getpid()
        self.idle: list[psycopg.Cursor[Any]] = []
        self.inherited: list[psycopg.Cursor[Any]] = []
        self.opened: WeakSet[psycopg.Connection[Any]] = WeakSet()

    def take(self) -> psycopg.Cursor[Any]:
        """An idle cursor on a live connection, or one on a new connection."""
        if self.pid != os.getpid():  # forked: the parent's connections are the parent's to close
            self.inherited = self.idle  # kept, not closed (that would end the parent's sessions)
            self.pid, self.idle, self.opened = os.getpid(), [], WeakSet()
        while self.idle:
            try:
                cursor = self.idle.pop()
            except IndexError:  # another thread took the last one
                break
            if not connection_closed_by_server(cursor.connection):
                return cursor
            cursor.connection.close()
        conn = psycopg.connect(self.url, autocommit=True, options=f"{GENERIC_PLANS} {ASYNC_COMMIT}")
        self.opened.add(conn)
        cursor = conn.cursor()
        try:
            cursor.execute(durability.ENSURE_EPOCH)  # a new connection may be the first since a crash
        except BaseException:
            conn.close()
            raise
        return cursor

    def give(self, cursor: psycopg.Cursor[Any]) -> None:
        """Keep a cursor taken for the next batch (close it when enough are kept)."""
        if len(self.idle) < self.KEEP_IDLE:
            self.idle.append(cursor)
        else:
            cursor.connection.close()

    def close_all(self) -> None:
        idle, self.idle = self.idle, []  # `idle` holds them until closed: a dropped open one warns
        for conn in list(self.opened):
            conn.close()
        del idle


_CONNECTIONS: WeakKeyDictionary[Engine, SyncConnections] = WeakKeyDictionary()
_CONNECTIONS_LOCK = threading.Lock()


def sync_connections(engine: Engine) -> SyncConnections:
    """INGEST's connections to the database of `engine`, closed when it is disposed or dropped."""
    held = _CONNECTIONS.get(engine)
    if held is not None:
        return held
    with _CONNECTIONS_LOCK:
        held = _CONNECTIONS.get(engine)
        if held is None:
            held = _CONNECTIONS[engine] = SyncConnections(engine)
            event.listen(engine, "engine_disposed", lambda _engine, held=held: held.close_all())
            weakref.finalize(engine, held.close_all)  # an engine dropped without dispose()
    return held


def _run(engine: Engine, params: dict[str, Any]) -> Any:
    """Execute INGEST on a kept connection (sync_connections), outside a transaction block.

    Plain psycopg, not SQLAlchemy's execution layer (a quarter of the path's CPU); its errors
    are raised as SQLAlchemy's, so the API's retry on a key clash or a dropped connection
    works the same.
    """
    held = sync_connections(engine)
    cursor = None
    try:
        cursor = held.take()
        row = cursor.execute(INGEST, params).fetchone()
    except BaseException as err:
        if cursor is not None:
            cursor.connection.close()  # its state after a failed statement is not worth trusting
        if isinstance(err, psycopg.IntegrityError):
            raise sa_exc.IntegrityError(INGEST, None, err) from err
        if isinstance(err, psycopg.Error):
            raise sa_exc.DBAPIError(INGEST, None, err, connection_invalidated=True) from err
        raise
    held.give(cursor)
    return row
