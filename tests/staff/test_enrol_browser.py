"""Enrolment in real Chromium: a shopper joins at the kiosk with their choices and gets a printable
card; the member page shows the choices and where they were given."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from db.models import Member, MemberConsent
from tests.loopback import LoopbackServer
from tests.staff.test_browser import browser, sign_in  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def page(browser: Browser, staff_app: Flask) -> Iterator[tuple[Page, str]]:  # noqa: F811
    server = LoopbackServer(staff_app).start()
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg, server.url
    context.close()
    server.stop()


def test_a_shopper_joins_at_the_kiosk_and_gets_a_card(page: tuple[Page, str], staff_app: Flask) -> None:
    pg, base = page
    sign_in(pg, base, "alice")  # a colleague signs the kiosk in
    pg.goto(f"{base}/staff/kiosk")
    expect(pg.get_by_role("heading", name="Join the ShopGo club")).to_be_visible()
    expect(pg.get_by_role("link", name="Live trips")).to_have_count(0)  # no console around the kiosk
    pg.get_by_label("Your name").fill("Grace Hopper")
    pg.get_by_label("E-mail (optional)").fill("grace@example.org")
    pg.get_by_label("Use my purchases to work out personal offers").check()
    pg.get_by_label("E-mail me a receipt").check()
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / "kiosk-join.png"), full_page=True)
    pg.get_by_role("button", name="Join").click()
    expect(pg.get_by_role("heading", name="Welcome, Grace Hopper!")).to_be_visible()
    expect(pg.locator("#card svg")).to_be_visible()
    pg.screenshot(path=str(SHOTS / "kiosk-card.png"), full_page=True)
    from server.database import session_factory

    with session_factory(staff_app)() as s:
        member = s.scalars(select(Member).where(Member.name == "Grace Hopper")).one()
        sources = {(c.purpose, c.source) for c in s.scalars(select(MemberConsent)
                                                              .where(MemberConsent.member_id == member.id))}
    assert sources == {("personal_offers", "kiosk"), ("email_receipts", "kiosk")}
    expect(pg.locator("#card")).to_contain_text(f"member {member.id}")
    pg.goto(f"{base}/staff/members/{member.id}")
    expect(pg.locator("#consent-history")).to_contain_text("kiosk")
    pg.get_by_label("Send me news and offers from the chain").check()
    pg.get_by_role("button", name="Save the member's choices").click()
    expect(pg.get_by_role("status")).to_contain_text("Saved 1 change")
    expect(pg.locator("#consent-history tbody tr").first).to_contain_text("marketing")
