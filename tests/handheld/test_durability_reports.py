"""The device keeps an acknowledged event until the server reports it on disk, and sends it again after a crash."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from handheld.store import LocalStore


def _states(store: LocalStore) -> list[tuple[int, int | None]]:
    return [(r["sent"], r["wal_bound"]) for r in store.execute("SELECT sent, wal_bound FROM events ORDER BY seq")]


def _later(epoch: str, written: int, flushed: int) -> dict[str, Any]:
    return {"epoch": epoch, "synchronous": False, "written": written, "flushed": flushed}


def _trip_of(store: LocalStore, n: int) -> list[str]:
    trip = store.start_trip(None)
    return [store.append(trip.id, "scan", {"gtin": f"{i:013d}"}).id for i in range(n)]


def test_an_event_answered_before_the_flush_waits_for_a_later_answer_to_report_it_on_disk(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a, b = _trip_of(store, 2)
    assert store.acknowledge([a], _later("E1", 100, 90)) == 0
    assert _states(store) == [(3, None), (0, None)]  # stored, its commit's position not known yet
    store.acknowledge([b], _later("E1", 200, 150))  # a committed before 200, which is not on disk yet
    assert _states(store) == [(3, 200), (3, None)]
    store.acknowledge([], _later("E1", 300, 250))
    assert _states(store) == [(1, None), (3, 300)]
    assert store.awaiting_flush() == 1 and store.pending_count() == 0
    store.close()


def test_a_new_epoch_sends_again_every_event_not_reported_on_disk(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a, b, c = _trip_of(store, 3)
    store.acknowledge([a], _later("E1", 100, 90))
    store.acknowledge([], _later("E1", 200, 150))  # a committed before 200
    store.acknowledge([b], _later("E1", 300, 250))  # ... which is on disk now
    assert [s for s, _ in _states(store)] == [1, 3, 0]
    assert store.acknowledge([c], _later("E2", 50, 40)) == 1  # recovered from a crash: b may be lost
    assert _states(store) == [(1, None), (0, None), (3, None)]
    assert [e.id for e in store.unsent(10)] == [b]
    assert store.meta("server_epoch") == "E2"
    store.close()


def test_a_synchronous_answer_puts_every_waiting_event_on_disk(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a, b, c = _trip_of(store, 3)
    store.acknowledge([a], _later("E1", 100, 90))
    store.acknowledge([b], _later("E1", 200, 150))
    store.acknowledge([c], {"epoch": "E1", "synchronous": True})
    assert _states(store) == [(1, None), (1, None), (1, None)]
    store.close()


def test_an_answer_without_a_report_is_on_disk_at_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a, _ = _trip_of(store, 2)
    store.acknowledge([a], None)  # SQLite server: committed to disk before it answered
    assert _states(store) == [(1, None), (0, None)]
    store.close()


def test_an_event_on_disk_stays_so_when_an_answer_lists_it_again(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (a,) = _trip_of(store, 1)
    store.acknowledge([a], {"epoch": "E1", "synchronous": True})
    store.acknowledge([a], _later("E1", 100, 90))  # a resend answered as a duplicate
    assert _states(store) == [(1, None)]
    assert store.acknowledge([], _later("E2", 10, 10)) == 0  # nothing to send again after a crash either
    store.close()


def test_a_version_2_file_keeps_its_acknowledged_events_acknowledged(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    a, _ = _trip_of(store, 2)
    store.acknowledge([a], None)
    store.execute("ALTER TABLE events RENAME TO events_v3")
    store.execute("CREATE TABLE events (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, trip_id TEXT NOT NULL, "
                  "kind TEXT NOT NULL, payload TEXT NOT NULL, occurred_at TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0)")
    store.execute("INSERT INTO events SELECT id, seq, trip_id, kind, payload, occurred_at, sent FROM events_v3")
    store.execute("DROP TABLE events_v3")
    store.execute("PRAGMA user_version = 2")
    store.close()
    again = LocalStore(tmp_path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == 3
    assert _states(again) == [(1, None), (0, None)]
    again.close()
