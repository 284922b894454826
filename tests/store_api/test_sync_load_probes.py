"""The sync load bench's disk probe and stall injector: what they do and how slow batches are laid against stalls."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from bench.bench_sync_load import _during, _flush_probe, _next_count, _probe, _stall_probe
from bench.disk_stalls import GROUP, DiskStalls, disk_of
from bench.disk_stalls import parse as parse_stalls
from bench.disk_stalls import usable as stalls_unusable
from db import localpg


def test_a_slow_batch_counts_against_the_disk_only_when_in_flight_during_a_stall() -> None:
    stalls = [10.0, 10.4, 20.0, 20.1]  # two flushes over 50 ms: start, end, start, end
    batches = [(9.9, 10.5),   # spans the first stall
               (10.3, 10.6),  # began during it
               (10.4, 10.9),  # began as it ended: waited on the queue, not the flush
               (15.0, 15.2),  # no stall near
               (19.5, 20.0)]  # ended as the second began
    assert _during(batches, stalls) == [True, True, False, False, False]
    assert _during(batches, []) == [False] * 5


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


def test_the_stall_probe_sleeps_until_told_to_stop_and_reports_its_longest_oversleep() -> None:
    probe = _stall_probe()
    time.sleep(0.2)
    (oversleep,) = _probe(probe)
    assert probe.returncode == 0 and 0 <= oversleep < 5


def test_the_capacity_search_doubles_to_the_cap_then_bisects_after_a_failure_to_within_a_quarter() -> None:
    assert [_next_count(n, n, None, 4000) for n in (250, 500, 1000, 2000, 4000)] == [500, 1000, 2000, 4000, None]
    assert _next_count(2000, 1000, 2000, 4000) == 1500  # 1,000 held, 2,000 failed
    assert _next_count(1500, 1500, 2000, 4000) == 1750
    assert _next_count(1750, 1500, 1750, 4000) is None  # within a quarter of 1,500
    assert _next_count(250, 0, 250, 4000) == 100  # even the first step failed
    assert _next_count(100, 0, 100, 4000) is None


def test_disk_stalls_are_asked_for_as_hold_over_period_and_bad_values_say_why() -> None:
    assert parse_stalls("0.6/5") == (0.6, 5.0)
    for bad, says in (("x", "HOLD/PERIOD"), ("1/0.5", "below the period"), ("0/5", "above 0"), ("1/2/3", "e.g.")):
        with pytest.raises(ValueError, match=says):
            parse_stalls(bad)


def test_stalls_are_held_on_the_whole_disk_under_the_database() -> None:
    disk = disk_of("/")
    major, minor = (int(x) for x in disk.split(":"))
    assert Path(f"/sys/dev/block/{major}:{minor}").exists()
    assert not Path(f"/sys/dev/block/{major}:{minor}/partition").exists()  # a whole disk, not a partition


@pytest.mark.postgres
def test_the_stall_injector_holds_the_database_server_and_lets_it_go(pg_server: None) -> None:
    if (why := stalls_unusable()) is not None:
        pytest.fail(f"this machine runs the suite as root with cgroup v1 blkio; {why}")
    with DiskStalls(disk_of("/var/lib/postgresql"), hold=0.05, period=0.1) as stalls:
        deadline = time.monotonic() + 30
        while stalls.count < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        held = set((GROUP / "cgroup.procs").read_text().split())
        postmaster = subprocess.run(["pgrep", "-u", "postgres", "-o", "postgres"], capture_output=True,
                                    text=True).stdout.split()
    assert stalls.count >= 2 and postmaster and postmaster[0] in held
    assert not GROUP.exists()  # the group removed, the server's processes back in the root group:
    assert any(line.endswith(":blkio:/") for line in Path(f"/proc/{postmaster[0]}/cgroup").read_text().splitlines())
    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
