"""The till page in real Chromium: scan the exit code, see the bill and its differences from the
handheld, rescan, approve the age check, spend points, take cash, and the receipt comes out of a
network receipt printer on loopback and reaches the member by e-mail (a real aiosmtpd server)."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from db.base import utcnow
from db.models import Audit, Member, PointsEntry, Product, Purchase, StaffAction, Trip, TripEvent
from server.store.consents import set_consent
from tests.loopback import LoopbackServer
from tests.staff.conftest import _quick_hash, seed
from tests.staff.test_browser import browser, sign_in  # noqa: F401  (the module's Chromium)

pytestmark = pytest.mark.browser
MEMBER = 7
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def till_app(templates: dict[str, str], tmp_path: Path, network_printer: Any, smtp_server: Any,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The store app (SQLite) with the printer and the mail server on loopback, seeded for the console."""
    from server.app import create_app
    from server.auth import accounts
    from server.database import engine as app_engine
    from server.database import session_factory
    from tests.conftest import _database, app_config

    monkeypatch.setattr(accounts, "generate_password_hash", _quick_hash)
    for url in _database("sqlite", "imported", templates, tmp_path):
        app = create_app(app_config(url, tmp_path, receipt={"printer": f"network:127.0.0.1:{network_printer[0]}"},
                                    email={"smtp_host": "127.0.0.1", "smtp_port": smtp_server[0]}))
        app.config["TESTING"] = True
        with session_factory(app)() as sess:
            seed(sess)
            sess.commit()
        yield app
        app_engine(app).dispose()


def _finished_trip(app: Flask) -> tuple[str, str, str]:
    """A finished trip of member 7 (e-mail receipts agreed, 500 points): two of a food, one beer, a
    pending rescan; the handheld showed the food cheaper than the till bills it. -> (trip, food, beer)."""
    from server.database import session_factory
    from server.store.audits import open_audit

    with session_factory(app)() as s:
        member = s.get(Member, MEMBER)
        member.email, member.points = "household7@example.org", 500
        set_consent(s, member, "email_receipts", True, source="console", cfg=app.config["SHOPGO"])
        food = s.scalars(select(Product).where(Product.min_age.is_(None), Product.sold_by_weight.is_(False),
                                               Product.price_minor > 100).order_by(Product.id).limit(1)).one()
        beer = s.scalars(select(Product).where(Product.min_age.is_not(None)).order_by(Product.id).limit(1)).one()
        device = s.scalars(select(TripEvent.device_id).limit(1)).first()
        trip = Trip(id=str(uuid.uuid4()), store_id="S001", device_id=device, member_id=MEMBER, status="finished",
                    started_at=utcnow() - timedelta(minutes=15), finished_at=utcnow(), last_seq=4, event_count=4,
                    handheld_total_minor=2 * food.price_minor - 10 + beer.price_minor)
        s.add(trip)
        s.flush()
        shown = [{"key": food.gtin, "gtin": food.gtin, "quantity": 2, "net_minor": 2 * food.price_minor - 10},
                 {"key": beer.gtin, "gtin": beer.gtin, "quantity": 1, "net_minor": beer.price_minor}]
        for seq, (kind, payload) in enumerate([("scan", {"gtin": food.gtin, "barcode": food.gtin}),
                                               ("scan", {"gtin": food.gtin, "barcode": food.gtin}),
                                               ("scan", {"gtin": beer.gtin, "barcode": beer.gtin}),
                                               ("finish", {"handheld_total_minor": trip.handheld_total_minor,
                                                           "lines": shown})], start=1):
            s.add(TripEvent(id=str(uuid.uuid4()), trip_id=trip.id, device_id=device, seq=10_000 + seq, kind=kind,
                            payload=payload, occurred_at=utcnow(), received_at=utcnow()))
        open_audit(s, trip, "random draw", 0.1)
        s.commit()
        return trip.id, food.gtin, beer.gtin


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_trip_paid_at_the_till_from_exit_code_to_printed_and_emailed_receipt(
        browser: Browser, till_app: Flask, network_printer: Any, smtp_server: Any) -> None:  # noqa: F811
    trip_id, food, beer = _finished_trip(till_app)
    server = LoopbackServer(till_app).start()
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, server.url, "alice")
        page.get_by_role("link", name="Till").click()
        page.get_by_label("Scan the shopper's exit code").fill(trip_id)
        page.keyboard.press("Enter")  # a till scanner types the code and Enter
        expect(page.locator("#waiting")).to_have_text("Before payment: rescan audit and age approval.")
        expect(page.get_by_role("button", name="Take")).to_be_disabled()
        expect(page.locator("#differences")).to_contain_text("dearer at the till")
        _shot(page, "till-bill")

        page.locator(f"#found_{food}").fill("3")
        page.get_by_role("button", name="Record the rescan").click()
        expect(page.get_by_role("status").first).to_contain_text("1 line(s) differed")
        expect(page.locator("#bill-lines")).to_contain_text("3")
        page.get_by_role("button", name="ID checked: approve as alice").click()
        expect(page.get_by_role("status").first).to_contain_text("Age check approved by alice")
        expect(page.locator("#waiting")).to_have_count(0)

        page.get_by_label("Points to spend").fill("100")
        page.get_by_label("Cash handed over").fill("50")
        _shot(page, "till-ready")
        page.get_by_role("button", name="Take").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Paid")
        expect(page.get_by_role("status").first).to_contain_text("Receipt printed.")
        expect(page.get_by_role("status").first).to_contain_text("e-mailed to household7@example.org")
        expect(page.locator("#receipt")).to_contain_text("Points spent")
        _shot(page, "till-paid")
    finally:
        page.context.close()
        server.stop()

    deadline = time.monotonic() + 10
    while (b"\x1dV\x00" not in b"".join(network_printer[1]) or not smtp_server[1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    printed = b"".join(network_printer[1]).decode("cp437")
    assert "TOTAL" in printed and "100 points" in printed and "Paid by cash" in printed
    mail = smtp_server[1]
    assert len(mail) == 1 and mail[0]["To"] == "household7@example.org" and "TOTAL" in mail[0].get_content()

    from server.database import session_factory

    with session_factory(till_app)() as s:
        trip = s.get(Trip, trip_id)
        assert trip.status == "checked_out" and trip.receipt["payment"]["tendered_minor"] == 5000
        assert s.scalars(select(Audit.status).where(Audit.trip_id == trip_id)).one() == "mismatch"
        approval = s.scalars(select(StaffAction).where(StaffAction.trip_id == trip_id)).one()
        assert approval.kind == "age_ok" and approval.payload["gtins"] == [beer]
        purchase = s.scalars(select(Purchase).where(Purchase.trip_id == trip_id)).one()
        assert purchase.total_minor == trip.receipt["total_minor"]
        assert s.scalars(select(PointsEntry.points).where(PointsEntry.trip_id == trip_id,
                                                          PointsEntry.reason == "redeemed")).one() == -100
        assert {line["gtin"]: line["quantity"] for line in trip.receipt["lines"]}[food] == 3
