"""Disk stalls on purpose: hold PostgreSQL's writes for a moment, again and again.

The benchmark machine's disk now and then takes 100-800 ms over one flush. To measure what
such a stall does to the sync path without waiting for one, this moves every process of the
PostgreSQL server into a cgroup (v1 blkio) and, every `period` seconds, limits that cgroup
to one write per second on the database's disk for `hold` seconds: every WAL flush and every
commit that waits on one stalls, exactly as on a slow disk, while the benchmark's own
processes write freely. Needs root and the blkio controller at /sys/fs/cgroup/blkio.
"""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

BLKIO = Path("/sys/fs/cgroup/blkio")
GROUP = BLKIO / "shopgo-bench-stalls"


def parse(spec: str) -> tuple[float, float]:
    """'HOLD/PERIOD' in seconds, e.g. '0.6/5' -> (0.6, 5.0); ValueError saying what is wrong."""
    try:
        hold, period = (float(x) for x in spec.split("/"))
    except ValueError:
        raise ValueError(f"--disk-stalls takes HOLD/PERIOD in seconds, e.g. 0.6/5, not {spec!r}") from None
    if not 0 < hold < period:
        raise ValueError(f"--disk-stalls: the hold ({hold} s) must be above 0 and below the period ({period} s)")
    return hold, period


def disk_of(folder: str) -> str:
    """'major:minor' of the whole disk under `folder` (blkio limits whole disks, not partitions)."""
    dev = os.stat(folder).st_dev
    block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if (block / "partition").exists():
        block = block.resolve().parent
    return (block / "dev").read_text().strip() if (block / "dev").exists() else f"{os.major(dev)}:{os.minor(dev)}"


def usable() -> str | None:
    """None when stalls can be injected here, else why not (and what to do)."""
    if os.geteuid() != 0:
        return "--disk-stalls needs root (it moves PostgreSQL's processes into a blkio cgroup)"
    if not (BLKIO / "cgroup.procs").exists():
        return "--disk-stalls needs the cgroup v1 blkio controller mounted at /sys/fs/cgroup/blkio"
    return None


def disk_usable(disk: str) -> str | None:
    """None when `disk` ('major:minor') is a block device the blkio controller can limit, else why not."""
    if not Path(f"/sys/dev/block/{disk}").exists():
        return (f"--disk-stalls: the database's folder is on device {disk}, which is not a block device "
                "(tmpfs, overlay?): put the PostgreSQL data directory on a disk")
    return None


class DiskStalls:
    """A thread that stalls the PostgreSQL server's writes to `disk` for `hold` s every `period` s."""

    def __init__(self, disk: str, hold: float, period: float) -> None:
        self.disk, self.hold, self.period = disk, hold, period
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-stalls", daemon=True)

    def __enter__(self) -> "DiskStalls":
        if (why := disk_usable(self.disk)) is not None:
            raise RuntimeError(why)
        GROUP.mkdir(exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._limit(0)
        for pid in (GROUP / "cgroup.procs").read_text().split():  # back to the root group
            try:
                (BLKIO / "cgroup.procs").write_text(pid)
            except OSError:
                pass  # gone meanwhile
        GROUP.rmdir()

    def _limit(self, writes_per_second: int) -> None:
        (GROUP / "blkio.throttle.write_iops_device").write_text(f"{self.disk} {writes_per_second}")

    def _join(self) -> None:
        """Move the server's processes in (new backends are forked by the postmaster, inside)."""
        pids = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                (GROUP / "cgroup.procs").write_text(pid)
            except OSError:
                pass  # exited meanwhile

    def _run(self) -> None:
        while not self._stop.is_set():
            self._join()
            if self._stop.wait(self.period - self.hold):
                return
            self._limit(1)
            self.count += 1
            self._stop.wait(self.hold)
            self._limit(0)
