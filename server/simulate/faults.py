"""Faults on a schedule: server restart, a network cut, handheld kills, unplugged scanners, a database crash.

The first fifth of the day and the last fifth stay quiet (the first is the same run's
no-fault baseline, the last lets the store drain). Each fault records when it really
happened; the outages that may answer 5xx (server and database restarts) are the
windows the 5xx check excuses.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from server.simulate.processes import StoreServer
from server.simulate.proxy import Proxy
from server.simulate.shopper import Day, Shopper

KINDS = ("server_restart", "network_cut", "handheld_kill", "scanner_unplug", "postgres_restart")
QUIET_BEFORE, QUIET_AFTER = 0.2, 0.8  # fractions of the day


@dataclass
class Fault:
    """One injected fault: what, on whom, planned at (day seconds), and when it really ran (epoch)."""

    kind: str
    target: str
    planned_at: float
    started: float | None = None
    ended: float | None = None
    note: str = ""

    @property
    def happened(self) -> bool:
        return self.started is not None and self.ended is not None


def plan(day_seconds: float, handhelds: int, rng: random.Random) -> list[Fault]:
    """The day's faults, spread over its middle three fifths."""
    span = QUIET_AFTER - QUIET_BEFORE
    at = {kind: day_seconds * (QUIET_BEFORE + span * (i + 0.5) / len(KINDS)) for i, kind in enumerate(KINDS)}
    few = max(1, handhelds // 20)
    out = [Fault("server_restart", "gunicorn", at["server_restart"]),
           Fault("network_cut", f"{max(1, handhelds // 10)} handhelds", at["network_cut"])]
    out += [Fault("handheld_kill", f"handheld {i}", at["handheld_kill"]) for i in rng.sample(range(handhelds), few)]
    out += [Fault("scanner_unplug", f"handheld {i}", at["scanner_unplug"]) for i in rng.sample(range(handhelds), few)]
    out.append(Fault("postgres_restart", "pg_ctlcluster 15 main, immediate", at["postgres_restart"]))
    return out


def restart_postgres() -> str:
    """Crash and restart the machine's PostgreSQL 15 cluster; '' when done, else why it was skipped.

    Immediate mode flushes nothing, as a power cut or a killed server would: only what was
    committed (and so answered) survives; batches in flight are sent again by the handhelds."""
    if os.geteuid() != 0:
        return "skipped: not root (pg_ctlcluster needs root)"
    if shutil.which("pg_ctlcluster") is None:
        return "skipped: pg_ctlcluster is not installed"
    out = subprocess.run(["pg_ctlcluster", "--mode", "immediate", "15", "main", "restart"], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"pg_ctlcluster restart failed: {out.stderr.strip()}")
    return ""


def wait_database(url: str, seconds: float) -> bool:
    """True once the database accepts a connection and answers a query."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    eng = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                with eng.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return True
            except Exception:  # refused, shutting down, starting up: try again shortly
                time.sleep(0.2)
        return False
    finally:
        eng.dispose()


class FaultRunner(threading.Thread):
    """Runs the plan against the store as the day's clock reaches each fault."""

    def __init__(self, day: Day, faults: Sequence[Fault], server: StoreServer, proxy: Proxy, ports: Sequence[int],
                 shoppers: Sequence[Shopper], cut_seconds: float, rng: random.Random,
                 log: Callable[[str], None], database_url: str,
                 postgres: Callable[[], str] = restart_postgres) -> None:
        super().__init__(name="simulate-faults", daemon=True)
        self.database_url = database_url
        self.day, self.faults, self.server, self.proxy = day, list(faults), server, proxy
        self.ports, self.shoppers, self.cut_seconds, self.rng = list(ports), list(shoppers), cut_seconds, rng
        self.log, self.postgres = log, postgres
        self.windows: list[tuple[float, float]] = []  # outages that may answer 5xx (epoch seconds)
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        for fault in sorted(self.faults, key=lambda f: f.planned_at):
            if not self.day.sleep(fault.planned_at - self.day.elapsed()):
                return
            try:
                self._do(fault)
            except Exception as exc:  # reported: a fault that did not happen fails the run's checks
                self.errors.append(f"{fault.kind} {fault.target}: {type(exc).__name__}: {exc}")
                self.log(f"fault {fault.kind} failed: {exc}")

    def _do(self, fault: Fault) -> None:
        if fault.kind in ("handheld_kill", "scanner_unplug"):
            index = int(fault.target.split()[-1])
            self.shoppers[index].request("kill" if fault.kind == "handheld_kill" else "unplug")
            self.log(f"{self.day.elapsed():6.1f} s  {fault.kind} requested on {fault.target} (between two scans)")
            return  # the shopper does it and calls done_by_shopper
        fault.started = time.time()
        try:
            self._outage(fault)
        finally:
            if fault.kind in ("server_restart", "postgres_restart") and fault.started is not None:
                with self._lock:  # even a fault that went wrong was an outage while it lasted
                    self.windows.append((fault.started, time.time()))
        if fault.started is None or fault.ended is None:
            self.log(f"{self.day.elapsed():6.1f} s  {fault.kind} {fault.note}")
            return
        self.log(f"{self.day.elapsed():6.1f} s  {fault.kind} done in {fault.ended - fault.started:.1f} s "
                 f"{fault.note}".rstrip())

    def _outage(self, fault: Fault) -> None:
        if fault.kind == "server_restart":
            self.server.restart()
        elif fault.kind == "network_cut":
            count = max(1, len(self.ports) // 10)
            cut = self.rng.sample(self.ports, count)
            self.proxy.cut(cut)
            self.day.sleep(self.cut_seconds)
            self.proxy.restore(cut)
            bitten = sum(self.proxy.stats(p).refused + self.proxy.stats(p).reset for p in cut)
            fault.note = f"{count} handhelds for {self.cut_seconds:.0f} s ({bitten} connections refused or reset)"
        elif fault.kind == "postgres_restart":
            fault.note = self.postgres()
            if fault.note:
                fault.started = None
                return
            if not wait_database(self.database_url, 120):
                raise RuntimeError("PostgreSQL did not accept connections 120 s after the restart")
        fault.ended = time.time()

    def done_by_shopper(self, kind: str, index: int, start: float, end: float) -> None:
        """A shopper did a requested kill or unplug (monotonic times)."""
        wanted = "handheld_kill" if kind == "kill" else "scanner_unplug"
        offset = time.time() - time.monotonic()
        with self._lock:
            for fault in self.faults:
                if fault.kind == wanted and fault.target == f"handheld {index}" and not fault.happened:
                    fault.started, fault.ended = start + offset, end + offset
                    break
        self.log(f"{self.day.elapsed():6.1f} s  {wanted} done on handheld {index} in {end - start:.1f} s")
