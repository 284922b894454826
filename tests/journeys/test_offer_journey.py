"""From imported history to a personal offer shown at trip start and redeemed at checkout.

The nightly offers build runs the engine on the store's real (imported) history; the
handheld API hands the member their offers when the card is scanned; checkout applies
the offer and records the redemption.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from db.base import utcnow
from db.models import Member, Offer, OfferRedemption, Product
from server.auth.accounts import add_device
from server.database import session_factory
from server.offers.build import build_store_offers
from server.store.personal_offers import as_of_for
from shop.pricing import percent_off


def test_nightly_offer_is_shown_at_trip_start_and_redeemed_at_checkout(app, client) -> None:  # type: ignore[no-untyped-def]
    cfg = app.config["SHOPGO"]
    with session_factory(app)() as sess:
        # built last night: its offers start today (the build's offers start the day after it)
        report = build_store_offers(sess, cfg, as_of_for(utcnow().date() - timedelta(days=1)))
        sess.commit()
        _, token = add_device(sess, "S001", "journey")
        _, till_token = add_device(sess, "S001", "journey till", "till")
        sess.commit()
        # A live engine offer (not a campaign) on an item sold by the unit with no member price (a member
        # price can save more than the offer, and the best saving wins)
        row = sess.execute(
            select(Offer, Member, Product).join(Member, Member.id == Offer.member_id)
            .join(Product, Product.id == Offer.product_id)
            .where(Offer.campaign_id.is_(None), Offer.reward_type == "percent", Product.sold_by_weight.is_(False),
                   Product.member_price_minor.is_(None))
            .order_by(Offer.member_id, Offer.score.desc())).first()
    assert report is not None
    assert row is not None, "the offers build made no percent offer for the imported members"
    offer, member, product = row
    auth, till = {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {till_token}"}
    trip = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    assert offer.valid_from <= now < offer.valid_to
    resp = client.post("/api/v1/trips", json={"trip_id": trip, "card_number": member.card_number,
                                              "started_at": now.isoformat()}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    shown = {o["offer_id"] for o in resp.get_json()["offers"]}
    assert offer.id in shown
    events = [{"id": str(uuid.uuid4()), "seq": 1, "kind": "scan", "occurred_at": now.isoformat(),
               "payload": {"gtin": product.gtin, "barcode": product.gtin}},
              {"id": str(uuid.uuid4()), "seq": 2, "kind": "finish", "occurred_at": now.isoformat(), "payload": {}}]
    assert client.post(f"/api/v1/trips/{trip}/events", json={"events": events}, headers=auth).status_code == 200
    fin = client.post(f"/api/v1/trips/{trip}/finish", json={"handheld_total_minor": 0, "event_count": 2},
                      headers=auth).get_json()
    if fin["audit"]:  # a member's first self-scan trip is always audited; staff find it all there
        out = client.post(f"/api/v1/audits/{fin['audit_id']}/outcome",
                          json={"findings": [{"gtin": product.gtin, "expected": 1, "found": 1}]}, headers=till)
        assert out.status_code == 200, out.get_json()
    receipt = client.post(f"/api/v1/trips/{trip}/checkout", json={}, headers=till)
    assert receipt.status_code == 200, receipt.get_json()
    body = receipt.get_json()
    redeemed = [o if isinstance(o, int) else o.get("offer_id") for o in body["offers_redeemed"]]
    assert offer.id in redeemed
    with session_factory(app)() as sess:
        redemption = sess.scalar(select(OfferRedemption).where(OfferRedemption.offer_id == offer.id,
                                                               OfferRedemption.trip_id == trip))
    assert redemption is not None
    # the offer's percent off the item, on the bill: never more than that percent of the shelf price
    assert 0 < redemption.discount_minor <= percent_off(product.price_minor, offer.reward_value)
    assert body["discount_minor"] >= redemption.discount_minor
