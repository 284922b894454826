"""`shopgo demo` brings up the store server, a handheld whose virtual scanner reads stdin, and simulated
shoppers whose trips show in the staff console's live trips."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shop.numbering import card_number, product_gtin


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _both_stores_feed_head_office(store_url: str, deadline: float) -> None:
    """Head office holds a feed batch of each store, and the lake their lines (the demo's schedulers ship)."""
    import hashlib

    from sqlalchemy import select

    from db.models import StoreLink
    from db.session import make_engine, make_session_factory
    from shop.config import ROOT

    tag = hashlib.sha256(store_url.encode()).hexdigest()[:8]
    eng = make_engine(f"sqlite:///{ROOT / 'var' / f'head-office-demo-{tag}.db'}")
    fed: dict[str, int] = {}
    try:
        while time.monotonic() < deadline:
            with make_session_factory(eng)() as ho:
                fed = {link.store_id: link.feed_lines for link in ho.scalars(select(StoreLink))}
            if len(fed) == 2 and all(fed.values()):
                break
            time.sleep(1)
    finally:
        eng.dispose()
    assert set(fed) == {"S001", "S002"} and all(fed.values()), fed


def _simulated_trip_is_live(store_url: str, log: Path, deadline: float) -> None:
    """The manager sees a simulated shopper's trip (on a handheld named demo-shopper-N) in Live trips."""
    from server.simulate.clients import StaffConsole

    password = re.search(r"\(manager / (\S+)\)", log.read_text())
    assert password, log.read_text()
    console = StaffConsole(store_url, "manager", password.group(1))
    body: dict = {}  # type: ignore[type-arg]
    try:
        console.sign_in()
        while time.monotonic() < deadline:
            status, body = console.call("GET", "/staff/trips/live")
            if status == 200 and "demo-shopper-" in body["html"]:
                return
            time.sleep(0.5)
    finally:
        console.close()
    raise AssertionError(f"no simulated shopper's trip in Live trips: {body}")


def test_demo_scans_typed_barcodes_into_a_trip_on_the_handheld(tmp_path: Path) -> None:
    store, hand, ho, two = _free_port(), _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SHOPGO_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    exe = Path(sys.executable).parent / "shopgo"
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen([str(exe), "demo", "--households", "3", "--store-bind", f"127.0.0.1:{store}",
                             "--handheld-bind", f"127.0.0.1:{hand}", "--head-office-bind", f"127.0.0.1:{ho}",
                             "--store-two-bind", f"127.0.0.1:{two}"], env=env, stdin=subprocess.PIPE,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if _get(f"http://127.0.0.1:{hand}/api/state").get("catalogue_version") is not None:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            time.sleep(0.5)
        assert proc.stdin is not None
        # Household 1 is among the first three; product 1082185 is bananas in the real catalogue.
        proc.stdin.write(f"{card_number(1)}\n{product_gtin(1082185)}\n{product_gtin(1082185)}\n".encode())
        proc.stdin.flush()
        state: dict = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            state = _get(f"http://127.0.0.1:{hand}/api/state")
            if state.get("item_count") == 2 and state.get("pending_events") == 0:
                break
            time.sleep(0.3)
        assert state["card_number"] == card_number(1)
        assert state["item_count"] == 2 and len(state["lines"]) == 1
        assert state["total_minor"] > 0
        _simulated_trip_is_live(f"http://127.0.0.1:{store}", tmp_path / "demo.log", deadline)
        health = _get(f"http://127.0.0.1:{store}/healthz")
        assert health["database"] == "ok" and health["migrations_applied"]
        head_office = _get(f"http://127.0.0.1:{ho}/healthz")
        assert head_office["role"] == "head_office" and head_office["database"] == "ok"
        while time.monotonic() < deadline:  # the second store's server, started after the schedulers
            try:
                assert _get(f"http://127.0.0.1:{two}/healthz")["store_id"] == "S002"
                break
            except OSError:
                time.sleep(0.5)
        _both_stores_feed_head_office(env["SHOPGO_DATABASE_URL"], deadline)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdin:
            proc.stdin.close()
        log.close()
        _remove_demo_files(env["SHOPGO_DATABASE_URL"])


def _remove_demo_files(store_url: str) -> None:
    """The demo keeps head office, the second store and credentials under var/, named by the database's tag."""
    import hashlib
    import shutil

    from shop.config import ROOT

    tag = hashlib.sha256(store_url.encode()).hexdigest()[:8]
    for path in (ROOT / "var").glob(f"*{tag}*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
