"""The console in real Chromium (system browser through Playwright) against a live server.

One seeded database and server per backend for the module; each test changes different rows.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from playwright import sync_api as playwright_api
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from db.base import utcnow
from db.models import Audit, Member, Purchase, StaffAction, Trip
from tests.loopback import LoopbackServer
from tests.staff.conftest import OTHER_MEMBER, PASSWORD, Seed

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def staff_app(shared_app: Flask) -> Flask:
    return shared_app


@pytest.fixture(scope="module")
def base_url(staff_app: Flask) -> Iterator[str]:
    """The app served on a free loopback port in a thread."""
    server = LoopbackServer(staff_app).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_sign_in_with_the_form(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/staff/members")
    expect(page).to_have_url(f"{base_url}/signin?next=/staff/members")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_contain_text("wrong password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base_url}/staff/members")
    expect(page.get_by_role("heading", name="Find a member")).to_be_visible()


def test_member_search_finds_and_opens_a_member(page: Page, base_url: str) -> None:
    sign_in(page, base_url, "alice")
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Card number, household id or name").fill("household 1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#results caption")).to_have_text("4 members found")
    page.locator("#results").get_by_role("link", name="10", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Household 10")
    expect(page.locator("#stage")).to_be_visible()


def test_member_search_says_how_many_matched_and_pages_through_them(page: Page, base_url: str,
                                                                   staff_app: Flask) -> None:
    from server.database import session_factory
    from shop.numbering import card_number

    with session_factory(staff_app)() as sess:  # thirty members of one family, more than a page holds
        sess.add_all([Member(id=8_000_000 + i, card_number=card_number(8_000_000 + i), store_id="S001",
                             name=f"Zed Pager {i:02d}") for i in range(30)])
        sess.commit()
    sign_in(page, base_url, "alice")
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Card number, household id or name").fill("zed pager")
    page.keyboard.press("Enter")
    expect(page.locator("#results caption")).to_have_text("30 members found · 1–25 shown")
    expect(page.locator("#results tbody tr")).to_have_count(25)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator("#results caption")).to_have_text("30 members found · 26–30 shown")
    expect(page.locator("#results tbody tr")).to_have_count(5)
    page.get_by_role("link", name="‹ Previous").click()
    expect(page.locator("#results tbody tr")).to_have_count(25)


def test_opening_a_basket_shows_its_lines(page: Page, base_url: str, staff_app: Flask) -> None:
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/staff/members/7")
    first = page.locator("details.basket").first
    first.locator("summary").click()
    table = first.locator("table.linetable")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").first).to_be_visible()
    assert table.locator("tbody tr").count() >= 1


def test_recording_an_audit_in_the_browser(page: Page, base_url: str, staff_app: Flask) -> None:
    seeded: Seed = staff_app.config["STAFF_SEED"]
    sign_in(page, base_url, "alice")
    page.get_by_role("link", name="Audits").click()
    page.get_by_role("link", name="Rescan").click()
    page.locator(f"#found_{seeded.food_gtin}").fill("1")
    page.get_by_role("button", name="Record rescan").click()
    expect(page.get_by_role("status")).to_contain_text("1 line(s) did not match")
    expect(page.locator("#no-audits")).to_be_visible()
    from server.database import session_factory

    with session_factory(staff_app)() as sess:
        audit = sess.get(Audit, seeded.audit_id)
        assert audit is not None and audit.status == "mismatch" and audit.staff_user_id is not None


def test_approving_an_age_check_in_the_browser(page: Page, base_url: str, staff_app: Flask) -> None:
    seeded: Seed = staff_app.config["STAFF_SEED"]
    sign_in(page, base_url, "alice")
    page.get_by_role("link", name="Live trips").click()
    trip = page.locator(f"#trip-{seeded.age_trip}")
    expect(trip.get_by_text("Age check needed")).to_be_visible()
    trip.get_by_role("button", name="Approve age check").click()
    expect(page.get_by_role("status")).to_have_text("Age check approved.")
    expect(page.locator(f"#trip-{seeded.age_trip}").get_by_text("Age check needed")).to_have_count(0)
    from server.database import session_factory

    with session_factory(staff_app)() as sess:
        kinds = sess.scalars(select(StaffAction.kind).where(StaffAction.trip_id == seeded.age_trip)).all()
    assert kinds == ["age_ok"]


def test_live_trips_page_shows_a_new_trip_without_reloading(page: Page, base_url: str, staff_app: Flask) -> None:
    seeded: Seed = staff_app.config["STAFF_SEED"]
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/staff/trips")
    page.evaluate("window.__same_page = true")
    new_id = str(uuid.uuid4())
    from server.database import session_factory

    with session_factory(staff_app)() as sess:
        sess.add(Trip(id=new_id, store_id="S001", device_id=seeded.device_id, started_at=utcnow(), needs_help=True))
        sess.commit()
    expect(page.locator(f"#trip-{new_id}")).to_be_visible(timeout=10_000)
    expect(page.locator(f"#trip-{new_id}").get_by_text("Help requested")).to_be_visible()
    assert page.evaluate("window.__same_page") is True  # updated in place, not reloaded


def test_staff_of_another_store_gets_403_on_a_member_page(page: Page, base_url: str) -> None:
    sign_in(page, base_url, "alice")
    resp = page.goto(f"{base_url}/staff/members/{OTHER_MEMBER}")
    assert resp is not None and resp.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("403 Forbidden")


def test_member_page_screenshot(page: Page, base_url: str, staff_app: Flask, tmp_path: Path) -> None:
    from server.database import session_factory

    with session_factory(staff_app)() as sess:
        heaviest = sess.execute(select(Purchase.member_id).where(Purchase.store_id == "S001")
                                .group_by(Purchase.member_id).order_by(func.count().desc()).limit(1)).scalar_one()
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/staff/members/{heaviest}")
    page.locator("details.basket").first.locator("summary").click()
    expect(page.locator("details.basket").first.locator("table.linetable")).to_be_visible()
    shot = tmp_path / "member-page.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_voiding_a_line_asks_first(page: Page, base_url: str, staff_app: Flask) -> None:
    seeded: Seed = staff_app.config["STAFF_SEED"]
    sign_in(page, base_url, "alice")
    page.goto(f"{base_url}/staff/trips")
    trip = page.locator(f"#trip-{seeded.help_trip}")
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    trip.get_by_role("button", name="Void").first.click()
    page.wait_for_timeout(300)
    assert questions and "cannot be scanned again" in questions[0]
    expect(trip.locator("table.linetable tbody tr")).to_have_count(1)  # dismissed: nothing voided
    page.once("dialog", lambda d: d.accept())
    trip.get_by_role("button", name="Void").first.click()
    expect(page.get_by_role("status")).to_have_text("Line voided.")
    from server.database import session_factory

    with session_factory(staff_app)() as sess:
        kinds = sess.scalars(select(StaffAction.kind).where(StaffAction.trip_id == seeded.help_trip)).all()
    assert kinds == ["void_line"]



def test_the_dashboard_shows_today_at_a_glance_beside_last_week(page: Page, base_url: str, staff_app: Flask) -> None:
    from zoneinfo import ZoneInfo

    from server.database import session_factory
    from server.staff import dashboard

    sign_in(page, base_url, "alice")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Store S001")
    zone = staff_app.config["SHOPGO"]["site"]["timezone"]
    now = utcnow()
    with session_factory(staff_app)() as sess:
        d = dashboard.store_dashboard(sess, "S001", now.astimezone(ZoneInfo(zone)).date(), zone, now)
    assert d.trips >= 3 and d.help_calls >= 1  # the seeded live trips, one calling for help
    expect(page.locator("#kpi-trips")).to_have_text(str(d.trips))
    expect(page.locator("#kpi-help")).to_have_text(str(d.help_calls))
    expect(page.locator("#kpi-audits")).to_have_text(str(d.audits_done))
    trips = page.locator("#trips-chart")
    expect(trips.locator("rect.bar:not(.ghost)")).to_have_count(24)  # every hour today ...
    expect(trips.locator("rect.bar.ghost")).to_have_count(24)  # ... beside the same hour a week ago
    hour = now.astimezone(ZoneInfo(zone)).hour
    tip = trips.locator("rect.bar:not(.ghost) title").nth(hour).text_content()
    assert tip == f"{hour:02d}:00 today: {d.hours[hour].trips}"
    assert set(page.locator("#sales-chart text.axis").all_text_contents()) >= {"£0.00", "00:00", "21:00"}
    SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "staff-dashboard.png"), full_page=True)
    week_ago = d.day.fromordinal(d.day.toordinal() - 7)
    page.fill("#day", week_ago.isoformat())  # another day, by the keyboard
    page.locator("#day").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(week_ago.strftime("%A %d %B %Y"))
    expect(page.locator("#kpi-trips")).to_have_text("0")
