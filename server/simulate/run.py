"""One store day end to end: set up, open, shop under faults, drain, close, check, report.

Every process started here is in `Children` and killed in the `finally`, whatever happens
(an error, Ctrl-C); the throw-away database and the work folder go too unless kept.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from server import config as config_mod
from server.simulate.clients import Display, Till
from server.simulate.faults import QUIET_BEFORE, Fault, FaultRunner, plan
from server.simulate.processes import Children, HandheldProc, StoreServer, kill_group, shopgo_command
from server.simulate.proxy import Proxy
from server.simulate.report import StoreDayReport
from server.simulate.setup import RealBasket, prepare_store
from server.simulate.shopper import Day, Shopper, TripRecord
from server.simulate.tally import tally

DAY_HOURS = 14.0            # 08:00 to 22:00
REAL_SCAN_GAP_S = 30.0      # a shopper walks to the next item and scans it about twice a minute
START_WAVE = 8              # handheld processes started together (each costs ~1.5 s of CPU)
DRAIN_S = 150.0             # after closing: trips in progress finish, pay and hand in
Log = Callable[[str], None]


@dataclass(frozen=True)
class StoreDayOptions:
    """What `shopgo simulate store-day` was asked for."""

    handhelds: int = 200
    minutes: float = 10.0
    database: str | None = None
    seed: int = 1
    faults: bool = True
    workers: int = 3
    max_scan_rate: float = 10.0  # scans/s the whole store may make: bounds the load on a 2-core machine
    backoff_max: float | None = None  # the handhelds' longest retry wait (default: 2 s, longer for big fleets)
    keep: bool = False
    config_path: str | None = None


class BasketQueue:
    """Real baskets handed to shoppers in turn; a member is never in the store twice at once."""

    def __init__(self, baskets: list[RealBasket]) -> None:
        self._queue = deque(baskets)
        self._in_store: set[int] = set()
        self._lock = threading.Lock()

    def take(self) -> RealBasket | None:
        with self._lock:
            for _ in range(len(self._queue)):
                basket = self._queue.popleft()
                self._queue.append(basket)  # a member may come back later in the day
                if basket.member_id not in self._in_store:
                    self._in_store.add(basket.member_id)
                    return basket
        return None

    def done(self, basket: RealBasket) -> None:
        with self._lock:
            self._in_store.discard(basket.member_id)


def start_fleet(handhelds: list[HandheldProc], log: Log) -> None:
    """Start the handheld processes a wave at a time and wait until each has its scanner."""
    for i in range(0, len(handhelds), START_WAVE):
        wave = handhelds[i:i + START_WAVE]
        for hh in wave:
            hh.spawn()
        for hh in wave:
            hh.wait_ready()
        log(f"  {i + len(wave)} of {len(handhelds)} handhelds up")
    for hh in handhelds:
        display = Display(hh.url)
        if display.wait(lambda s: bool(s["scanner"]["connected"]), 60) is None:
            raise RuntimeError(f"handheld {hh.index} never connected to its scanner; see {hh.log}")
        display.close()


def run_store_day(options: StoreDayOptions, log: Log = print) -> StoreDayReport:
    """Run the whole day and return what the checks found."""
    t_wall = time.monotonic()
    log = _stamped(log, t_wall)
    cfg = config_mod.load(options.config_path)
    seconds = options.minutes * 60
    compression = DAY_HOURS * 3600 / seconds
    gap = max(REAL_SCAN_GAP_S / compression, options.handhelds / options.max_scan_rate)
    # 15 s on a real device; compressed with the day, but a big fleet retrying after an outage must
    # not keep the restarted server from answering anything else.
    backoff = options.backoff_max or max(2.0, options.handhelds / 40)
    rng = random.Random(options.seed)
    workdir = Path(tempfile.mkdtemp(prefix="shopgo-storeday-"))
    children, proxy, handhelds, setup = Children(), None, [], None
    day = Day(seconds)
    report = StoreDayReport(options.handhelds, options.minutes, compression, gap)
    log(f"store day: {options.handhelds} handhelds, {options.minutes:g} min (x{compression:,.0f}), work folder {workdir}")
    previous = _on_sigterm_interrupt()
    try:
        setup = prepare_store(options.database, options.handhelds, workdir, options.seed, cfg["site"]["store_id"],
                              cfg["site"]["store_name"], log)
        env = {**os.environ, "SHOPGO_DATABASE_URL": setup.url, "SHOPGO_SERVER_SECRET_KEY": secrets.token_hex(16),
               "PYTHONUNBUFFERED": "1"}
        server = StoreServer(children, env, workdir, options.workers)
        server.start()
        # The nightly jobs move out of the day: an offers build mid-run would change prices under
        # the independent check, and a purge is a night job, not part of the store's day.
        night = (datetime.now(timezone.utc) + timedelta(hours=12)).strftime("%H:%M")
        scheduler = children.spawn([*shopgo_command(), "scheduler"],
                                   {**env, "SHOPGO_SCHEDULER_OFFERS_BUILD_AT": night,
                                    "SHOPGO_SCHEDULER_PURGE_AT": night}, workdir / "scheduler.log")
        log(f"scheduler started (offers-build and retention-purge moved to {night} UTC, after the day)")
        proxy = Proxy("127.0.0.1", server.port).start()
        for i, token in enumerate(setup.device_tokens):
            handhelds.append(HandheldProc(i, children, env, workdir / f"hh{i:03d}", token,
                                          f"http://127.0.0.1:{proxy.add_port()}", workdir / "catalogue-image",
                                          backoff))
        log(f"store server {server.url} ({options.workers} workers); starting {len(handhelds)} handhelds ...")
        start_fleet(handhelds, log)

        baskets, records, scans = BasketQueue(setup.baskets), [], []
        lock = threading.Lock()
        runner_box: list[FaultRunner] = []

        def on_scan(seconds_taken: float, at: float) -> None:
            scans.append((seconds_taken * 1000, at))

        def on_trip(record: TripRecord) -> None:
            with lock:
                records.append(record)

        def on_fault(kind: str, index: int, start: float, end: float) -> None:
            runner_box[0].done_by_shopper(kind, index, start, end)

        # Shoppers come in over the first tenth of the day, not all at the opening bell.
        arrivals = seconds * QUIET_BEFORE / 2
        shoppers = [Shopper(hh, day, Till(server.url, setup.till_token, setup.staff), baskets.take, baskets.done, gap,
                            options.seed * 100_003 + hh.index, on_scan, on_trip, on_fault,
                            arrive_after=arrivals * hh.index / len(handhelds)) for hh in handhelds]
        faults: list[Fault] = plan(seconds, len(handhelds), rng) if options.faults else []
        runner = FaultRunner(day, faults, server, proxy, [int(h.server_url.rsplit(":", 1)[1]) for h in handhelds],
                             shoppers, max(10.0, 60 / compression), rng, log, setup.url)
        runner_box.append(runner)
        day.open()
        opened_epoch = time.time()
        log(f"open: shoppers scan every {gap:.2f} s; {len(faults)} faults planned")
        for s in shoppers:
            s.start()
        runner.start()
        sampled = False
        while not day.closed():
            time.sleep(1)
            if not sampled and day.elapsed() >= seconds / 2:
                sampled = True
                for hh in handhelds:
                    rss, pss = hh.memory()
                    report.handheld_rss_kib.append(rss)
                    report.handheld_pss_kib.append(pss)
        log(f"closing: {len(records)} trips done; waiting up to {DRAIN_S:.0f} s for trips in progress")
        deadline = time.monotonic() + DRAIN_S
        for s in shoppers:
            s.join(max(0.0, deadline - time.monotonic()))
        day.stop.set()
        runner.join(30)
        for s in shoppers:
            s.join(5)
        _settle(handhelds, log)
        for hh in handhelds:  # all at once, then wait for each
            if hh.proc is not None:
                kill_group(hh.proc, signal.SIGTERM)
        for hh in handhelds:
            hh.stop()
        server.stop()
        if scheduler.poll() is not None:
            report.problems.append(f"the scheduler exited during the day ({scheduler.returncode}); "
                                   f"see {workdir / 'scheduler.log'}")
        kill_group(scheduler, signal.SIGTERM)
        report.faults, report.windows = faults, list(runner.windows)
        report.fault_errors = runner.errors + [e for s in shoppers for e in s.errors]
        # The baseline: the second half of the quiet first fifth, after the opening rush, before any fault.
        tally(report, setup, handhelds, records, scans, server.access_log, opened_epoch,
              (seconds * QUIET_BEFORE / 2, seconds * QUIET_BEFORE))
    finally:
        day.stop.set()
        children.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for hh in handhelds:
            hh.scanner.close()
        if proxy is not None:
            proxy.stop()
        if setup is not None and setup.throwaway and not options.keep:
            from db import localpg

            try:
                localpg.drop_database(setup.url)
            except Exception as exc:  # the report matters more than a leftover throw-away database
                log(f"could not drop {setup.url}: {exc}")
        if options.keep:
            log(f"kept: {workdir}" + (f" and {setup.url}" if setup else ""))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.wall_seconds = time.monotonic() - t_wall
    return report


def _on_sigterm_interrupt() -> Any:
    """Make SIGTERM act as Ctrl-C so the `finally` still kills every child (they have their own sessions)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


def _stamped(log: Log, t0: float) -> Log:
    """`log` with the seconds since the run began in front of each line."""
    return lambda text: log(f"[{time.monotonic() - t0:4.0f} s] {text}")


def _settle(handhelds: list[HandheldProc], log: Log, timeout: float = 60) -> None:
    """Give every handheld a moment to send what it still holds before it is switched off (bounded)."""
    deadline = time.monotonic() + timeout
    waiting = list(handhelds)
    while waiting and time.monotonic() < deadline:
        still = []
        for hh in waiting:
            display = Display(hh.url, timeout=5)
            try:
                if display.state()["pending_events"] > 0:
                    still.append(hh)
            except Exception:  # a busy or dead display: ask again next round
                still.append(hh)
            finally:
                display.close()
        waiting = still
        if waiting:
            time.sleep(1)
    if waiting:
        log(f"{len(waiting)} handhelds still hold unsent events at switch-off: "
            + ", ".join(str(hh.index) for hh in waiting[:20]))
