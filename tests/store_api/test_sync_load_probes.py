"""The sync load bench's disk probe: what it measures and how slow batches are laid against it."""
from __future__ import annotations

import time
from pathlib import Path

from bench.bench_sync_load import _during, _flush_probe, _probe


def test_a_slow_batch_counts_against_the_disk_only_when_in_flight_during_a_stall() -> None:
    stalls = [10.0, 10.4, 20.0, 20.1]  # two flushes over 50 ms: start, end, start, end
    batches = [(9.9, 10.5),   # spans the first stall
               (10.3, 10.6),  # began during it
               (10.4, 10.9),  # began as it ended: waited on the queue, not the flush
               (15.0, 15.2),  # no stall near
               (19.5, 20.0)]  # ended as the second began
    assert _during(batches, stalls) == 2
    assert _during(batches, []) == 0


def test_the_flush_probe_flushes_until_told_to_stop_and_leaves_nothing_behind(tmp_path: Path) -> None:
    probe = _flush_probe(str(tmp_path))
    deadline = time.monotonic() + 30
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:  # its file is made ahead
        time.sleep(0.01)
    time.sleep(0.3)  # a few 50 ms rounds
    longest, median, *stalls = _probe(probe)
    assert probe.returncode == 0
    assert longest >= median > 0
    assert len(stalls) % 2 == 0 and all(end > start for start, end in zip(stalls[::2], stalls[1::2]))
    assert list(tmp_path.iterdir()) == []
