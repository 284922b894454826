"""A PostgreSQL crash loses nothing the store server has answered; the handheld's sync carries on.

The store server answers an event batch only after its commit is on disk. This test crashes
a throw-away PostgreSQL cluster of its own (immediate shutdown: nothing flushed on the way
down) with the WAL writer paused, so no background flush can hide a commit that was answered
before its own flush; the cluster comes back with every answered event, and the handheld,
which forgot them when answered, finishes the trip with nothing missing and nothing twice.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from handheld.client import ApiClient, Offline
from handheld.device import Handheld
from handheld.store import TripRow
from handheld.sync import EventSync
from tests.loopback import LoopbackServer, dispose_when_idle

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    """A PostgreSQL 15 cluster in a temporary folder, owned by `postgres` when run as root."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.data = folder, folder / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql+psycopg://shopgo@127.0.0.1:{self.port}/shopgo"

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {out.stdout}{out.stderr}")
        return out

    def init(self) -> None:
        if not (PG_BIN / "initdb").exists():  # the suite needs PostgreSQL 15 anyway (tests/conftest.py)
            pytest.fail(f"{PG_BIN / 'initdb'} is missing: run `apt-get install postgresql-15` (make system-deps)",
                        pytrace=False)
        self._pg("initdb", "-D", str(self.data), "-U", "shopgo", "--auth=trust", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.folder}'\nautovacuum = off\n")

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "60", "start")

    def crash(self, walwriter: int | None = None) -> None:
        """Immediate shutdown (no flush), letting a paused WAL writer go only once it is under way."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-W", "stop")
        if walwriter is not None:
            os.kill(walwriter, signal.SIGCONT)  # it handles the shutdown's SIGQUIT before anything else
        deadline = time.monotonic() + 30
        while (self.data / "postmaster.pid").exists():
            assert time.monotonic() < deadline, "PostgreSQL did not stop"
            time.sleep(0.05)

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(f"host=127.0.0.1 port={self.port} user=shopgo dbname=shopgo", autocommit=True)


@contextmanager
def cluster() -> Iterator[Cluster]:
    folder = Path(tempfile.mkdtemp(prefix="shopgo-crash-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    pg = Cluster(folder)
    try:
        pg.init()
        pg.start()
        with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=shopgo dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE shopgo")
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _server_events(pg: Cluster, trip_id: str) -> tuple[list[str], int]:
    with pg.connect() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM trip_events WHERE trip_id = %s ORDER BY seq", (trip_id,))]
        count = conn.execute("SELECT event_count FROM trips WHERE id = %s", (trip_id,)).fetchone()
    return ids, count[0] if count else -1


@contextmanager
def store_on(pg: Cluster) -> Iterator[tuple[LoopbackServer, str]]:
    """The store server on the cluster (migrated, one store, one device): the server and the device's token."""
    from db.migrate import upgrade
    from db.session import make_engine, make_session_factory
    from server.app import create_app
    from server.auth.accounts import add_device, ensure_store
    from server.database import engine as app_engine

    upgrade(pg.url)
    eng = make_engine(pg.url)
    with make_session_factory(eng)() as sess:
        ensure_store(sess, "S001", "Test Store")
        _, token = add_device(sess, "S001", "handheld-crash")
        sess.commit()
    eng.dispose()
    app = create_app({"database": {"url": pg.url}, "server": {"secret_key": "test-secret"},
                      "site": {"store_id": "S001", "store_name": "Test Store"}})
    server = LoopbackServer(app).start()
    try:
        yield server, token
    finally:
        server.stop()
        dispose_when_idle(app_engine(app))


def _walwriter(pg: Cluster) -> int:
    with pg.connect() as conn:
        return int(conn.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'").fetchone()[0])


@pytest.fixture
def crashable(device: Handheld) -> Iterator[tuple[Cluster, EventSync, TripRow]]:
    """A store server on a cluster of its own, the device's sync worker against it, and a new trip."""
    with cluster() as pg, store_on(pg) as (server, token):
        yield pg, EventSync(device, ApiClient(server.url, token, timeout=10)), device.store.start_trip(None)


@pytest.mark.slow
def test_every_event_the_server_answered_survives_a_crash(crashable: tuple[Cluster, EventSync, TripRow]) -> None:
    pg, sync, trip = crashable
    store = sync.store
    kept = [store.append(trip.id, "help", {"n": i}).id for i in range(3)]
    sync.step()  # the trip and a first batch
    assert _server_events(pg, trip.id) == (kept, 3)

    walwriter = _walwriter(pg)
    os.kill(walwriter, signal.SIGSTOP)  # no background flush: only the commit's own flush counts
    answered = [store.append(trip.id, "help", {"n": i}).id for i in range(3, 5)]
    sync.step()
    assert store.pending_count() == 0  # answered, so the device keeps them no longer
    pg.crash(walwriter)
    pg.start()
    assert _server_events(pg, trip.id) == ([*kept, *answered], 5)  # the crash took nothing answered

    later = store.append(trip.id, "help", {"n": 5}).id
    while sync.step():  # the pool's connections died with the server: new ones, nothing sent twice
        pass
    assert _server_events(pg, trip.id) == ([*kept, *answered, later], 6)
    store.update_trip(trip.id, finish_request={"handheld_total_minor": 0, "event_count": 6})
    sync.step()
    finished = store.trip(trip.id)
    assert finished is not None and finished.finish_answer is not None
    # only help events: nothing in the basket, so no purchase (abandoned), and none of them missing
    assert finished.finish_answer["status"] == "abandoned" and finished.finish_answer["events_missing"] == 0
    assert store.pending_count() == 0


@pytest.mark.slow
def test_a_batch_cut_off_by_a_crash_is_sent_again_and_stored_once(
        crashable: tuple[Cluster, EventSync, TripRow]) -> None:
    pg, sync, trip = crashable
    store = sync.store
    sync.step()  # the trip
    pg.crash()  # down before the batch: it cannot be answered
    sent = [store.append(trip.id, "help", {"n": i}).id for i in range(4)]
    with pytest.raises(Offline, match="503"):  # the server says it cannot store, so the worker backs off
        sync.step()
    assert store.pending_count() == 4  # not answered: the device keeps every one
    pg.start()
    for _ in range(3):
        sync.step()
    store.update_trip(trip.id, finish_request={"handheld_total_minor": 0, "event_count": 4})
    sync.step()
    finished = store.trip(trip.id)
    assert finished is not None and finished.finish_answer is not None
    # only help events: nothing in the basket, so no purchase (abandoned), and none of them missing
    assert finished.finish_answer["status"] == "abandoned" and finished.finish_answer["events_missing"] == 0
    assert _server_events(pg, trip.id) == (sent, 4)
    assert store.pending_count() == 0
