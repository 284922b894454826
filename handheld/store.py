"""The handheld's local SQLite file: the append-only trip event log and its trips.

Plain `sqlite3` rather than SQLAlchemy: the scan path is one INSERT and one COMMIT and
must stay well under a millisecond of Python overhead. WAL with synchronous=FULL makes
every committed event survive a kill -9 or a power cut; the schema is versioned with
PRAGMA user_version. One connection is shared by the reader, web and sync threads
behind a lock (SQLite serialises writers anyway).
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

# 2: the catalogue cache moved to its own file (handheld/catalogue.py); 3: events.wal_bound;
# 4: wal_bound gone again (the server answers only once its commit is on disk)
SCHEMA_VERSION = 4
DB_NAME = "handheld.db"

_SCHEMA = """
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,          -- per device, across trips (the server keys on device+seq)
    trip_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0       -- 0 to send, 1 stored on the server, 2 refused
);
CREATE INDEX ix_events_unsent ON events (sent, seq);
CREATE INDEX ix_events_trip ON events (trip_id, seq);
CREATE TABLE trips (
    id TEXT PRIMARY KEY,
    card_number TEXT,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,                 -- active -> finished -> handed_in
    on_server INTEGER NOT NULL DEFAULT 0, -- the server answered POST /trips
    card_rejected INTEGER NOT NULL DEFAULT 0,
    member TEXT,                          -- JSON from the server's trip answer
    offers TEXT NOT NULL DEFAULT '[]',    -- kept for the whole trip
    finish_request TEXT,                  -- JSON body for POST /finish, set when the shopper finishes
    finish_answer TEXT                    -- JSON answer of POST /finish
);
CREATE TABLE server_events (                -- made on the store server (a staff void), received with a reply
    id TEXT PRIMARY KEY,
    trip_id TEXT NOT NULL,
    seq INTEGER NOT NULL,                 -- the server's order: after every event of this device
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX ix_server_events_trip ON server_events (trip_id, seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def utc_iso(moment: datetime | None = None) -> str:
    """An aware UTC time as ISO 8601 with offset."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LoggedEvent:
    """One event of the local log (fits shop.basket.EventLike)."""

    id: str
    seq: int
    trip_id: str
    kind: str
    payload: Mapping[str, Any]
    occurred_at: str
    sent: bool = False

    def wire(self) -> dict[str, Any]:
        """The event as POST /trips/<id>/events carries it."""
        return {"id": self.id, "seq": self.seq, "kind": self.kind, "occurred_at": self.occurred_at,
                "payload": dict(self.payload)}


@dataclass(frozen=True)
class TripRow:
    """A trip as the device keeps it."""

    id: str
    card_number: str | None
    started_at: str
    status: str
    on_server: bool
    card_rejected: bool
    member: dict[str, Any] | None
    offers: list[dict[str, Any]]
    finish_request: dict[str, Any] | None
    finish_answer: dict[str, Any] | None


def _event(row: sqlite3.Row) -> LoggedEvent:
    return LoggedEvent(row["id"], row["seq"], row["trip_id"], row["kind"], json.loads(row["payload"]),
                       row["occurred_at"], bool(row["sent"]))


def _trip(row: sqlite3.Row) -> TripRow:
    def js(v: str | None) -> Any:
        return json.loads(v) if v else None

    return TripRow(row["id"], row["card_number"], row["started_at"], row["status"], bool(row["on_server"]),
                   bool(row["card_rejected"]), js(row["member"]), js(row["offers"]) or [],
                   js(row["finish_request"]), js(row["finish_answer"]))


class LocalStore:
    """The device's durable state in `<data_dir>/handheld.db`."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a commit is exactly where we say.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.last_write = 0.0  # time.monotonic() of the last commit (the checkpoint waits for a quiet moment)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # Checkpoints copy the WAL into the main file and fsync it: done by checkpoint() on the
        # sync worker's own connection, never inside a scan's commit.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: schema version {version} is newer than this handheld ({SCHEMA_VERSION})")
        with self.transaction():
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            if version == 3:  # events the server had answered before its flush go again (it stores each once)
                self._db.execute("UPDATE events SET sent = 0 WHERE sent = 3")
                self._db.execute("ALTER TABLE events DROP COLUMN wal_bound")
                self._db.execute("DELETE FROM meta WHERE key = 'server_epoch'")
            if version == 1:  # the catalogue cache lived here; it is downloaded again into catalogue.db
                for table in ("products", "promotions", "barcode_rules"):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.execute("DELETE FROM meta WHERE key IN ('catalogue_version', 'catalogue_etag')")
                for statement in _SCHEMA[_SCHEMA.index("CREATE TABLE server_events"):_SCHEMA.index("CREATE TABLE meta")].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def wal_bytes(self) -> int:
        """Size of the write-ahead log file (0 when there is none)."""
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def checkpoint(self) -> None:
        """Copy committed WAL frames into the database file (PASSIVE: never blocks the scan path)."""
        conn = sqlite3.connect(self.path, timeout=1.0)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError:
            pass  # busy: the next round does it
        finally:
            conn.close()

    def close(self) -> None:
        """Close the file."""
        with self.lock:
            self._db.close()

    def transaction(self) -> _Tx:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT) holding the store lock."""
        return _Tx(self)

    def execute(self, sql: str, params: tuple[Any, ...] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement (autocommit unless inside transaction())."""
        with self.lock:
            return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterator[Any] | list[Any]) -> None:
        """Run one statement for many rows."""
        with self.lock:
            self._db.executemany(sql, rows)

    # --- event log ------------------------------------------------------------------------
    def append(self, trip_id: str, kind: str, payload: Mapping[str, Any]) -> LoggedEvent:
        """Append one event and commit it (durable when this returns)."""
        with self.transaction():
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").fetchone()[0]
            ev = LoggedEvent(str(uuid.uuid4()), seq, trip_id, kind, dict(payload), utc_iso())
            self._db.execute("INSERT INTO events (id, seq, trip_id, kind, payload, occurred_at) VALUES (?,?,?,?,?,?)",
                             (ev.id, ev.seq, trip_id, kind, json.dumps(ev.payload, separators=(",", ":")),
                              ev.occurred_at))
        return ev

    def trip_events(self, trip_id: str) -> list[LoggedEvent]:
        """Every event of a trip in device order."""
        rows = self.execute("SELECT * FROM events WHERE trip_id = ? ORDER BY seq", (trip_id,)).fetchall()
        return [_event(r) for r in rows]

    def add_server_events(self, trip_id: str, events: list[Mapping[str, Any]]) -> list[LoggedEvent]:
        """Keep events the server made for this trip; return those not held before."""
        added = []
        with self.transaction() as db:
            for e in events:
                ev = LoggedEvent(str(e["id"]), int(e["seq"]), trip_id, str(e["kind"]), dict(e.get("payload") or {}),
                                 str(e.get("occurred_at") or utc_iso()), True)
                cur = db.execute("INSERT OR IGNORE INTO server_events (id, trip_id, seq, kind, payload, occurred_at) "
                                 "VALUES (?,?,?,?,?,?)", (ev.id, trip_id, ev.seq, ev.kind,
                                                          json.dumps(ev.payload, separators=(",", ":")), ev.occurred_at))
                if cur.rowcount:
                    added.append(ev)
        return added

    def server_events(self, trip_id: str) -> list[LoggedEvent]:
        """The server's own events of a trip, in its order."""
        rows = self.execute("SELECT *, 1 AS sent FROM server_events WHERE trip_id = ? ORDER BY seq", (trip_id,)).fetchall()
        return [_event(r) for r in rows]

    def unsent(self, limit: int) -> list[LoggedEvent]:
        """The oldest unsent events (any trip), in device order."""
        rows = self.execute("SELECT * FROM events WHERE sent = 0 ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_event(r) for r in rows]

    def acknowledge(self, ids: list[str]) -> None:
        """Record a server answer: events `ids` are stored there (now, or already before)."""
        with self.transaction():
            self._db.executemany("UPDATE events SET sent = 1 WHERE id = ? AND sent <> 1", [(i,) for i in ids])

    def pending_count(self) -> int:
        """How many events wait for the server."""
        return int(self.execute("SELECT COUNT(*) FROM events WHERE sent = 0").fetchone()[0])

    # --- trips ------------------------------------------------------------------------------
    def start_trip(self, card_number: str | None) -> TripRow:
        """Create a new active trip (durable when this returns)."""
        trip_id = str(uuid.uuid4())
        with self.transaction():
            self._db.execute("INSERT INTO trips (id, card_number, started_at, status) VALUES (?,?,?, 'active')",
                             (trip_id, card_number, utc_iso()))
        trip = self.trip(trip_id)
        assert trip is not None
        return trip

    def trip(self, trip_id: str) -> TripRow | None:
        """One trip by id."""
        row = self.execute("SELECT * FROM trips WHERE id = ?", (trip_id,)).fetchone()
        return _trip(row) if row else None

    def current_trip(self) -> TripRow | None:
        """The trip the device is bound to (active or finished, not yet handed in)."""
        row = self.execute("SELECT * FROM trips WHERE status IN ('active', 'finished') "
                           "ORDER BY started_at DESC LIMIT 1").fetchone()
        return _trip(row) if row else None

    def trips_needing_server(self) -> list[TripRow]:
        """Trips the server has not created yet, or whose finish it has not answered."""
        rows = self.execute("SELECT * FROM trips WHERE on_server = 0 OR "
                            "(finish_request IS NOT NULL AND finish_answer IS NULL) ORDER BY started_at").fetchall()
        return [_trip(r) for r in rows]

    def update_trip(self, trip_id: str, **values: Any) -> None:
        """Set columns of a trip (dicts and lists stored as JSON)."""
        cols = ", ".join(f"{k} = ?" for k in values)
        params = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in values.values()]
        with self.transaction():
            self._db.execute(f"UPDATE trips SET {cols} WHERE id = ?", (*params, trip_id))

    # --- meta -------------------------------------------------------------------------------
    def meta(self, key: str, default: str | None = None) -> str | None:
        """A small named value."""
        row = self.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Set a small named value (call inside or outside a transaction)."""
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     (key, value))


class _Tx:
    """BEGIN IMMEDIATE on enter, COMMIT on success, ROLLBACK on error; re-entrant by nesting depth."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store.lock.acquire()
        db = self.store._db
        self.outer = not db.in_transaction
        if self.outer:
            db.execute("BEGIN IMMEDIATE")
        return db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if self.outer:
                self.store._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
                if exc_type is None:
                    self.store.last_write = time.monotonic()
        finally:
            self.store.lock.release()
