"""The demo as a newcomer drives it: `shopgo demo` started, barcodes typed into its terminal reach the
handheld, both stores feed head office; after a crash, a second `shopgo demo` stops what the first
left running; the trip is finished and paid from the browser alone (the handheld page's demo scanner,
then the till in the staff console), the simulated shoppers' trips show in Live trips, and Ctrl-C
leaves no process and no port behind. One test, so the demo starts twice, not three times."""
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
from typing import IO

import playwright.sync_api as playwright_api
import pytest
from playwright.sync_api import expect

from server.demo import demo_tag
from server.simulate.processes import free_port
from shop.config import ROOT
from shop.numbering import card_number, product_gtin

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "var" / "screenshots"


def _get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _both_stores_feed_head_office(store_url: str, deadline: float) -> None:
    """Head office holds a feed batch of each store, and the lake their lines (the demo's schedulers ship)."""
    from sqlalchemy import select

    from db.models import StoreLink
    from db.session import make_engine, make_session_factory

    eng = make_engine(f"sqlite:///{ROOT / 'var' / f'head-office-demo-{demo_tag(store_url)}.db'}")
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


def _remove_demo_files(store_url: str) -> None:
    """The demo keeps head office, the second store and credentials under var/, named by the database's tag."""
    import shutil

    for path in (ROOT / "var").glob(f"*{demo_tag(store_url)}*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _start(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "shopgo"
    return subprocess.Popen([str(exe), "demo", "--households", "3", *args], env=env, stdin=subprocess.PIPE,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _ready(hand: int, proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    """The demo has said it runs and its handheld has a catalogue."""
    while time.monotonic() < deadline and "ShopGo demo is running" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        time.sleep(0.5)
    while time.monotonic() < deadline:
        try:
            if _get(f"http://127.0.0.1:{hand}/api/state").get("catalogue_version") is not None:
                return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()
        time.sleep(0.5)
    raise AssertionError(f"the demo did not come up: {log.read_text()[-2000:]}")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _typed_barcodes_reach_the_handheld(demo: subprocess.Popen[bytes], hand: int) -> None:
    """A card and two bananas typed into the demo's terminal make a trip on the handheld."""
    assert demo.stdin is not None
    # Household 1 is among the first three; product 1082185 is bananas in the real catalogue.
    demo.stdin.write(f"{card_number(1)}\n{product_gtin(1082185)}\n{product_gtin(1082185)}\n".encode())
    demo.stdin.flush()
    state: dict = {}  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _get(f"http://127.0.0.1:{hand}/api/state")
        if state.get("item_count") == 2 and state.get("pending_events") == 0:
            break
        time.sleep(0.3)
    assert state["card_number"] == card_number(1)
    assert state["item_count"] == 2 and len(state["lines"]) == 1 and state["total_minor"] > 0


def test_a_newcomer_shops_and_pays_from_the_browser_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(4)]
    store, hand, ho, two = ports
    binds = ["--store-bind", f"127.0.0.1:{store}", "--handheld-bind", f"127.0.0.1:{hand}",
             "--head-office-bind", f"127.0.0.1:{ho}", "--store-two-bind", f"127.0.0.1:{two}"]
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    pids_file = ROOT / "var" / f"demo-{demo_tag(url)}-logs" / "pids"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    crashed: subprocess.Popen[bytes] | None = None
    demo: subprocess.Popen[bytes] | None = None
    try:
        with first_log.open("wb") as log:
            crashed = _start(binds, env, log)
            _ready(hand, crashed, first_log, time.monotonic() + 240)
        _typed_barcodes_reach_the_handheld(crashed, hand)  # the terminal's scanner works too
        deadline = time.monotonic() + 120
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
        _both_stores_feed_head_office(url, deadline)
        left = [int(p) for p in pids_file.read_text().split()]
        os.kill(crashed.pid, signal.SIGKILL)  # a crash: its servers, schedulers and handheld keep running
        crashed.wait()
        assert all(_alive(p) for p in left) and _port_open(store)

        with second_log.open("wb") as log:
            demo = _start(binds, env, log)
            _ready(hand, demo, second_log, time.monotonic() + 240)
        text = second_log.read_text()
        assert re.search(r"stopped \d+ process(es)? an earlier demo left running", text), text
        assert not any(_alive(p) for p in left)
        password = re.search(r"\(manager / (\S+)\)", text)
        assert password, text
        started = [int(p) for p in pids_file.read_text().split()]

        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            shopper = browser.new_context(viewport={"width": 480, "height": 900}).new_page()
            shopper.set_default_timeout(30_000)
            shopper.goto(f"http://127.0.0.1:{hand}/")  # the trip typed in before the crash is still there
            expect(shopper.locator("#shopping")).to_be_visible()
            expect(shopper.locator("#count")).to_have_text("2 items")
            product = shopper.locator("#demo-samples button.sample").nth(2)  # after the two cards
            product.click()
            expect(shopper.locator("#count")).to_have_text("3 items")
            product.click()
            expect(shopper.locator("#count")).to_have_text("4 items")
            SHOTS.mkdir(parents=True, exist_ok=True)
            shopper.screenshot(path=str(SHOTS / "demo-handheld.png"), full_page=True)
            shopper.get_by_role("button", name="Finish").click()
            shopper.get_by_role("button", name="Yes, finish").click()
            expect(shopper.locator("#topay")).to_be_visible()
            expect(shopper.locator("#qr")).to_be_visible()
            code = shopper.locator("#tripid").inner_text()

            till = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            till.set_default_timeout(30_000)
            till.goto(f"http://127.0.0.1:{store}/staff/till")
            till.get_by_label("User name").fill("manager")
            till.get_by_label("Password").fill(password.group(1))
            till.get_by_role("button", name="Sign in").click()
            deadline = time.monotonic() + 60
            while True:  # the handheld's finish reaches the store within a sync or two
                till.get_by_label("Scan the shopper's exit code").fill(code)
                with till.expect_navigation():  # the scan is a form: read the page it leads to
                    till.keyboard.press("Enter")
                if till.get_by_role("heading", level=1).inner_text().startswith("To pay") \
                        or time.monotonic() > deadline:
                    break
                till.goto(f"http://127.0.0.1:{store}/staff/till")
                time.sleep(1)
            if till.locator("#rescan").count():  # a member's first self-scan trip is rescanned
                till.get_by_role("button", name="Record the rescan").click()
            if till.locator("#age-check").count():
                till.get_by_role("button", name=re.compile("ID checked")).click()
            till.screenshot(path=str(SHOTS / "demo-till.png"), full_page=True)
            till.get_by_role("button", name=re.compile(r"^Take ")).click()
            expect(till.get_by_role("heading", level=1)).to_contain_text("Paid")
            till.goto(f"http://127.0.0.1:{store}/staff/trips")  # the living store: simulated shoppers' trips
            expect(till.get_by_text(re.compile(r"demo-shopper-\d")).first).to_be_visible(timeout=90_000)
            till.screenshot(path=str(SHOTS / "demo-live-trips.png"), full_page=True)
            browser.close()
        assert _get(f"http://127.0.0.1:{store}/healthz")["database"] == "ok"

        os.kill(demo.pid, signal.SIGINT)  # Ctrl-C: the demo alone gets it here, and must stop the rest
        demo.wait(timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (any(_alive(p) for p in started) or any(map(_port_open, ports))):
            time.sleep(0.2)
        assert not any(_alive(p) for p in started), "a process of the demo outlived Ctrl-C"
        assert not any(_port_open(p) for p in ports), "a port of the demo is still taken"
        assert not pids_file.exists()
    finally:
        for proc in (crashed, demo):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc is not None and proc.stdin is not None:
                proc.stdin.close()
        if pids_file.exists():
            for pid in pids_file.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        _remove_demo_files(url)
