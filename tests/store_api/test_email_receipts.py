"""E-mailed receipts: sent by SMTP (a real aiosmtpd server on loopback) to members who gave an address
and agreed, once per trip; a mail server that is down loses no sale."""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from db.models import Member, MemberConsent
from server.errors import ApiError
from server.store.consents import set_consent
from shop.numbering import card_number
from tests.store_api.conftest import MILK, Events, Shop
from tests.store_api.test_api_checkout import shop_trip


def _member_with_email(shop: Shop, agreed: bool) -> str:
    with shop.session() as s:
        member = s.get(Member, shop.new_member)
        member.email = f"m{shop.new_member}@example.org"
        if agreed:
            set_consent(s, member, "email_receipts", True, source="console", cfg=shop.app.config["SHOPGO"])
        s.commit()
        return member.email


def _paid(shop: Shop, events: Events) -> dict[str, Any]:
    trip_id, finish = shop_trip(shop, events, card_number(shop.new_member), [events.scan(MILK)], handheld_total=90)
    if finish["audit"]:  # a member's first trip is rescanned
        shop.till(f"/api/v1/audits/{finish['audit_id']}/outcome", {"findings": []})
    return shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()


def _wait(got: list[Any], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_member_who_agreed_gets_the_receipt_by_email_once(shop: Shop, events: Events, smtp_server: Any) -> None:
    port, got = smtp_server
    shop.app.config["SHOPGO"]["email"].update(smtp_host="127.0.0.1", smtp_port=port)
    address = _member_with_email(shop, agreed=True)
    receipt = _paid(shop, events)
    assert receipt["emailed_to"] == address
    _wait(got, 1)
    assert len(got) == 1 and got[0]["To"] == address and "receipt" in got[0]["Subject"].lower()
    body = got[0].get_content()
    assert "TOTAL" in body and "Test milk" in body and "Paid by cash" in body
    again = shop.till(f"/api/v1/trips/{receipt['trip_id']}/checkout", {}).get_json()
    assert again["emailed_to"] == address
    time.sleep(0.3)
    assert len(got) == 1  # the repeat answer sends nothing


def test_no_consent_no_email(shop: Shop, events: Events, smtp_server: Any) -> None:
    port, got = smtp_server
    shop.app.config["SHOPGO"]["email"].update(smtp_host="127.0.0.1", smtp_port=port)
    _member_with_email(shop, agreed=False)
    receipt = _paid(shop, events)
    time.sleep(0.3)
    assert "emailed_to" not in receipt and got == []


def test_a_mail_server_that_is_down_loses_no_sale(shop: Shop, events: Events) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    shop.app.config["SHOPGO"]["email"].update(smtp_host="127.0.0.1", smtp_port=port)
    _member_with_email(shop, agreed=True)
    receipt = _paid(shop, events)
    assert receipt["purchase_id"] and "send it again" in receipt["email_error"]


def test_consent_changes_are_recorded_with_wording_and_email_needs_an_address(shop: Shop) -> None:
    cfg = shop.app.config["SHOPGO"]
    with shop.session() as s:
        member = s.get(Member, shop.new_member)
        member.email = None
        with pytest.raises(ApiError, match="need an e-mail address"):
            set_consent(s, member, "email_receipts", True, source="till", cfg=cfg)
        assert set_consent(s, member, "marketing", True, source="till", cfg=cfg) is not None
        assert set_consent(s, member, "marketing", True, source="till", cfg=cfg) is None  # no change, no row
        set_consent(s, member, "personal_offers", False, source="handheld", cfg=cfg)
        s.commit()
        rows = s.query(MemberConsent).filter_by(member_id=shop.new_member).order_by(MemberConsent.id).all()
        assert [(r.purpose, r.given, r.source, r.wording_version) for r in rows] == [
            ("marketing", True, "till", cfg["consent"]["wording_version"]),
            ("personal_offers", False, "handheld", cfg["consent"]["wording_version"])]
        assert member.consent_personalisation is False and member.consent_marketing is True
