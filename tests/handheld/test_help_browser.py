"""The handheld page and the staff console in real Chromium against the real store server on loopback:
an offer shows as its product is scanned, Call staff reaches the live trips page (and a colleague
clearing it reaches the handheld), a problem report reaches the feedback queue."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import playwright.sync_api as playwright_api
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from db.base import utcnow
from db.models import Feedback, Member, Offer, Product
from firmware_bridge import VirtualScanner
from handheld.runtime import HandheldConfig, HandheldRuntime
from tests.loopback import LoopbackServer

from .conftest import pick_products, wait_until

pytestmark = [pytest.mark.browser]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "correct-horse-9"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def _prepare(url: str) -> tuple[str, str, str]:
    """A staff member, and a personal offer for the first member on a plain product: (card, offer gtin, other gtin)."""
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_user

    picks = pick_products(url)
    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            add_user(s, "alice", PASSWORD, "staff", "S001")
            member = s.scalars(select(Member).where(Member.card_number == picks["card"])).one()
            member.consent_personalisation = True
            product = s.scalars(select(Product).where(Product.gtin == picks["plain"][0])).one()
            s.add(Offer(member_id=member.id, product_id=product.id, kind="replenish", reward_type="percent",
                        reward_value=20, valid_from=utcnow() - timedelta(days=1), valid_to=utcnow() + timedelta(days=7),
                        max_redemptions=1))
            s.commit()
    finally:
        eng.dispose()
    return picks["card"], picks["plain"][0], picks["plain"][1]


def _staff(browser: Browser, base: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/signin")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def test_offer_help_and_a_problem_report_from_the_handheld_page(
        store_server: tuple[LoopbackServer, str, str], browser: Browser, tmp_path: Path) -> None:
    server, token, url = store_server
    card, offered, other = _prepare(url)
    with VirtualScanner("raw", link=tmp_path / "scanner") as scanner:
        runtime = HandheldRuntime(HandheldConfig(data_dir=tmp_path / "hh", server_url=server.url, token=token,
                                                 scanner_port=str(tmp_path / "scanner"), http_port=0,
                                                 sync_interval=0.1, backoff_max=0.5))
        runtime.start()
        try:
            assert runtime.bridge is not None and runtime.bridge.wait_connected(10)
            assert runtime.catalogue_sync.loaded.wait(120)
            hh = browser.new_context(viewport={"width": 480, "height": 800}).new_page()
            hh.set_default_timeout(20_000)
            hh.goto(runtime.display.url)
            scanner.scan(card)
            expect(hh.locator("#shopping")).to_be_visible()
            assert wait_until(lambda: runtime.handheld.state()["offers"], 30)  # the server sent the member's offers
            scanner.scan(offered)
            expect(hh.locator("#message")).to_contain_text("Your offer applies: 20% off")
            SHOTS.mkdir(parents=True, exist_ok=True)
            hh.screenshot(path=str(SHOTS / "handheld-offer.png"))

            hh.get_by_role("button", name="Call staff").click()
            expect(hh.locator("#helping")).to_have_text("A colleague is on the way.")
            staff = _staff(browser, server.url)
            staff.get_by_role("link", name="Live trips").click()
            trip_id = runtime.handheld.state()["trip_id"]
            called = staff.locator(f"#trip-{trip_id}")
            expect(called.get_by_text("Help requested")).to_be_visible()  # within a refresh of the live page
            expect(called).to_have_class(re.compile(r"\bhelp\b"))
            staff.screenshot(path=str(SHOTS / "live-trips-help.png"))
            called.get_by_role("button", name="Help given").click()
            expect(staff.locator(f"#trip-{trip_id}").get_by_text("Help requested")).to_have_count(0)
            scanner.scan(other)  # the next sync answer carries the colleague's clearing
            expect(hh.locator("#helping")).to_be_hidden()

            hh.get_by_role("button", name="Report a problem").click()
            hh.get_by_label("Damaged item").check()
            hh.get_by_label("Which item?").select_option(other)
            hh.get_by_label("Anything to add?").fill("dented tin")
            hh.screenshot(path=str(SHOTS / "handheld-report.png"))
            hh.get_by_role("button", name="Send").click()
            expect(hh.locator("#message")).to_contain_text("your report has gone to the staff")
            assert wait_until(lambda: runtime.handheld.state()["pending_events"] == 0, 30)
            staff.get_by_role("link", name="Feedback").click()
            expect(staff.get_by_text("dented tin")).to_be_visible()
            expect(staff.get_by_text("Damaged item").first).to_be_visible()
        finally:
            runtime.stop()
    from db.session import make_engine, make_session_factory

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            report = s.scalars(select(Feedback).where(Feedback.trip_id == trip_id)).one()
            assert (report.kind, report.message) == ("damaged", "dented tin")
    finally:
        eng.dispose()
