"""Sync load: N simulated handhelds against gunicorn + PostgreSQL on loopback.

A fresh PostgreSQL database is migrated and imported with a few households; gunicorn
serves `server.wsgi:app` on 127.0.0.1 as README's production run does: several workers of
several threads each (gthread), so that requests whose commit waits for the disk (a trip's
start, finish and checkout) cannot hold up the event batches, which do not wait. Each simulated handheld
(a thread, stdlib http.client) starts a trip and sends a batch of 1-3 scan events every
3 s, finishing and checking out after 4-12 batches (8 on average), for a fixed time. Figures: events
stored per second, p50/p99 latency of the event POST, events lost (acknowledged by the
server but not in trip_events; must be 0). Baselines from the same run and the same
gunicorn: the trivial `GET /api/v1/ping` at the same pacing, and both endpoints at
saturation (closed loop). Targets: p99 under 100 ms for 300 handhelds every 3 s, and the
sync endpoint at saturation at least 50% of the ping rate. Beside the p99, the longest time a
sleeping probe process was kept waiting in the paced phase: the machine's own stalls; and
the longest flush to disk of a probe that flushes as PostgreSQL does at every commit, in the
paced phase and across the closed loop: the disk's own stalls, which every batch waits out;
and how many of the event POSTs slower than the p99 target were in flight during such a stall.
With --disk-stalls HOLD/PERIOD the paced phase holds PostgreSQL's writes on purpose
(bench/disk_stalls.py), to see what a slow disk does without waiting for one.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, percentile, print_table, row  # noqa: E402
from bench.disk_stalls import DiskStalls, disk_of  # noqa: E402
from handheld.client import DURABILITY_HEADER  # noqa: E402
from bench.disk_stalls import parse as parse_stalls, usable as stalls_unusable  # noqa: E402

INTERVAL = 3.0
SLOW = 0.1  # the p99 target, in seconds


@dataclass
class Stats:
    """What the simulated handhelds saw, merged under a lock."""

    latencies: list[float] = field(default_factory=list)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of event POSTs over SLOW
    checkout_latencies: list[float] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    stored: int = 0
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    checkouts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Connection(http.client.HTTPConnection):
    """http.client, except that a request's head and body leave in one send.

    Stock http.client sends them apart, so every POST reached gunicorn as two segments and
    cost it an extra read and wake-up that a GET never pays; one send is what a handheld's
    HTTP stack does, and it keeps the client from handicapping the sync endpoint alone.
    """

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not isinstance(message_body, bytes):
            super()._send_output(message_body, encode_chunked)
            return
        self._buffer.extend((b"", message_body))  # type: ignore[attr-defined]
        msg = b"\r\n".join(self._buffer)  # type: ignore[attr-defined]
        del self._buffer[:]  # type: ignore[attr-defined]
        self.send(msg)


def _call(port: int, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any, float]:
    """One request on a new connection, closed after the answer."""
    headers = {"Accept": "application/json"}
    data = None
    if token:  # a handheld's request, which keeps its events until they are reported on disk
        headers.update({"Authorization": f"Bearer {token}", DURABILITY_HEADER: "1"})
    if body is not None:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    conn = _Connection("127.0.0.1", port, timeout=15)
    t0 = time.perf_counter()
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    return resp.status, (json.loads(raw) if raw else None), elapsed


def _call_raw(port: int, method: str, path: str, headers: dict[str, str], data: bytes | None) -> tuple[int, bytes]:
    """One request with a ready-made head and body; the answer's status and raw bytes (parsed later)."""
    conn = _Connection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class Handheld:
    """One simulated handheld: its token, its sequence numbers and its current trip."""

    def __init__(self, port: int, token: str, gtins: list[str], seed: int, checkout_every: int | None = 8,
                 till: str | None = None) -> None:
        self.port, self.token, self.gtins, self.checkout_every = port, token, gtins, checkout_every
        self.till = till  # the store's till token: it checks trips out and records their audits
        self.rng = random.Random(seed)
        self.seq = 0
        self.trip: str | None = None
        self.batches = 0
        self.trip_batches = 0

    def _event(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"id": str(uuid.uuid4()), "seq": self.seq, "kind": kind,
                "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": payload}

    def _scans(self, size: int) -> list[dict[str, Any]]:
        """The next `size` scan events, of products drawn at random."""
        return [self._event("scan", {"gtin": g, "barcode": g}) for g in self.rng.choices(self.gtins, k=size)]

    def prepared(self, size: int) -> tuple[str, dict[str, str], bytes]:
        """A ready-to-send scan batch of the current trip: path, headers, body (nothing sent)."""
        assert self.trip is not None
        batch = self._scans(size)
        head = {"Accept": "application/json", "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json", DURABILITY_HEADER: "1"}
        return (f"/api/v1/trips/{self.trip}/events", head,
                json.dumps({"events": batch}, separators=(",", ":")).encode())

    def start(self) -> None:
        self.trip = str(uuid.uuid4())
        status, body, _ = _call(self.port, "POST", "/api/v1/trips", self.token, {"trip_id": self.trip})
        if status != 201:
            raise RuntimeError(f"trip start answered {status}: {body}")
        self.batches = 0
        # Trips last checkout_every batches on average, from half to one and a half times that:
        # with one fixed length every handheld, all started together, checked out in the same
        # 3 s, a stampede no store sees (and 300 checkouts at once, not the sync path, set the p99).
        if self.checkout_every:
            self.trip_batches = self.rng.randint(max(1, self.checkout_every // 2), self.checkout_every * 3 // 2)

    def send(self, stats: Stats, size: int) -> None:
        """One batch of scans; after the trip's last batch (`checkout_every` on average) also finish and check out."""
        if self.trip is None:
            self.start()
        batch = self._scans(size)
        status, body, elapsed = _call(self.port, "POST", f"/api/v1/trips/{self.trip}/events", self.token,
                                      {"events": batch})
        with stats.lock:
            stats.sent += len(batch)
            if status == 200:
                stats.latencies.append(elapsed)
                if elapsed > SLOW:
                    end = time.monotonic()
                    stats.slow.append((end - elapsed, end))
                stats.acked += body["stored"] + body["duplicates"]
                stats.stored += len(body["stored"])
            else:
                stats.errors.append(f"events {status}: {body}")
        self.batches += 1
        if self.checkout_every and self.batches >= self.trip_batches:
            self.checkout(stats)

    def checkout(self, stats: Stats) -> None:
        finish = [self._event("finish", {})]
        _call(self.port, "POST", f"/api/v1/trips/{self.trip}/events", self.token, {"events": finish})
        _, answer, _ = _call(self.port, "POST", f"/api/v1/trips/{self.trip}/finish", self.token, {})
        if answer and answer.get("audit"):
            _call(self.port, "POST", f"/api/v1/audits/{answer['audit_id']}/outcome", self.till, {"findings": []})
        status, body, elapsed = _call(self.port, "POST", f"/api/v1/trips/{self.trip}/checkout", self.till, {})
        with stats.lock:
            if status == 200:
                stats.checkouts += 1
                stats.checkout_latencies.append(elapsed)
            else:
                stats.errors.append(f"checkout {status}: {body}")
        self.trip = None


def _guarded(act: Callable[[int], Any], i: int, errors: list[str]) -> Any:
    """Run one client action; a failure is counted, never silently ends the client."""
    try:
        return act(i)
    except Exception as exc:  # the benchmark reports every failure; the client goes on
        errors.append(f"{type(exc).__name__}: {exc}")
        return False


def _paced(count: int, seconds: float, act: Callable[[int], None], errors: list[str]) -> float:
    """Run `act(i)` for each of `count` clients every INTERVAL s, spread evenly; return the wall time."""
    stop = time.monotonic() + seconds
    begin = time.monotonic()

    def loop(i: int) -> None:
        due = begin + INTERVAL * i / count
        while due < stop:
            time.sleep(max(0.0, due - time.monotonic()))
            _guarded(act, i, errors)
            due += INTERVAL

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return time.monotonic() - begin


# A process of its own that sleeps 5 ms at a time for `seconds` and prints its longest oversleep:
# how long the machine itself (shared, virtual) left a runnable process waiting during the
# phase, which no server can answer faster than.
_STALL_PROBE = """import sys, time
worst, end = 0.0, time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t = time.monotonic()
    time.sleep(0.005)
    worst = max(worst, time.monotonic() - t - 0.005)
print(worst)
"""


def _stall_probe(seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _STALL_PROBE, str(seconds)], stdout=subprocess.PIPE, text=True)


# A process of its own that writes the disk as PostgreSQL writes its WAL at every commit (the
# next 8 kB of a file made ahead, then fdatasync), every 50 ms in a file beside the database's
# own, until its input closes; it prints its longest and its median flush, then the start and
# end (time.monotonic, the same clock in every process) of each flush over 50 ms. An event
# batch is acknowledged only after its commit's flush, so a flush that stalls holds every
# batch committing meanwhile.
_FLUSH_PROBE = """import os, select, statistics, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
flushes = []
try:
    os.write(fd, bytes(4 << 20))
    os.fsync(fd)
    while not select.select([sys.stdin], [], [], 0.05)[0]:
        os.pwrite(fd, os.urandom(8192), len(flushes) % 512 * 8192)
        t = time.monotonic()
        os.fdatasync(fd)
        flushes.append((t, time.monotonic()))
finally:
    os.close(fd)
    os.unlink(sys.argv[1])
took = [end - start for start, end in flushes] or [0.0]
print(max(took), statistics.median(took), *[t for start, end in flushes if end - start > 0.05 for t in (start, end)])
"""


def _flush_probe(folder: str) -> subprocess.Popen[str]:
    """Start the flush probe; _probe stops it and reads what it found."""
    path = os.path.join(folder, f"shopgo-flush-probe-{os.getpid()}")
    return subprocess.Popen([sys.executable, "-c", _FLUSH_PROBE, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _flush_folder() -> str:
    """The database server's data directory when this process may write there (same disk as its
    WAL), else the temporary folder."""
    import tempfile

    import psycopg

    from db import localpg

    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        folder = str(conn.execute("SHOW data_directory").fetchone()[0])
    return folder if os.access(folder, os.W_OK) else tempfile.gettempdir()


def _probe(probe: subprocess.Popen[str]) -> list[float]:
    """The numbers a probe printed (the flush probe ends when its input closes)."""
    return [float(v) for v in probe.communicate("" if probe.stdin else None, timeout=60)[0].split()]


def _during(requests: list[tuple[float, float]], stalls: list[float]) -> int:
    """How many of the (start, end) requests were in flight during one of the stalls (start, end, start, end...)."""
    spans = list(zip(stalls[::2], stalls[1::2]))
    return sum(1 for start, end in requests if any(start < s_end and s_start < end for s_start, s_end in spans))


def _saturate(workers: int, seconds: float, act: Callable[[int], bool], errors: list[str]) -> float:
    """Closed loop: `workers` threads call `act` back to back; return successful requests per second."""
    done = [0] * workers
    stop = time.monotonic() + seconds

    def loop(i: int) -> None:
        while time.monotonic() < stop:
            done[i] += bool(_guarded(act, i, errors))

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return sum(done) / seconds


def _process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes; one that has gone counts 0."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_parts(server: int, url: str) -> dict[str, float]:
    """CPU seconds so far of the parts on these two cores: gunicorn (master and workers), this
    database's PostgreSQL backends with the WAL writer, this load generator, and the whole machine."""
    import psycopg

    from db import localpg

    workers = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        backends = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = %s AND pid <> pg_backend_pid())"
            " OR backend_type = 'walwriter'", (url.rsplit("/", 1)[1],))]
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return {"server": _process_cpu([server, *map(int, workers)]), "postgres": _process_cpu(backends),
            "client": _process_cpu([os.getpid()]), "machine": busy / os.sysconf("SC_CLK_TCK")}


def _add_cpu(total: dict[str, float], before: dict[str, float], after: dict[str, float]) -> None:
    """Add the CPU seconds of each part between two _cpu_parts readings to `total`."""
    for part in before:
        total[part] = total.get(part, 0.0) + after[part] - before[part]


def _cpu_per_request(spent: dict[str, float], requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request of each part, from the CPU seconds it spent (_add_cpu)."""
    return {k: 1000 * v / max(requests, 1) for k, v in spent.items()}


def _keep(answers: list[tuple[int, bytes]], answer: tuple[int, bytes]) -> bool:
    """Keep an answer for reading after the timed phase; True when it is a 200."""
    answers.append(answer)  # list.append is atomic under the GIL
    return answer[0] == 200


def _drain(port: int, limit: float = 90.0) -> None:
    """Wait until the server answers a ping quickly again (requests queued by an overloaded phase)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if _call(port, "GET", "/api/v1/ping")[2] < 0.2:
                return
        except OSError:
            pass
        time.sleep(1.0)


def _start_all(hands: list[Handheld], errors: list[str]) -> None:
    for i, h in enumerate(hands):
        _guarded(lambda _: h.start(), i, errors)


def _prepare(households: int, devices: int) -> tuple[str, list[str], list[str], str]:
    """A fresh migrated, imported database; its URL, handheld tokens, unit-item GTINs and a till's token."""
    from sqlalchemy import select

    from db import localpg
    from db.migrate import upgrade
    from db.models import Product
    from db.session import make_engine, make_session_factory
    from server.accounts import add_device
    from server.importer.completejourney import import_completejourney

    localpg.ensure_server()
    url = localpg.create_database("shopgo_bench")
    upgrade(url)
    engine = make_engine(url)
    import_completejourney(engine, store_id="S001", store_name="Bench Store", households=households)
    with make_session_factory(engine)() as session:
        tokens = [add_device(session, "S001", f"bench-{i}")[1] for i in range(devices)]
        till = add_device(session, "S001", "bench-till", "till")[1]
        gtins = list(session.scalars(select(Product.gtin).where(Product.sold_by_weight.is_(False),
                                                                Product.active.is_(True)).limit(500)))
        session.commit()
    engine.dispose()
    return url, tokens, gtins, till


def _gunicorn(url: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "SHOPGO_SERVER_SECRET_KEY": "bench-only-secret"}
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "server.wsgi:app", "--workers", str(workers),
           "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning"]
    if threads > 1:
        cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _call(port, "GET", "/api/v1/ping")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    _stop(proc)
    raise RuntimeError(f"gunicorn did not come up: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the gunicorn this benchmark started (its master by pid), killing it if it lingers."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)


def _lost(url: str, acked: list[str]) -> int:
    """Acknowledged event ids that are not in trip_events."""
    from sqlalchemy import func, select

    from db.models import TripEvent
    from db.session import make_engine

    engine = make_engine(url)
    found = 0
    with engine.connect() as conn:
        for i in range(0, len(acked), 1000):
            found += conn.execute(select(func.count()).select_from(TripEvent)
                                  .where(TripEvent.id.in_(acked[i:i + 1000]))).scalar_one()
    engine.dispose()
    return len(set(acked)) - found


def run(quick: bool = False, handhelds: int | None = None, seconds: float | None = None,
        workers: int = 4, threads: int = 8, disk_stalls: tuple[float, float] | None = None) -> list[Row]:
    """Measure the sync endpoint against the ping baseline; return the table rows."""
    from db import localpg

    n = handhelds or (60 if quick else 300)
    paced = seconds or (12.0 if quick else 45.0)
    sat_seconds, sat_clients, sat_rounds = (4.0, 8, 2) if quick else (16.0, 16, 4)
    url, tokens, gtins, till = _prepare(households=3, devices=n + sat_clients)
    port = _free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = _gunicorn(url, port, workers, threads)
        ping = Stats()

        def ping_once(i: int) -> None:
            status, _, elapsed = _call(port, "GET", "/api/v1/ping")
            with ping.lock:
                if status == 200:
                    ping.latencies.append(elapsed)
                else:
                    ping.errors.append(f"ping {status}")

        _paced(n, paced / 2, ping_once, ping.errors)
        _drain(port)
        sync = Stats()
        hands = [Handheld(port, tokens[i], gtins, seed=i, till=till) for i in range(n)]
        _start_all(hands, sync.errors)
        folder = _flush_folder()
        probe, flush_probe = _stall_probe(paced), _flush_probe(folder)
        injected = DiskStalls(disk_of(folder), *disk_stalls) if disk_stalls else None
        with injected or contextlib.nullcontext():
            wall = _paced(n, paced, lambda i: hands[i].send(sync, hands[i].rng.randint(1, 3)), sync.errors)
        stall_ms, (flush_s, flush_median_s, *stalls) = _probe(probe)[0] * 1000, _probe(flush_probe)
        _drain(port)
        # Closed loop. The load generator shares the server's two cores, so every request is
        # made ready before the clock starts (a real handheld builds its batch on its own CPU)
        # and answers are read after it stops: per request the client only sends bytes and
        # reads bytes, the same for both endpoints. The two endpoints take turns, sat_rounds
        # each, so that a slow stretch of the shared machine falls on both, not on one.
        ping_head = {"Accept": "application/json"}
        ping_answers: list[tuple[int, bytes]] = []
        sync_answers: list[tuple[int, bytes]] = []
        sat_hands = [Handheld(port, tokens[n + i], gtins, seed=10_000 + i, checkout_every=None)
                     for i in range(sat_clients)]
        sat = Stats()
        _start_all(sat_hands, sat.errors)
        ready: list[list[tuple[str, dict[str, str], bytes]]] = [[] for _ in sat_hands]  # pop() gives seq order

        def ping_once(i: int) -> bool:
            return _keep(ping_answers, _call_raw(port, "GET", "/api/v1/ping", ping_head, None))

        def sync_once(i: int) -> bool:
            if not ready[i]:
                raise RuntimeError("the prepared batches ran out; raise the margin over the ping rate")
            path, head, data = ready[i].pop()
            return _keep(sync_answers, _call_raw(port, "POST", path, head, data))

        turn = sat_seconds / sat_rounds
        ping_cpu_s: dict[str, float] = {}
        sync_cpu_s: dict[str, float] = {}
        ping_rates: list[float] = []
        sync_rates: list[float] = []
        sat_flush_probe = _flush_probe(folder)
        for _ in range(sat_rounds):
            before = _cpu_parts(proc.pid, url)
            ping_rates.append(_saturate(sat_clients, turn, ping_once, ping.errors))
            _add_cpu(ping_cpu_s, before, _cpu_parts(proc.pid, url))
            need = int(ping_rates[-1] * turn * 1.5 / sat_clients) + 100  # more than the ping rate allows
            for hand, queue in zip(sat_hands, ready):
                queue[:0] = [hand.prepared(1) for _ in range(max(0, need - len(queue)))][::-1]
            before = _cpu_parts(proc.pid, url)
            sync_rates.append(_saturate(sat_clients, turn, sync_once, sat.errors))
            _add_cpu(sync_cpu_s, before, _cpu_parts(proc.pid, url))
        ping_rate, sync_rate = sum(ping_rates) / sat_rounds, sum(sync_rates) / sat_rounds
        sat_flush_s, sat_flush_median_s, *_ = _probe(sat_flush_probe)
        ping_cpu = _cpu_per_request(ping_cpu_s, len(ping_answers))
        sync_cpu = _cpu_per_request(sync_cpu_s, len(sync_answers))
        ping.errors += [f"ping {st}" for st, _ in ping_answers if st != 200]
        sat_answered = sum(1 for status, _ in sync_answers if status == 200)
        for status, raw in sync_answers:
            if status == 200:
                body = json.loads(raw)
                sat.acked += body["stored"] + body["duplicates"]
            else:
                sat.errors.append(f"events {status}: {raw[:200]!r}")
        lost = _lost(url, sync.acked + sat.acked)
    finally:
        if proc is not None:
            _stop(proc)
        localpg.drop_database(url)
    p50, p99 = percentile(sync.latencies, 50) * 1000, percentile(sync.latencies, 99) * 1000
    b50, b99 = percentile(ping.latencies, 50) * 1000, percentile(ping.latencies, 99) * 1000
    offered = sync.sent / wall
    name = f"sync_load ({n} handhelds/{INTERVAL:.0f}s, {workers}x{threads} threads)"
    if disk_stalls:
        name = f"{name[:-1]}, disk held {disk_stalls[0]:g} s every {disk_stalls[1]:g} s)"
    errors = len(sync.errors) + len(sat.errors) + len(ping.errors)
    rows = [
        row(name, "events stored per second", sync.stored / wall, "events/s", "events sent per second", offered,
            "all sent are stored", sync.stored == sync.sent and not errors),
        row(name, "event POST p50 latency", p50, "ms", "ping p50, same pacing", b50, "-", None),
        row(name, "event POST p99 latency", p99, "ms", "ping p99, same pacing", b99, "< 100 ms", p99 < 100),
        row(name, "longest machine stall (sleeping probe)", stall_ms, "ms", "its sleep", 5.0, "-", None),
        row(name, "longest disk flush (fdatasync probe)", flush_s * 1000, "ms", "its median flush",
            flush_median_s * 1000, "-", None),
        *([row(name, "disk stalls injected (PostgreSQL's writes held)", float(injected.count), "stalls",
               "seconds held each", disk_stalls[0], "-", None)] if injected and disk_stalls else []),
        row(name, f"event POSTs over {SLOW * 1000:.0f} ms in flight in a flush over 50 ms",
            float(_during(sync.slow, stalls)), "requests", f"event POSTs over {SLOW * 1000:.0f} ms",
            float(len(sync.slow)), "-", None),
        row(name, "events lost", float(lost), "events", "events acknowledged", float(len(sync.acked) + len(sat.acked)),
            "0", lost == 0),
        row(name, "checkout p99 latency", percentile(sync.checkout_latencies, 99) * 1000, "ms", "checkouts done",
            float(sync.checkouts), "-", None),
        row(name, "failed requests", float(errors), "requests", "event POSTs answered",
            float(len(sync.latencies) + sat_answered), "0", errors == 0),
        row("sync_saturation", "event POST rate, closed loop", sync_rate, "req/s", "ping rate, closed loop",
            ping_rate, ">= 50% of ping", sync_rate >= 0.5 * ping_rate),
        row("sync_saturation", "longest disk flush (fdatasync probe)", sat_flush_s * 1000, "ms", "its median flush",
            sat_flush_median_s * 1000, "-", None),
    ]
    # Where each closed-loop request's CPU went (the two endpoints share the same two cores).
    rows += [row("sync_saturation", f"CPU per event POST: {part}", sync_cpu[part], "ms", f"CPU per ping: {part}",
                 ping_cpu[part], "-", None) for part in ("server", "postgres", "client", "machine")]
    for message in (sync.errors + sat.errors + ping.errors)[:5]:
        print("error:", message, file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer handhelds, shorter phases")
    parser.add_argument("--handhelds", type=int, help="simulated handhelds (default 300, quick 60)")
    parser.add_argument("--seconds", type=float, help="length of the paced sync phase")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (1: gunicorn's sync workers)")
    parser.add_argument("--disk-stalls", metavar="HOLD/PERIOD",
                        help="in the paced phase, hold PostgreSQL's disk writes HOLD s every PERIOD s "
                             "(e.g. 0.6/5; root, cgroup v1 blkio; see bench/disk_stalls.py)")
    args = parser.parse_args()
    stalls = None
    if args.disk_stalls:
        try:
            stalls = parse_stalls(args.disk_stalls)
        except ValueError as exc:
            parser.error(str(exc))
        if (why := stalls_unusable()) is not None:
            parser.error(why)
    rows = run(args.quick, args.handhelds, args.seconds, args.workers, args.threads, stalls)
    print_table(rows, "sync load: handheld events against gunicorn + PostgreSQL")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
