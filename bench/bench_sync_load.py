"""Sync capacity: the most handhelds gunicorn + PostgreSQL hold on this machine, beside a ping baseline.

A fresh PostgreSQL database is migrated and imported with a few households; gunicorn serves
`server.wsgi:app` on 127.0.0.1 as README's production line does (4 gthread workers of 4
threads). Each simulated handheld has a trip started, sends a batch of 1-3 scan events every
3 s, and at the trip's end finishes, is checked out with the till's token and starts the next
trip. A store trip is 150-250 batches (7.5-12.5 minutes), each handheld's first one joined at a
random point, so trips end all through a step: 1,000 handhelds bring about 1.7 checkouts a
second, more than a real store's tills see. A step runs N handhelds for a fixed time after a
warm-up of two batches each; N doubles from 250 until a step fails the rule, then is bisected.
The rule: event-POST p99 under 100 ms (a failed request counts as slower than any), counting
apart the POSTs in flight during a disk-flush stall that the flush probe measured (the disk's
own, which every commit waits out), no failed request and no event lost (acknowledged but not
stored). The capacity is the most handhelds a step held; the target is 1,000 (333 batches/s).
A second search runs the same handhelds on rushed trips of 4-12 batches, a till visit every
12-36 s per handheld (tens of times a store's rate): the finish and checkout under stress,
printed beside it. The baseline is the same search in the same run with `GET /api/v1/ping`
in place of each batch: what the same server holds of a request that does nothing. The
searches stop at a cap (4,000; 1,000 with --quick) and print ">= cap" if never failed there.

Latency is measured from each request's scheduled send time, not from when the load
generator (which shares the two cores with the server) got round to sending it: a generator
that falls behind shows up as latency, it cannot hide the server's queue, so the capacity is
if anything understated.

With --disk-stalls HOLD/PERIOD the sync steps hold PostgreSQL's writes on purpose
(bench/disk_stalls.py), to see what a slow disk does without waiting for one; the POSTs they
hold count in the p99 (the flush probe writes outside them, so it does not see them).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, percentile, print_table, row  # noqa: E402
from bench.disk_stalls import DiskStalls, disk_of  # noqa: E402
from bench.disk_stalls import parse as parse_stalls  # noqa: E402
from bench.disk_stalls import usable as stalls_unusable  # noqa: E402
from server.simulate.processes import free_port  # noqa: E402

INTERVAL = 3.0  # seconds between a handheld's batches
STORE_TRIP = (150, 250)  # batches a trip lasts: 7.5-12.5 minutes
RUSHED_TRIP = (4, 12)  # the stress: a till visit every 12-36 s per handheld
SLOW = 0.1  # the p99 bound, in seconds
TARGET = 1000  # handhelds
FIRST = 250  # handhelds in the first step
TIMEOUT = 15.0  # seconds before a request counts as failed
KEEP_ALIVE = 10  # seconds gunicorn keeps an idle connection open (README's production line): above INTERVAL
# A new handheld's first batches cost the server more (each gunicorn worker authenticates its
# token once before it takes the fast path), so each step's first two batches of every handheld
# are a warm-up, not measured: the capacity is that of the steady state.
WARMUP = 2 * INTERVAL


def _request(method: str, path: str, token: str | None = None, body: Any = None) -> bytes:
    """A whole HTTP/1.1 request, head and body in one buffer (one send, as a handheld's stack does).

    Kept alive, as the handheld's client keeps its connection (handheld/client.py): gunicorn
    runs with a keep-alive longer than the 3 s between batches (KEEP_ALIVE).
    """
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Accept: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


class Line:
    """One client's kept-alive connection to the server, opened again when the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """The answer's status and body (0 and the reason if it failed). A connection the server
        closed while idle is found when the answer does not start; the request is then sent once
        more on a new one (as http.client does), never after any of an answer arrived."""
        try:
            async with asyncio.timeout(TIMEOUT):
                for fresh in (self.stream is None, True):
                    if self.stream is None:
                        self.stream = await asyncio.open_connection("127.0.0.1", self.port)
                    reader, writer = self.stream
                    try:
                        writer.write(request)
                        await writer.drain()
                        head = await reader.readuntil(b"\r\n\r\n")
                    except (ConnectionError, asyncio.IncompleteReadError):
                        self.close()
                        if fresh:
                            raise
                        continue
                    length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                                   if h.lower().startswith(b"content-length:")), 0)
                    body = await reader.readexactly(length)
                    if b"\r\nconnection: close" in head.lower():
                        self.close()
                    return int(head[9:12]), body
        except (OSError, asyncio.IncompleteReadError) as exc:  # refused, reset, or TimeoutError (one of them)
            self.close()
            return 0, repr(exc).encode()
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None


class Handheld:
    """One simulated handheld: its token, its trip and the sequence numbers of its events."""

    def __init__(self, port: int, token: str, till: str, gtins: list[str], seed: int) -> None:
        self.line, self.token, self.till, self.gtins = Line(port), token, till, gtins
        self.rng = random.Random(seed)
        self.seq = 0
        self.trip: str | None = None
        self.left = 0  # batches left in this trip
        self.trip_batches = STORE_TRIP

    def _event(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"id": str(uuid.uuid4()), "seq": self.seq, "kind": kind,
                "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": payload}

    async def _call(self, errors: list[str], path: str, token: str, body: Any) -> dict[str, Any]:
        status, answer = await self.line.send(_request("POST", path, token, body))
        if status not in (200, 201):
            errors.append(f"POST {path} {status}: {answer[:200]!r}")
            return {}
        return json.loads(answer) if answer else {}

    async def ready(self, errors: list[str]) -> None:
        """Start a trip unless one is under way."""
        if self.trip is None:
            first = self.seq == 0  # the store opened before this step: join a trip somewhere along it
            self.trip, self.left = str(uuid.uuid4()), self.rng.randint(*self.trip_batches)
            self.left = self.rng.randint(1, self.left) if first else self.left
            await self._call(errors, "/api/v1/trips", self.token, {"trip_id": self.trip})

    def next_request(self) -> bytes:
        """The trip's next batch of 1-3 scans, ready to send."""
        gtins = self.rng.choices(self.gtins, k=self.rng.randint(1, 3))
        scans = [self._event("scan", {"gtin": g, "barcode": g}) for g in gtins]
        return _request("POST", f"/api/v1/trips/{self.trip}/events", self.token, {"events": scans})

    async def answered(self, errors: list[str]) -> bool:
        """After a batch, and only after the trip's last: finish, check out at the till, start the next trip."""
        self.left -= 1
        if self.left > 0:
            return False
        trip = f"/api/v1/trips/{self.trip}"
        await self._call(errors, f"{trip}/events", self.token, {"events": [self._event("finish", {})]})
        finish = await self._call(errors, f"{trip}/finish", self.token, {})
        if finish.get("audit"):
            await self._call(errors, f"/api/v1/audits/{finish['audit_id']}/outcome", self.till, {"findings": []})
        await self._call(errors, f"{trip}/checkout", self.till, {})
        self.trip = None
        await self.ready(errors)
        return True


class Pinger:
    """The baseline's "handheld": a ping in place of each batch, nothing else."""

    PING = _request("GET", "/api/v1/ping")

    def __init__(self, port: int) -> None:
        self.line = Line(port)

    async def ready(self, errors: list[str]) -> None:
        """Nothing to start."""

    def next_request(self) -> bytes:
        """The ping."""
        return self.PING

    async def answered(self, errors: list[str]) -> bool:
        """Nothing follows a ping."""
        return False


Client = Handheld | Pinger
Beat = tuple[float, float, int, bytes]  # scheduled send time, answer time, status, body


async def _paced(port: int, clients: list[Client], seconds: float, errors: list[str]) -> tuple[list[Beat], float]:
    """Each client sends its next request every INTERVAL s, the clients spread evenly, for WARMUP and
    then `seconds`; every request's beat and the time the warm-up ends."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.1
    stop = begin + WARMUP + seconds
    beats: list[Beat] = []

    async def beat(i: int, client: Client) -> None:
        due = begin + INTERVAL * i / len(clients)
        while due < stop:
            request = client.next_request()  # made ahead, as a handheld makes it on its own CPU
            await asyncio.sleep(due - loop.time())
            status, body = await client.line.send(request)
            beats.append((due, loop.time(), status, body))
            due += INTERVAL
            if await client.answered(errors):  # back from the till it sends its next batch, owes none
                due = max(due, loop.time())

    await asyncio.gather(*(beat(i, c) for i, c in enumerate(clients)))
    return beats, begin + WARMUP


async def _ready(clients: list[Client], errors: list[str]) -> None:
    """Start the trips of clients that have none, 32 at a time."""
    gate = asyncio.Semaphore(32)

    async def one(client: Client) -> None:
        async with gate:
            await client.ready(errors)

    await asyncio.gather(*(one(c) for c in clients))


async def _settle(port: int, limit: float = 90.0) -> None:
    """Wait until the server answers a ping quickly again (requests queued by an overloaded step)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        start = time.monotonic()
        line = Line(port)
        answered = (await line.send(Pinger.PING))[0] == 200
        line.close()
        if answered and time.monotonic() - start < 0.05:
            return
        await asyncio.sleep(1.0)


# A process of its own that sleeps 5 ms at a time until its input closes and prints its longest
# oversleep: how long the machine itself (shared, virtual) left a runnable process waiting,
# which no server can answer faster than.
_STALL_PROBE = """import select, sys, time
worst = 0.0
while True:
    t = time.monotonic()
    if select.select([sys.stdin], [], [], 0.005)[0]:
        break
    worst = max(worst, time.monotonic() - t - 0.005)
print(worst)
"""

# A process of its own that writes the disk as PostgreSQL writes its WAL at every commit (the
# next 8 kB of a file made ahead, then fdatasync), every 50 ms in a file beside the database's
# own, until its input closes; it prints its longest and its median flush, then the start and
# end (time.monotonic, the same clock in every process) of each flush over 50 ms. A commit
# that waits for its flush is held as long as such a stall.
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


def _stall_probe() -> subprocess.Popen[str]:
    """Start the machine-stall probe; _probe stops it and reads what it found."""
    return subprocess.Popen([sys.executable, "-c", _STALL_PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def _flush_probe(folder: str) -> subprocess.Popen[str]:
    """Start the flush probe in `folder`; _probe stops it and reads what it found."""
    path = os.path.join(folder, f"shopgo-flush-probe-{os.getpid()}")
    return subprocess.Popen([sys.executable, "-c", _FLUSH_PROBE, path], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _probe(probe: subprocess.Popen[str]) -> list[float]:
    """Close a probe's input, which ends it, and return the numbers it printed."""
    return [float(v) for v in probe.communicate("", timeout=60)[0].split()]


def _flush_folder() -> str:
    """The database server's data directory when this process may write there (same disk as its
    WAL), else the temporary folder."""
    import tempfile

    import psycopg

    from db import localpg

    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        folder = str(conn.execute("SHOW data_directory").fetchone()[0])
    return folder if os.access(folder, os.W_OK) else tempfile.gettempdir()


def _during(requests: list[tuple[float, float]], stalls: list[float]) -> list[bool]:
    """Whether each (start, end) request was in flight during one of the stalls (start, end, start, end...)."""
    spans = list(zip(stalls[::2], stalls[1::2]))
    return [any(start < s_end and s_start < end for s_start, s_end in spans) for start, end in requests]


@dataclass(frozen=True)
class Site:
    """What every step needs: the server's port and master pid, its database, the probe's folder, the step length."""

    port: int
    server: int
    url: str
    folder: str
    seconds: float


def _others_cpu(site: Site) -> float:
    """CPU seconds the machine has spent so far less those of this benchmark's processes (this load
    generator, gunicorn's master and workers, its database's backends): read before and after a
    step, what other work on the shared machine took meanwhile (PostgreSQL's WAL writer counts as
    other; the machine's tick counts and the processes' own differ by up to a tenth of a core)."""
    import psycopg

    from db import localpg

    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        ours = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                           (site.url.rsplit("/", 1)[1],))]
    workers = Path(f"/proc/{site.server}/task/{site.server}/children").read_text().split()
    ours += [os.getpid(), site.server, *map(int, workers)]
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    for pid in ours:
        with contextlib.suppress(OSError):  # gone meanwhile
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            busy -= int(fields[11]) + int(fields[12])
    return busy / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    """What one paced step of `clients` saw; latencies in ms."""

    clients: int
    sent: float  # requests per second
    p99: float
    p99_apart: float  # of the requests not in flight during a flush stall
    in_stall: int
    failed: int
    acked: int
    lost: int
    flush: float  # the longest, ms
    flush_median: float
    machine_stall: float
    others: float  # cores taken by other work on the machine

    @property
    def held(self) -> bool:
        return self.p99_apart < SLOW * 1000 and self.failed == 0 and self.lost == 0


async def _step(site: Site, clients: list[Client]) -> Step:
    """Run `clients` paced for the site's step length with both probes; a failed request counts as infinitely slow."""
    errors: list[str] = []
    await _ready(clients, errors)
    await _settle(site.port)
    probes, others = (_stall_probe(), _flush_probe(site.folder)), _others_cpu(site)
    gc.disable()  # a collector pass over the generator's heap would read as the server's latency
    try:
        beats, measured = await _paced(site.port, clients, site.seconds, errors)
    finally:
        gc.enable()
    others = max(0.0, _others_cpu(site) - others) / (WARMUP + site.seconds)
    (machine_stall,), (flush, flush_median, *stalls) = _probe(probes[0]), _probe(probes[1])
    timed = [b for b in beats if b[0] >= measured]
    latencies = [end - due if status == 200 else float("inf") for due, end, status, _ in timed]
    during = _during([(due, end) for due, end, *_ in timed], stalls)
    acked: list[str] = []
    for _, _, status, body in beats:
        if status != 200:
            errors.append(f"{status}: {body[:200]!r}")
        elif b'"stored"' in body:  # an event batch's answer
            answer = json.loads(body)
            acked += answer["stored"] + answer["duplicates"]
    for message in errors[:3]:
        print("error:", message, file=sys.stderr)
    step = Step(len(clients), len(timed) / site.seconds, percentile(latencies, 99) * 1000,
                percentile([v for v, d in zip(latencies, during) if not d], 99) * 1000, sum(during), len(errors),
                len(acked), _lost(site.url, acked), flush * 1000, flush_median * 1000, machine_stall * 1000, others)
    print(f"  {step.clients} x {type(clients[0]).__name__}: p99 {step.p99:.0f} ms, apart from {step.in_stall} in a "
          f"flush stall {step.p99_apart:.0f} ms, {step.failed} failed, {step.lost} lost; longest flush "
          f"{step.flush:.0f} ms, machine stall {step.machine_stall:.0f} ms, other work {others:.2f} cores", flush=True)
    return step


def _next_count(n: int, held: int, failed: int | None, cap: int) -> int | None:
    """The next step's count after a step of `n`: doubled up to the cap until one fails, then halfway
    between the most held and the fewest failed until they are within a quarter; None to stop."""
    if failed is None:
        return min(2 * n, cap) if n < cap else None
    return (held + failed) // 100 * 50 if failed - held > max(held // 4, 100) else None


async def _search(site: Site, clients: list[Client]) -> tuple[list[Step], int]:
    """Step the clients from FIRST (_next_count); the steps and the most clients held."""
    steps: list[Step] = []
    held, failed, n = 0, None, FIRST
    while n is not None:
        steps.append(await _step(site, clients[:n]))
        held, failed = (n, failed) if steps[-1].held else (held, n)
        n = _next_count(n, held, failed, len(clients))
    for client in clients:
        client.line.close()
    return steps, held


def _prepare(households: int, devices: int) -> tuple[str, list[str], list[str], str]:
    """A fresh migrated, imported database; its URL, handheld tokens, unit-item GTINs and a till's token."""
    from sqlalchemy import select

    from db import localpg
    from db.migrate import upgrade
    from db.models import Product
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_device
    from server.importer.completejourney import import_completejourney

    localpg.ensure_server()
    url = localpg.create_database("shopgo_bench")
    upgrade(url)
    engine = make_engine(url)
    import_completejourney(engine, store_id="S001", store_name="Bench Store", households=households)
    with make_session_factory(engine)() as session:
        tokens = [add_device(session, "S001", f"bench-{i}")[1] for i in range(devices)]
        till = add_device(session, "S001", "bench-till", "till")[1]
        # unit items a till takes without a person (an age-restricted one waits for a colleague's approval)
        gtins = list(session.scalars(select(Product.gtin).where(Product.sold_by_weight.is_(False),
                                                                Product.min_age.is_(None),
                                                                Product.active.is_(True)).limit(500)))
        session.commit()
    engine.dispose()
    return url, tokens, gtins, till


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


def _gunicorn(url: str, port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    """gunicorn serving the app on `port`, up and answering."""
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "SHOPGO_SERVER_SECRET_KEY": "bench-only-secret"}
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "server.wsgi:app", "--workers", str(workers),
           "--worker-class", "gthread", "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
           "--keep-alive", str(KEEP_ALIVE), "--backlog", "2048", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ping", timeout=5) as answer:
                if answer.status == 200:
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


def _step_row(step: Step, what: str, rate: str) -> Row:
    """A step's line: held or not is told in the figure, the verdict being the capacity's."""
    figure = (f"p99 apart from {step.in_stall} in a flush stall; {step.failed} failed, {step.lost} lost; "
              f"other work {step.others:.1f} cores: {'held' if step.held else 'NOT held'}")
    return row(f"sync_load {step.clients:,} {what}s ({step.sent:.0f} {rate}/s)", figure, step.p99_apart, "ms",
               "p99 of all", step.p99, "< 100 ms", None)


def _capacity(held: int, cap: int) -> float | str:
    return f">= {cap:,}" if held == cap else float(held)


def run(quick: bool = False, seconds: float | None = None, cap: int | None = None, workers: int = 4,
        threads: int = 4, disk_stalls: tuple[float, float] | None = None) -> list[Row]:
    """Search the most handhelds and the most pingers the server holds; return the table rows."""
    from db import localpg

    seconds = seconds or (6.0 if quick else 25.0)
    cap = cap or (TARGET if quick else 4 * TARGET)
    url, tokens, gtins, till = _prepare(households=3, devices=cap)
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    injected = DiskStalls(disk_of(_flush_folder()), *disk_stalls) if disk_stalls else None
    try:
        proc = _gunicorn(url, port, workers, threads)
        site = Site(port, proc.pid, url, _flush_folder(), seconds)
        ping_steps, ping_held = asyncio.run(_search(site, [Pinger(port) for _ in range(cap)]))
        handhelds = [Handheld(port, tokens[i], till, gtins, seed=i) for i in range(cap)]
        hands: list[Client] = [*handhelds]
        with injected or contextlib.nullcontext():
            steps, held = asyncio.run(_search(site, hands))
        for hand in handhelds:  # the same handhelds (their devices' sequence numbers go on), now rushed
            hand.trip_batches = RUSHED_TRIP
            hand.left = min(hand.left, hand.rng.randint(1, RUSHED_TRIP[1]))
        rushed_steps, rushed_held = asyncio.run(_search(site, hands))
    finally:
        if proc is not None:
            _stop(proc)
        localpg.drop_database(url)
    both = steps + rushed_steps + ping_steps
    lost, acked = sum(s.lost for s in steps + rushed_steps), sum(s.acked for s in steps + rushed_steps)
    name = f"sync_load ({workers}x{threads} threads)"
    if disk_stalls:
        name = f"{name[:-1]}, disk held {disk_stalls[0]:g} s every {disk_stalls[1]:g} s)"
    return [
        *[_step_row(s, "handheld", "batches") for s in steps],
        *[_step_row(s, "rushed handheld", "batches") for s in rushed_steps],
        *[_step_row(s, "pinger", "pings") for s in ping_steps],
        row(name, "capacity: most handhelds held (batch every 3 s, store trips, p99 < 100 ms)", _capacity(held, cap),
            "handhelds", "ping capacity, same rule", _capacity(ping_held, cap), f">= {TARGET:,} handhelds",
            held >= TARGET),
        row(name, "the same on rushed trips (4-12 batches: a till visit every 12-36 s each)",
            _capacity(rushed_held, cap), "handhelds", "ping capacity, same rule", _capacity(ping_held, cap), "-",
            None),
        row(name, "events lost, all steps", float(lost), "events", "events acknowledged", float(acked), "0",
            lost == 0),
        row(name, "longest disk flush (fdatasync probe)", max(s.flush for s in both), "ms", "median flush",
            percentile([s.flush_median for s in both], 50), "-", None),
        row(name, "longest machine stall (sleeping probe)", max(s.machine_stall for s in both), "ms", "its sleep",
            5.0, "-", None),
        *([row(name, "disk stalls injected (PostgreSQL's writes held)", float(injected.count), "stalls",
               "seconds held each", disk_stalls[0], "-", None)] if injected and disk_stalls else []),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter steps, capped at the target")
    parser.add_argument("--seconds", type=float, help="length of each step (default 25, quick 6)")
    parser.add_argument("--cap", type=int, help="most handhelds (and pingers) tried (default 4000, quick 1000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--disk-stalls", metavar="HOLD/PERIOD",
                        help="in the sync steps, hold PostgreSQL's disk writes HOLD s every PERIOD s "
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
    rows = run(args.quick, args.seconds, args.cap, args.workers, args.threads, stalls)
    print_table(rows, "sync capacity: paced handhelds against gunicorn + PostgreSQL, beside pingers")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
