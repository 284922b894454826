"""Consent given or withdrawn on the handheld travels as a `consent` event and is recorded once for
the trip's member; points earned follow the member's tier."""
from __future__ import annotations

from sqlalchemy import select

from db.models import Member, MemberConsent
from server.store.trips import member_offers
from shop.numbering import card_number
from tests.store_api.conftest import MILK, REGULAR, Events, Shop
from tests.store_api.test_api_checkout import shop_trip


def _consent(events: Events, purpose: str, given: bool) -> dict[str, object]:
    ev = events("consent")
    ev["payload"] = {"purpose": purpose, "given": given}
    return ev


def test_withdrawing_offers_on_the_handheld_is_recorded_and_ends_offers(shop: Shop, events: Events) -> None:
    trip_id = shop.start(shop.new_card)
    batch = {"events": [_consent(events, "personal_offers", False), _consent(events, "email_receipts", True)]}
    assert shop.post(f"/api/v1/trips/{trip_id}/events", batch).status_code == 200
    shop.post(f"/api/v1/trips/{trip_id}/events", batch)  # sent again: recorded once
    with shop.session() as s:
        member = s.get(Member, shop.new_member)
        assert member.consent_personalisation is False and member.consent_email_receipts is False  # no address
        rows = s.scalars(select(MemberConsent).where(MemberConsent.member_id == shop.new_member)).all()
        assert [(r.purpose, r.given, r.source) for r in rows] == [("personal_offers", False, "handheld")]
        assert member_offers(s, shop.new_member) == []
    next_trip = shop.post("/api/v1/trips", {"trip_id": "6f1c7c3e-4c1e-4c55-9a5e-0d5f3f6b9a01",
                                            "card_number": shop.new_card}).get_json()
    assert next_trip["offers"] == [] and next_trip["member"]["consents"]["personal_offers"] is False


def test_a_guest_trip_consent_belongs_to_no_one(shop: Shop, events: Events) -> None:
    trip_id = shop.start(None)
    assert shop.post(f"/api/v1/trips/{trip_id}/events",
                     {"events": [_consent(events, "marketing", True)]}).status_code == 200
    with shop.session() as s:
        assert s.scalars(select(MemberConsent).where(MemberConsent.source == "handheld",
                                                     MemberConsent.purpose == "marketing")).all() == []


def test_a_gold_member_earns_double_points(shop: Shop, events: Events) -> None:
    with shop.session() as s:
        s.get(Member, REGULAR).tier = "gold"
        s.commit()
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), [events.scan(MILK) for _ in range(12)],
                           handheld_total=800)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    assert receipt["points_awarded"] == 2 * (receipt["total_minor"] // 100)
    start = shop.post("/api/v1/trips", {"trip_id": "6f1c7c3e-4c1e-4c55-9a5e-0d5f3f6b9a02",
                                        "card_number": card_number(REGULAR)}).get_json()
    assert start["member"]["benefit"] == "Double points on everything"
