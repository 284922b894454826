"""Finish, checkout (re-pricing, history, points, offers, receipt), feedback and audit outcomes."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import (
    Audit,
    Feedback,
    Member,
    OfferRedemption,
    OutboxFact,
    PointsEntry,
    Purchase,
    PurchaseLine,
    Trip,
    TripEvent,
)
from shop.numbering import card_number, product_gtin
from tests.store_api.conftest import APPLES, BEER, BREAD, MILK, REGULAR, Events, Shop


def shop_trip(shop: Shop, events: Events, card: str | None, batch: list[dict[str, Any]],
              handheld_total: int) -> tuple[str, dict[str, Any]]:
    """Start, send, finish: the trip id and the finish answer."""
    trip_id = shop.start(card)
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch}).status_code == 200
    finish = shop.post(f"/api/v1/trips/{trip_id}/finish", {"handheld_total_minor": handheld_total,
                                                           "event_count": len(batch)})
    assert finish.status_code == 200, finish.get_json()
    if any(ev["kind"] == "scan" and ev["payload"]["gtin"] == product_gtin(BEER) for ev in batch):
        assert shop.approve_age(trip_id).status_code == 200  # the till's staff checked the shopper's age
    return trip_id, finish.get_json()


def test_guest_checkout_reprices_records_and_reports_the_difference(shop: Shop, events: Events) -> None:
    batch = [events.scan(MILK), events.scan(MILK), events.scan(MILK),           # 3 for 2: 200
             events.scan(APPLES, weight_g=1234),                                # 1.234 kg x 250 = 308.5 -> 309
             events.scan(BEER), events.scan(BREAD)]
    batch.append(events("remove", key=product_gtin(BREAD)))
    trip_id, finish = shop_trip(shop, events, None, batch, handheld_total=800)
    assert finish["audit"] is False and finish["exit_code"] == trip_id and finish["events_missing"] == 0
    resp = shop.till(f"/api/v1/trips/{trip_id}/checkout", {})
    receipt = resp.get_json()
    assert resp.status_code == 200
    assert receipt["total_minor"] == 200 + 309 + 300
    assert receipt["gross_minor"] == 300 + 309 + 300 and receipt["discount_minor"] == 100
    assert (receipt["handheld_total_minor"], receipt["difference_minor"]) == (800, 9)
    assert receipt["points_awarded"] == 0 and receipt["age_check"] is True
    assert {line["gtin"] for line in receipt["lines"]} == {product_gtin(MILK), product_gtin(APPLES), product_gtin(BEER)}
    with shop.session() as s:
        purchase = s.scalar(select(Purchase).where(Purchase.trip_id == trip_id))
        assert purchase is not None and purchase.id == receipt["purchase_id"] and purchase.total_minor == 809
        lines = s.scalars(select(PurchaseLine).where(PurchaseLine.purchase_id == purchase.id)).all()
        assert sorted((x.product_id, x.quantity, x.weight_g, x.sales_minor) for x in lines) == sorted(
            [(MILK, 3, None, 200), (APPLES, 1, 1234, 309), (BEER, 1, None, 300)])
        assert s.get(Trip, trip_id).status == "checked_out"  # type: ignore[union-attr]


def test_second_checkout_returns_the_same_receipt_and_records_once(shop: Shop, events: Events) -> None:
    trip_id, _ = shop_trip(shop, events, None, [events.scan(BREAD)], handheld_total=120)
    first = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    second = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"handheld_total_minor": 1}).get_json()
    assert first == second
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Purchase).where(Purchase.trip_id == trip_id)) == 1


def test_member_first_trip_is_audited_and_checkout_waits_for_the_outcome(shop: Shop, events: Events) -> None:
    batch = [events.scan(BREAD), events.scan(MILK, quantity=2)]
    trip_id, finish = shop_trip(shop, events, shop.new_card, batch, handheld_total=270)
    assert finish["audit"] is True and "first" in finish["audit_reason"]
    repeat = shop.post(f"/api/v1/trips/{trip_id}/finish", {}).get_json()
    assert repeat == {k: v for k, v in finish.items() if k != "events_missing"}
    blocked = shop.till(f"/api/v1/trips/{trip_id}/checkout", {})
    assert blocked.status_code == 409 and "audit" in blocked.get_json()["message"]
    outcome = shop.till(f"/api/v1/audits/{finish['audit_id']}/outcome", {
        "findings": [{"gtin": product_gtin(BREAD), "expected": 1, "found": 1}]})
    assert outcome.status_code == 200 and outcome.get_json()["status"] == "passed"
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    # Member: bread 120 with the 25% offer = 90, milk 2 x member price 90 = 180.
    assert receipt["total_minor"] == 270 and receipt["difference_minor"] == 0
    assert receipt["offers_redeemed"] == [{"offer_id": shop.offer_id, "discount_minor": 30, "points": 0}]
    assert receipt["points_awarded"] == 2            # 2.70 spent, 1 point per pound, whole pounds
    with shop.session() as s:
        assert s.get(Member, shop.new_member).points == 2  # type: ignore[union-attr]
        entry = s.scalar(select(PointsEntry).where(PointsEntry.trip_id == trip_id))
        assert entry is not None and entry.reason == "purchase" and entry.points == 2
        assert (entry.expires_at - entry.earned_at).days == 365  # type: ignore[operator]
        assert s.scalar(select(OfferRedemption.discount_minor).where(OfferRedemption.trip_id == trip_id)) == 30
    # Redeemed once: the offer is no longer offered on the next trip.
    body = shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4()), "card_number": shop.new_card})
    assert body.get_json()["offers"] == []


def test_finish_answers_the_same_again(shop: Shop, events: Events) -> None:
    trip_id, finish = shop_trip(shop, events, card_number(REGULAR), [events.scan(MILK)], handheld_total=90)
    again = shop.post(f"/api/v1/trips/{trip_id}/finish", {"handheld_total_minor": 90, "event_count": 1}).get_json()
    assert again == finish and finish["audit"] is False


def test_checkout_of_an_active_or_unknown_trip_is_refused(shop: Shop) -> None:
    trip_id = shop.start()
    assert shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).status_code == 409
    assert shop.till(f"/api/v1/trips/{uuid.uuid4()}/checkout", {}).status_code == 404
    assert shop.post(f"/api/v1/trips/{uuid.uuid4()}/finish", {}).status_code == 404
    for body in ({"handheld_total_minor": -1}, {"handheld_total_minor": "12"}, {"other": 1}):
        assert shop.till(f"/api/v1/trips/{trip_id}/checkout", body).status_code == 422, body
        assert shop.post(f"/api/v1/trips/{trip_id}/finish", body).status_code == 422, body
    with shop.session() as s:
        assert s.get(Trip, trip_id).status == "active"  # type: ignore[union-attr]


def test_audit_mismatch_is_recorded_and_raises_the_members_rate(shop: Shop, events: Events) -> None:
    trip_id, finish = shop_trip(shop, events, shop.new_card, [events.scan(MILK)], handheld_total=90)
    resp = shop.till(f"/api/v1/audits/{finish['audit_id']}/outcome", {
        "findings": [{"gtin": product_gtin(MILK), "expected": 1, "found": 1},
                     {"gtin": product_gtin(BEER), "expected": 0, "found": 1}]})
    body = resp.get_json()
    assert (body["status"], body["mismatch_count"]) == ("mismatch", 1)
    assert body["member_audit_rate"] == 0.25            # base 0 + one mismatch x 0.25
    again = shop.till(f"/api/v1/audits/{finish['audit_id']}/outcome", {"findings": []})
    assert again.status_code == 409


def test_bad_audit_outcomes_are_refused(shop: Shop, events: Events) -> None:
    trip_id, finish = shop_trip(shop, events, shop.new_card, [events.scan(MILK)], handheld_total=90)
    url = f"/api/v1/audits/{finish['audit_id']}/outcome"
    table = [({"findings": [{"gtin": product_gtin(MILK), "expected": 1, "found": -1}]}, 422),
             ({"findings": [{"gtin": "milk", "expected": 1, "found": 1}]}, 422),
             ({"findings": "none"}, 422), ({}, 422), (None, 400),
             ({"findings": [], "staff_user_id": shop.staff_user_id}, 422)]  # the actor is never taken from a body
    for body, status in table:
        assert shop.till(url, body).status_code == status, body
    assert shop.till("/api/v1/audits/999999/outcome", {"findings": []}).status_code == 404
    with shop.session() as s:
        assert s.get(Audit, finish["audit_id"]).status == "pending"  # type: ignore[union-attr]


def test_feedback_is_kept_once(shop: Shop) -> None:
    trip_id = shop.start()
    body = {"id": str(uuid.uuid4()), "trip_id": trip_id, "gtin": product_gtin(MILK), "kind": "wrong_price",
            "message": "shelf says 0.89"}
    assert shop.post("/api/v1/feedback", body).status_code == 201
    assert shop.post("/api/v1/feedback", body).status_code == 200
    unknown = {**body, "id": str(uuid.uuid4()), "gtin": product_gtin(77_777_777)}
    assert shop.post("/api/v1/feedback", unknown).status_code == 201  # kept, the barcode in its text
    bad = [({**body, "id": str(uuid.uuid4()), "trip_id": str(uuid.uuid4())}, 404),
           ({**body, "id": str(uuid.uuid4()), "kind": "angry"}, 422),
           ({**body, "id": 7}, 422), ({**body, "id": str(uuid.uuid4()), "message": "x" * 2001}, 422)]
    for row, status in bad:
        assert shop.post("/api/v1/feedback", row).status_code == status, row
    with shop.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.trip_id == trip_id)).all()
        assert sorted((f.kind, f.product_id or 0, f.trip_id) for f in rows) == [
            ("wrong_price", 0, trip_id), ("wrong_price", MILK, trip_id)]
        assert any(product_gtin(77_777_777) in f.message for f in rows)


def test_server_prices_only_what_it_holds(shop: Shop, events: Events) -> None:
    # The handheld claimed two items but only one event arrived: the server charges what it has.
    trip_id, finish = shop_trip(shop, events, None, [events.scan(BREAD)], handheld_total=240)
    assert finish["events_missing"] == 0
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    assert (receipt["total_minor"], receipt["difference_minor"]) == (120, -120)
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(TripEvent).where(TripEvent.trip_id == trip_id)) == 1


def test_the_shoppers_own_handheld_cannot_pass_its_audit_or_check_itself_out(shop: Shop, events: Events) -> None:
    trip_id, finish = shop_trip(shop, events, shop.new_card, [events.scan(MILK)], handheld_total=90)
    assert finish["audit_id"] is not None  # the finish tells the handheld its audit id
    assert shop.post(f"/api/v1/audits/{finish['audit_id']}/outcome", {"findings": []}).status_code == 403
    assert shop.post(f"/api/v1/trips/{trip_id}/checkout", {}).status_code == 403
    with shop.session() as s:
        assert s.get(Audit, finish["audit_id"]).status == "pending"  # type: ignore[union-attr]
        assert s.get(Trip, trip_id).status == "finished"  # type: ignore[union-attr]
    assert shop.till(f"/api/v1/audits/{finish['audit_id']}/outcome", {"findings": []}).status_code == 200
    with shop.session() as s:
        audit = s.get(Audit, finish["audit_id"])
        assert audit is not None and audit.till_device_id is not None and audit.staff_user_id is None


def test_a_checked_out_purchase_reaches_the_outbox_once_with_its_lines(shop: Shop, events: Events) -> None:
    trip_id, _ = shop_trip(shop, events, None, [events.scan(MILK), events.scan(BEER)], handheld_total=400)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    shop.till(f"/api/v1/trips/{trip_id}/checkout", {})  # the same receipt again: no second fact
    with shop.session() as s:  # the module's store is shared: only this purchase's facts
        facts = [f for f in s.scalars(select(OutboxFact).where(OutboxFact.kind == "purchase"))
                 if f.payload["purchase_id"] == receipt["purchase_id"]]
    assert len(facts) == 1 and facts[0].lines == 2
    data = facts[0].payload
    assert (data["purchase_id"], data["member_id"], data["total_minor"]) == (receipt["purchase_id"], None, 400)
    assert sorted(line[0] for line in data["lines"]) == sorted([MILK, BEER]) and data["redemptions"] == []


def test_a_checkout_that_fails_leaves_neither_purchase_nor_outbox_fact(shop: Shop, events: Events,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from server.auth.actors import Actor
    from server.store import checkout, outbox

    trip_id, _ = shop_trip(shop, events, None, [events.scan(MILK)], handheld_total=100)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full while writing the outbox")

    monkeypatch.setattr(outbox, "record_purchase", broken)
    with shop.session() as s:
        queued = s.scalar(select(func.count()).select_from(OutboxFact))
        with pytest.raises(RuntimeError):
            checkout.checkout(s, trip_id, Actor("S001", staff_user_id=1), shop.app.config["SHOPGO"])
        s.rollback()
        assert s.scalar(select(func.count()).select_from(Purchase).where(Purchase.trip_id == trip_id)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxFact)) == queued
        assert s.get(Trip, trip_id).status == "finished"  # type: ignore[union-attr]


def _give_points(shop: Shop, member_id: int, points: int) -> None:
    from datetime import timedelta

    from db.base import utcnow

    with shop.session() as s:
        now = utcnow()
        s.add(PointsEntry(member_id=member_id, points=points, reason="purchase", earned_at=now,
                          expires_at=now + timedelta(days=365)))
        member = s.get(Member, member_id)
        assert member is not None
        member.points = member.points + points
        s.commit()


def _points(shop: Shop, member_id: int) -> tuple[int, int]:
    with shop.session() as s:
        member = s.get(Member, member_id)
        assert member is not None
        ledger = s.scalar(select(func.coalesce(func.sum(PointsEntry.points), 0))
                          .where(PointsEntry.member_id == member_id))
        return member.points, int(ledger)


def test_points_are_spent_as_money_off_once_and_earned_on_what_is_paid(shop: Shop, events: Events) -> None:
    _give_points(shop, REGULAR, 500)
    before, ledger = _points(shop, REGULAR)
    batch = [events.scan(BEER)] * 1 + [events.scan(MILK)]  # 300 + member price 90
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), batch, handheld_total=390)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": 150}).get_json()
    # 100 points take 1.00 off: 150 points are 1.50 off a 3.90 bill; points are earned on the 2.40 paid
    assert (receipt["points_spent"], receipt["points_discount_minor"], receipt["total_minor"]) == (150, 150, 240)
    assert receipt["points_awarded"] == 2 and receipt["difference_minor"] == 0
    again = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": 150}).get_json()
    assert again == receipt
    assert _points(shop, REGULAR) == (before - 150 + 2, ledger - 150 + 2)
    with shop.session() as s:
        purchase = s.scalar(select(Purchase).where(Purchase.trip_id == trip_id))
        assert purchase is not None and purchase.total_minor == 240
        spent = s.scalar(select(PointsEntry).where(PointsEntry.trip_id == trip_id, PointsEntry.reason == "redeemed"))
        assert spent is not None and spent.points == -150 and spent.expires_at is None


def test_points_never_take_more_than_the_bill(shop: Shop, events: Events) -> None:
    _give_points(shop, REGULAR, 5000)
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), [events.scan(MILK)], handheld_total=90)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": 5000}).get_json()
    assert (receipt["points_spent"], receipt["points_discount_minor"], receipt["total_minor"]) == (90, 90, 0)


@pytest.mark.parametrize("card, spend, message", [
    (None, 10, "points are spent by a member"),
    ("regular", 10**6, "holds"),
])
def test_points_a_member_does_not_hold_are_refused_and_nothing_is_recorded(
        shop: Shop, events: Events, card: str | None, spend: int, message: str) -> None:
    before = _points(shop, REGULAR)
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR) if card else None, [events.scan(MILK)],
                           handheld_total=90)
    resp = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": spend})
    assert resp.status_code == 409 and message in resp.get_json()["message"]
    assert _points(shop, REGULAR) == before
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Purchase).where(Purchase.trip_id == trip_id)) == 0
        assert s.get(Trip, trip_id).status == "finished"  # type: ignore[union-attr]


def test_a_bad_points_amount_is_refused_with_a_4xx(shop: Shop, events: Events) -> None:
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), [events.scan(MILK)], handheld_total=90)
    for bad in (-5, "ten", 1.5, True):
        resp = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": bad})
        assert resp.status_code in (400, 422) and "spend_points" in resp.get_json()["message"], resp.get_json()


def test_cash_gives_change_and_the_receipt_shows_the_payment(shop: Shop, events: Events) -> None:
    trip_id, _ = shop_trip(shop, events, None, [events.scan(BEER)], handheld_total=300)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout",
                        {"payment": {"method": "cash", "tendered_minor": 500}}).get_json()
    assert receipt["payment"] == {"method": "cash", "amount_minor": 300, "tendered_minor": 500, "change_minor": 200,
                                  "reference": ""}


def test_no_payment_given_is_cash_exactly(shop: Shop, events: Events) -> None:
    trip_id, _ = shop_trip(shop, events, None, [events.scan(BEER)], handheld_total=300)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).get_json()
    assert receipt["payment"]["method"] == "cash" and receipt["payment"]["change_minor"] == 0


@pytest.mark.parametrize("payment, message", [
    ({"method": "cash", "tendered_minor": 100}, "is less than the"),
    ({"method": "manual"}, "needs the reference"),
    ({"method": "card"}, "no card payment step is set up"),
])
def test_a_refused_payment_leaves_the_trip_open_and_records_nothing(shop: Shop, events: Events,
                                                                    payment: dict[str, Any], message: str) -> None:
    _give_points(shop, REGULAR, 500)
    before = _points(shop, REGULAR)
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), [events.scan(BEER)], handheld_total=300)
    resp = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"spend_points": 100, "payment": payment})
    assert resp.status_code == 402 and message in resp.get_json()["message"], resp.get_json()
    assert _points(shop, REGULAR) == before  # the points it would have spent are still there
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Purchase).where(Purchase.trip_id == trip_id)) == 0
        trip = s.get(Trip, trip_id)
        assert trip is not None and trip.status == "finished" and trip.receipt is None
    paid = shop.till(f"/api/v1/trips/{trip_id}/checkout",
                     {"spend_points": 100, "payment": {"method": "manual", "reference": "slip 0042"}})
    assert paid.status_code == 200 and paid.get_json()["payment"]["reference"] == "slip 0042"
    assert paid.get_json()["total_minor"] == 200


def test_a_card_terminal_plugs_in_behind_the_same_interface(shop: Shop, events: Events,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from server.store import payment

    class Terminal:
        def pay(self, trip: Trip, amount_minor: int) -> payment.PaymentResult:
            return payment.PaymentResult(True, "card", amount_minor, reference=f"auth-{trip.id[:4]}")

    monkeypatch.setitem(payment._STEPS, "card", lambda details, cfg: Terminal())
    trip_id, _ = shop_trip(shop, events, None, [events.scan(BEER)], handheld_total=300)
    receipt = shop.till(f"/api/v1/trips/{trip_id}/checkout", {"payment": {"method": "card"}}).get_json()
    assert receipt["payment"] == {"method": "card", "amount_minor": 300, "tendered_minor": None,
                                  "change_minor": None, "reference": f"auth-{trip_id[:4]}"}
