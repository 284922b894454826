"""Enrolment at the console: a chain-unique member of this store with a card, consents recorded per
purpose with wording and source; consents changed later stop personal offers from the next trip."""
from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from db.models import Member, MemberConsent, OutboxFact
from server.store.enrolment import id_block
from shop.numbering import card_number
from tests.staff.conftest import csrf_from


def _enrol(client: Any, **form: str) -> Any:
    token = csrf_from(client.get("/staff/members/new").get_data(as_text=True))
    return client.post("/staff/members/new", data={"csrf_token": token, **form})


def test_a_new_member_gets_a_card_of_their_store_and_their_consents(as_user: Any, staff_app: Flask) -> None:
    from server.database import session_factory

    client = as_user("alice")
    resp = _enrol(client, name="Ada Lovelace", email="ada@example.org", personal_offers="yes", email_receipts="yes")
    assert resp.status_code == 302 and "/card" in resp.headers["Location"]
    card_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Ada Lovelace" in card_page and "<svg" in card_page
    with session_factory(staff_app)() as s:
        member = s.scalars(select(Member).where(Member.name == "Ada Lovelace")).one()
        first, last = id_block("S001")
        assert first <= member.id <= last and member.card_number == card_number(member.id)
        assert (member.store_id, member.email, member.consent_personalisation, member.consent_email_receipts,
                member.consent_marketing) == ("S001", "ada@example.org", True, True, False)
        rows = s.scalars(select(MemberConsent).where(MemberConsent.member_id == member.id)).all()
        assert sorted((r.purpose, r.given, r.source) for r in rows) == [
            ("email_receipts", True, "console"), ("personal_offers", True, "console")]
        assert all(r.wording_version == staff_app.config["SHOPGO"]["consent"]["wording_version"] and r.user_id
                   for r in rows)
        facts = [f.payload for f in s.scalars(select(OutboxFact).where(OutboxFact.kind == "member"))]
        assert any(p["member_id"] == member.id for p in facts)  # head office learns of the member
        first_id = member.id
    assert _enrol(client, name="Second Member").status_code == 302
    with session_factory(staff_app)() as s:
        assert s.scalars(select(Member.id).where(Member.name == "Second Member")).one() == first_id + 1


def test_bad_details_are_refused_and_change_nothing(as_user: Any, staff_app: Flask) -> None:
    from server.database import session_factory

    client = as_user("alice")
    for form, words in (({"name": ""}, "Enter the member"),
                        ({"name": "No Mail", "email_receipts": "yes"}, "need an e-mail address"),
                        ({"name": "Bad Mail", "email": "not-an-address"}, "is not an e-mail address")):
        resp = _enrol(client, **form)
        assert resp.status_code == 400 and words in resp.get_data(as_text=True)
    with session_factory(staff_app)() as s:
        assert s.scalars(select(Member).where(Member.name.in_(["No Mail", "Bad Mail"]))).all() == []
    assert as_user("hugo").get("/staff/members/new").status_code == 403  # head office enrols at head office


def test_withdrawing_personal_offers_is_recorded_and_stops_offers_from_the_next_trip(
        as_user: Any, staff_app: Flask) -> None:
    from server.database import session_factory
    from server.store.trips import member_offers

    client = as_user("alice")
    page = client.get("/staff/members/7").get_data(as_text=True)
    assert 'id="choices"' in page and 'id="points"' in page
    with session_factory(staff_app)() as s:
        s.get(Member, 7).consent_personalisation = True
        s.commit()
    resp = client.post("/staff/members/7/consents", data={"csrf_token": csrf_from(page), "email": "h7@example.org",
                                                          "marketing": "yes"})
    assert resp.status_code == 302
    with session_factory(staff_app)() as s:
        member = s.get(Member, 7)
        assert (member.consent_personalisation, member.consent_marketing, member.email) == (
            False, True, "h7@example.org")
        rows = s.scalars(select(MemberConsent).where(MemberConsent.member_id == 7)).all()
        assert sorted((r.purpose, r.given) for r in rows) == [("marketing", True), ("personal_offers", False)]
        assert member_offers(s, 7) == []
    page = client.get("/staff/members/7").get_data(as_text=True)
    assert "withdrawn" in page and "console" in page


def test_points_history_shows_earning_spending_and_expiry_with_the_balance(as_user: Any, staff_app: Flask) -> None:
    from datetime import timedelta

    from db.base import utcnow
    from db.models import PointsEntry
    from server.database import session_factory
    from server.store.loyalty import expire_points, points_history

    now = utcnow()
    with session_factory(staff_app)() as s:
        member = s.get(Member, 7)
        member.points = 0
        s.add_all([PointsEntry(member_id=7, points=120, reason="purchase", earned_at=now - timedelta(days=400),
                               expires_at=now - timedelta(days=35)),
                   PointsEntry(member_id=7, points=50, reason="purchase", earned_at=now - timedelta(days=10),
                               expires_at=now + timedelta(days=355)),
                   PointsEntry(member_id=7, points=-20, reason="redeemed", earned_at=now - timedelta(days=5))])
        member.points = 150
        s.commit()
        assert expire_points(s, now).points_expired == 100  # 120 earned long ago, 20 of them spent since
        s.commit()
        rows = points_history(s, 7)
        assert [(r.reason, r.points, r.balance) for r in rows[:4]] == [
            ("expiry", -100, 50), ("redeemed", -20, 150), ("purchase", 50, 170), ("purchase", 120, 120)]
    page = as_user("alice").get("/staff/members/7").get_data(as_text=True)
    assert "Expired" in page and "Spent at the till" in page and "−100" not in page and "-100" in page
