"""The event log is checkpointed in quiet moments, never in the middle of a burst of scans."""
from __future__ import annotations

import sqlite3
import time

import pytest

from handheld.client import ApiClient
from handheld.device import Handheld
from handheld.sync import CHECKPOINT_WAL_BYTES, EventSync, checkpoint_due


@pytest.mark.parametrize(("since_checkpoint", "since_write", "wal_bytes", "due"), [
    (10.0, 5.0, 1_000, True),                     # quiet for a while: checkpoint
    (10.0, 0.1, 1_000, False),                    # the shopper is scanning: wait
    (10.0, 0.1, CHECKPOINT_WAL_BYTES, True),      # ... unless the log has grown big
    (1.0, 5.0, CHECKPOINT_WAL_BYTES, False),      # never more often than every few seconds
])
def test_checkpoint_waits_for_a_quiet_moment(since_checkpoint: float, since_write: float, wal_bytes: int,
                                             due: bool) -> None:
    now = 1_000.0
    assert checkpoint_due(now, now - since_checkpoint, now - since_write, wal_bytes) is due


def test_sync_worker_defers_the_checkpoint_while_scans_commit_and_does_it_once_quiet(
        device: Handheld, monkeypatch: pytest.MonkeyPatch) -> None:
    store = device.store
    for _ in range(5):
        store.append("trip-not-on-the-server", "scan", {"gtin": "0"})
    assert store.last_write > time.monotonic() - 5 and store.wal_bytes() > 0
    calls: list[int] = []
    monkeypatch.setattr(store, "checkpoint", lambda: calls.append(1))
    sync = EventSync(device, ApiClient("http://127.0.0.1:9", "t", timeout=1))
    sync.step()
    assert calls == []  # the last commit was just now
    store.last_write -= 2.0
    sync.step()
    assert calls == [1]


def test_checkpoint_copies_the_committed_log_into_the_database_file(device: Handheld) -> None:
    store = device.store
    for _ in range(200):
        store.append("t", "scan", {"gtin": "0"})
    before = store.path.stat().st_size  # the events are in the log (WAL) only
    store.checkpoint()
    assert store.path.stat().st_size > before
    probe = sqlite3.connect(store.path)
    try:
        busy, frames, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        probe.close()
    assert busy == 0 and copied == frames  # nothing was left for the probe to copy
