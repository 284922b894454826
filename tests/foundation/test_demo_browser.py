"""The demo as a newcomer drives it: `shopgo demo` started (after a crashed one, whose processes it
stops), a whole trip done from the browser alone (the handheld page's demo scanner, then the till
in the staff console), the simulated shoppers' trips in Live trips, and Ctrl-C leaving no process
and no port behind."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import playwright.sync_api as playwright_api
import pytest
from playwright.sync_api import expect

from shop.config import ROOT
from tests.foundation.test_demo import _free_port, _get, _remove_demo_files

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "var" / "screenshots"


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


def test_a_newcomer_shops_and_pays_from_the_browser_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    ports = [_free_port() for _ in range(4)]
    store, hand, ho, two = ports
    binds = ["--store-bind", f"127.0.0.1:{store}", "--handheld-bind", f"127.0.0.1:{hand}",
             "--head-office-bind", f"127.0.0.1:{ho}", "--store-two-bind", f"127.0.0.1:{two}"]
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    pids_file = ROOT / "var" / f"demo-{hashlib.sha256(url.encode()).hexdigest()[:8]}-logs" / "pids"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    crashed: subprocess.Popen[bytes] | None = None
    demo: subprocess.Popen[bytes] | None = None
    try:
        with first_log.open("wb") as log:
            crashed = _start(binds, env, log)
            _ready(hand, crashed, first_log, time.monotonic() + 240)
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
            shopper.goto(f"http://127.0.0.1:{hand}/")
            shopper.get_by_role("button", name="Loyalty card 1").click()
            expect(shopper.locator("#shopping")).to_be_visible()
            product = shopper.locator("#demo-samples button.sample").nth(2)  # after the two cards
            product.click()
            expect(shopper.locator("#count")).to_have_text("1 item")
            product.click()
            expect(shopper.locator("#count")).to_have_text("2 items")
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
