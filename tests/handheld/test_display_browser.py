"""The shopper's page in real Chromium: main screen, live update on scan, buttons, offline badge, screenshot."""
from __future__ import annotations

import http.server
import re
import struct
import threading
from pathlib import Path
from typing import Iterator

import pytest

from firmware_bridge import VirtualScanner
from handheld.runtime import HandheldConfig, HandheldRuntime
from server.simulate.processes import free_port

from .conftest import CHEESE, MILK, WINE, gtin, wait_until

pytestmark = [pytest.mark.browser]
import playwright.sync_api as playwright_api  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def rig(seeded_dir: Path, tmp_path: Path) -> Iterator[tuple[HandheldRuntime, VirtualScanner]]:
    """A handheld on a virtual scanner with no store server reachable (offline)."""
    with VirtualScanner("raw", link=tmp_path / "scanner") as scanner:
        config = HandheldConfig(data_dir=seeded_dir, server_url=f"http://127.0.0.1:{free_port()}", token="t",
                                scanner_port=str(tmp_path / "scanner"), http_port=0, sync_interval=0.05,
                                backoff_max=0.2)
        runtime = HandheldRuntime(config)
        runtime.start()
        assert runtime.bridge is not None and runtime.bridge.wait_connected(10)
        yield runtime, scanner
        runtime.stop()


@pytest.fixture
def page(browser: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 480, "height": 800})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    pg.goto(rig[0].display.url)
    yield pg
    context.close()


def _shopping(page: object) -> None:
    page.get_by_role("button", name="Shop as guest").click()  # type: ignore[attr-defined]
    playwright_api.expect(page.locator("#shopping")).to_be_visible()  # type: ignore[attr-defined]


def test_idle_screen_asks_for_a_card_and_guest_starts_a_trip(page: object) -> None:
    playwright_api.expect(page.get_by_text("Scan your loyalty card to start")).to_be_visible()  # type: ignore[attr-defined]
    _shopping(page)
    playwright_api.expect(page.locator("#total")).to_have_text("£0.00")  # type: ignore[attr-defined]


def test_scan_shows_line_and_total_live(page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(CHEESE))
    expect = playwright_api.expect
    expect(page.locator("li.line").first).to_contain_text("Cheddar")  # type: ignore[attr-defined]
    expect(page.locator("#total")).to_have_text("£4.00")  # type: ignore[attr-defined]
    rig[1].scan(gtin(MILK))
    expect(page.locator("li.line").first).to_contain_text("Milk 2L")  # type: ignore[attr-defined]  # newest first
    expect(page.locator("#total")).to_have_text("£5.50")  # type: ignore[attr-defined]
    expect(page.locator("#count")).to_have_text("2 items")  # type: ignore[attr-defined]


def test_quantity_and_remove_buttons_change_the_basket(page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(CHEESE))
    expect = playwright_api.expect
    line = page.locator(f'li.line[data-key="{gtin(CHEESE)}"]')  # type: ignore[attr-defined]
    expect(line).to_be_visible()
    line.get_by_role("button", name="one more").click()
    expect(line.locator(".qty")).to_have_text("2")
    expect(page.locator("#total")).to_have_text("£8.00")  # type: ignore[attr-defined]
    line.get_by_role("button", name="one less").click()
    expect(line.locator(".qty")).to_have_text("1")
    line.get_by_role("button", name="Remove").click()
    expect(page.locator("li.line")).to_have_count(0)  # type: ignore[attr-defined]
    expect(page.locator("#total")).to_have_text("£0.00")  # type: ignore[attr-defined]
    assert [e.kind for e in rig[0].handheld.events] == ["scan", "set_quantity", "set_quantity", "remove"]


def test_offline_badge_counts_waiting_scans(page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(CHEESE))
    rig[1].scan(gtin(CHEESE))
    expect = playwright_api.expect
    expect(page.locator("#offline")).to_have_text("offline, 2 scans waiting")  # type: ignore[attr-defined]
    expect(page.locator("#indicative")).to_be_visible()  # type: ignore[attr-defined]


def test_age_restricted_item_shows_staff_check(page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(WINE))
    playwright_api.expect(page.locator("li.line .flag")).to_have_text("Staff check needed")  # type: ignore[attr-defined]


def test_bad_scan_shows_a_message(page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(99))
    playwright_api.expect(page.locator("#message")).to_contain_text("not found")  # type: ignore[attr-defined]
    playwright_api.expect(page.locator("li.line")).to_have_count(0)  # type: ignore[attr-defined]


def test_finish_asks_then_shows_exit_codes_and_hand_in_frees_the_scanner(
        page: object, rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    _shopping(page)
    rig[1].scan(gtin(MILK))
    expect = playwright_api.expect
    expect(page.locator("li.line")).to_have_count(1)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Finish").click()  # type: ignore[attr-defined]
    expect(page.get_by_text("Did you scan everything?")).to_be_visible()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Go back").click()  # type: ignore[attr-defined]
    assert rig[0].handheld.state()["status"] == "active"
    page.get_by_role("button", name="Finish").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Yes, finish").click()  # type: ignore[attr-defined]
    expect(page.locator("#finished")).to_be_visible()  # type: ignore[attr-defined]
    trip_id = rig[0].handheld.state()["trip_id"]
    expect(page.locator("#tripid")).to_have_text(trip_id)  # type: ignore[attr-defined]
    assert wait_until(lambda: page.eval_on_selector("#qr", "i => i.complete && i.naturalWidth > 0"))  # type: ignore[attr-defined]
    page.get_by_role("button", name=re.compile("Hand in")).click()  # type: ignore[attr-defined]
    expect(page.locator("#idle")).to_be_visible()  # type: ignore[attr-defined]


def test_screenshot_of_the_main_screen(page: object, rig: tuple[HandheldRuntime, VirtualScanner], tmp_path: Path) -> None:
    _shopping(page)
    for data in (gtin(CHEESE), gtin(MILK), gtin(MILK), gtin(WINE)):
        rig[1].scan(data)
    playwright_api.expect(page.locator("li.line")).to_have_count(3)  # type: ignore[attr-defined]
    path = tmp_path / "main-screen.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 5_000
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    assert struct.unpack(">II", head[16:24]) == (480, 800)


# Another site's page, open in the device's browser, trying every way a page can POST to
# the display without being granted CORS: a form, a no-cors fetch, and a JSON fetch (which
# needs a preflight the display never grants, so the browser never sends the POST).
ATTACK_PAGE = """<!doctype html><title>Win a prize</title>
<form id="form" method="post" action="{guest}" enctype="text/plain" target="sink">
<input name='{{"a":"' value='"}}'></form><iframe name="sink"></iframe>
<script>
window.attempts = Promise.allSettled([
  fetch("{guest}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}),
  fetch("{guest}", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: "{{}}"}}),
]).then((r) => r.map((x) => x.status));
document.getElementById("form").submit();
</script>"""


@pytest.fixture
def attack_site(rig: tuple[HandheldRuntime, VirtualScanner]) -> Iterator[str]:
    """The URL of another site's page (localhost, another port: not the display's origin)."""
    page = ATTACK_PAGE.format(guest=rig[0].display.url + "api/guest").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_another_sites_page_cannot_start_a_trip(browser: object, rig: tuple[HandheldRuntime, VirtualScanner],
                                                attack_site: str) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        answers: list[int] = []
        guest = rig[0].display.url + "api/guest"
        pg.on("response", lambda r: answers.append(r.status) if r.url == guest else None)
        pg.goto(attack_site)
        # The form and the no-cors fetch reach the display (and are refused there); the JSON
        # fetch fails in the browser, its preflight unanswered by any CORS grant.
        assert pg.evaluate("window.attempts") == ["fulfilled", "rejected"]
        for _ in range(200):  # Playwright delivers its events only while it is called
            if len(answers) >= 2:
                break
            pg.wait_for_timeout(50)
        assert sorted(answers) == [403, 403]
        assert rig[0].handheld.state()["status"] == "idle" and rig[0].handheld.events == []
    finally:
        context.close()


def test_page_on_a_name_rebound_to_loopback_cannot_read_the_basket(browser: object,
                                                                   rig: tuple[HandheldRuntime, VirtualScanner]) -> None:
    # DNS rebinding, with Chromium's resolver told that evil.example is 127.0.0.1: the page
    # is then same-origin with the display's port, and only the Host header tells them apart.
    runtime, scanner = rig
    runtime.handheld.start_guest()
    scanner.scan(gtin(CHEESE))
    assert wait_until(lambda: runtime.handheld.state()["item_count"] == 1)
    rebound = f"http://evil.example:{runtime.display.port}/"
    # A browser of its own: the resolver rule is a launch argument.
    b = browser.browser_type.launch(  # type: ignore[attr-defined]
        executable_path="/usr/bin/chromium", args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
    try:
        pg = b.new_page()
        pg.set_default_timeout(10_000)
        assert pg.goto(rebound).status == 403
        answers = pg.evaluate("""Promise.all(["/api/state", "/api/stream"].map((path) =>
            fetch(path).then(async (r) => [r.status, await r.text()])))""")
    finally:
        b.close()
    assert [status for status, _ in answers] == [403, 403]
    assert not any(gtin(CHEESE) in body for _, body in answers)
