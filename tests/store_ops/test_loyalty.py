"""Tiers by rolling 12-month spend, points expiry, member export and erasure."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from db.models import (
    Audit,
    DataRequest,
    Feedback,
    Member,
    Offer,
    OfferRedemption,
    PointsEntry,
    Purchase,
    PurchaseLine,
    Trip,
    TripEvent,
)
from server.store.loyalty import (
    LoyaltyError,
    erase_member,
    expire_points,
    export_member,
    recompute_tiers,
    tier_for,
    year_before,
)

from .conftest import NOW, Shop

TIERS = {"bronze": 0, "silver": 50000, "gold": 150000}


@pytest.mark.parametrize("spend, tier", [
    (0, "bronze"), (49999, "bronze"), (50000, "silver"), (149999, "silver"), (150000, "gold"), (10**9, "gold"),
    (-500, "bronze"),  # a refund-heavy year still lands in the lowest tier
])
def test_tier_is_the_highest_threshold_reached(spend: int, tier: str) -> None:
    assert tier_for(spend, TIERS) == tier


def test_year_before_a_leap_day_is_the_28th() -> None:
    assert year_before(datetime(2028, 2, 29, tzinfo=timezone.utc)) == datetime(2027, 2, 28, tzinfo=timezone.utc)


def test_recompute_tiers_counts_only_the_last_twelve_months(shop: Shop) -> None:
    for mid in (1, 2, 3):
        shop.member(mid)
    shop.purchase(1, NOW - timedelta(days=30), [(1, 60000)])  # silver
    shop.purchase(2, NOW - timedelta(days=10), [(4, 100000)])
    shop.purchase(2, NOW - timedelta(days=200), [(4, 60000)])  # gold: 160000 within the year
    shop.purchase(3, NOW - timedelta(days=400), [(4, 900000)])  # too old: bronze
    shop.session.get(Member, 3).tier = "gold"  # type: ignore[union-attr]
    report = recompute_tiers(shop.session, NOW, TIERS)
    tiers = dict(shop.session.execute(select(Member.id, Member.tier)).all())
    assert tiers == {1: "silver", 2: "gold", 3: "bronze"}
    assert report.changed == 3 and report.by_tier == {"bronze": 1, "silver": 1, "gold": 1}
    assert recompute_tiers(shop.session, NOW, TIERS).changed == 0


def test_recompute_tiers_refuses_naive_time(shop: Shop) -> None:
    with pytest.raises(ValueError, match="naive"):
        recompute_tiers(shop.session, datetime(2027, 1, 1), TIERS)


def _ledger(shop: Shop, member_id: int, points: int, expires_in_days: int | None, reason: str = "trip") -> None:
    shop.session.add(PointsEntry(member_id=member_id, points=points, reason=reason,
                                 earned_at=NOW - timedelta(days=300),
                                 expires_at=None if expires_in_days is None else NOW + timedelta(days=expires_in_days)))


@pytest.mark.parametrize("entries, expired", [
    ([(100, -1), (50, 30)], 100),  # the old 100 lapse, the fresh 50 stay
    ([(100, -1), (50, 30), (-30, None)], 70),  # 30 spent came out of the oldest points first
    ([(100, -1), (50, 30), (-120, None)], 0),  # spent more than what lapsed: nothing left to expire
    ([(100, 5), (50, 30)], 0),  # nothing has lapsed yet
    ([(80, None)], 0),  # points without an expiry date never expire
])
def test_expire_points_deducts_lapsed_unspent_points(shop: Shop, entries: list[tuple[int, int | None]],
                                                     expired: int) -> None:
    m = shop.member(1)
    for points, days in entries:
        _ledger(shop, 1, points, days, reason="trip" if points > 0 else "redeem")
    m.points = sum(p for p, _ in entries) + 500  # 500 opening points from the import, outside the ledger
    shop.session.flush()
    before = m.points
    report = expire_points(shop.session, NOW)
    assert report.points_expired == expired
    assert m.points == before - expired


def test_expire_points_twice_deducts_once(shop: Shop) -> None:
    m = shop.member(1)
    _ledger(shop, 1, 100, -1)
    _ledger(shop, 1, 40, 10)
    m.points = 140
    shop.session.commit()
    assert expire_points(shop.session, NOW).points_expired == 100
    shop.session.commit()
    assert expire_points(shop.session, NOW).points_expired == 0
    assert expire_points(shop.session, NOW + timedelta(hours=1)).points_expired == 0
    assert m.points == 40
    rows = shop.session.scalars(select(PointsEntry).where(PointsEntry.reason == "expiry")).all()
    assert [r.points for r in rows] == [-100]
    # Later the 40 lapse too, and only they go.
    assert expire_points(shop.session, NOW + timedelta(days=11)).points_expired == 40
    assert m.points == 0


def _full_member(shop: Shop) -> None:
    """Member 7 with something in every table that can hold their data."""
    shop.member(7, name="Ada Lovelace")
    shop.member(8)
    p = shop.purchase(7, NOW - timedelta(days=3), [(1, 120), (2, 95)])
    shop.purchase(8, NOW - timedelta(days=3), [(3, 250)])
    trip = Trip(id="7b1e2a4c-0000-4000-8000-000000000007", store_id="S001", member_id=7, status="checked_out",
                started_at=NOW - timedelta(days=3, minutes=20), total_minor=215,
                receipt={"member_id": 7, "card_number": "2900000000007", "total_minor": 215})
    shop.session.add(trip)
    from server.auth.accounts import add_device

    device, _ = add_device(shop.session, "S001", "hh-7")
    shop.session.add(TripEvent(id="e0000000-0000-4000-8000-000000000001", trip_id=trip.id, device_id=device.id,
                               seq=1, kind="scan", payload={"gtin": "2000000000001"},
                               occurred_at=NOW - timedelta(days=3, minutes=10)))
    p.trip_id = trip.id
    offer = Offer(member_id=7, product_id=1, kind="replenish", reward_type="percent", reward_value=10,
                  valid_from=NOW - timedelta(days=5), valid_to=NOW + timedelta(days=2))
    shop.session.add(offer)
    shop.session.flush()
    shop.session.add(OfferRedemption(offer_id=offer.id, trip_id=trip.id, member_id=7, discount_minor=12))
    shop.session.add(PointsEntry(member_id=7, trip_id=trip.id, points=2, reason="trip",
                                 expires_at=NOW + timedelta(days=300)))
    shop.session.add(Audit(trip_id=trip.id, member_id=7, store_id="S001", reason="first trip", probability=1.0))
    shop.session.add(Feedback(id="f0000000-0000-4000-8000-000000000001", store_id="S001", trip_id=trip.id,
                              member_id=7, product_id=4, kind="missing", message="no decaf"))
    shop.session.commit()


def test_export_holds_everything_about_the_member_and_is_recorded(shop: Shop) -> None:
    _full_member(shop)
    data = export_member(shop.session, 7, "user:manager1")
    shop.session.commit()
    text = json.dumps(data)  # must be JSON-serialisable as it stands
    assert "Ada Lovelace" in text and "m7@example.org" in text
    assert data["consent"] == {"personalisation": True}
    assert [len(p["lines"]) for p in data["purchases"]] == [2]
    assert data["purchases"][0]["total_minor"] == 215
    assert len(data["trips"]) == 1 and data["trips"][0]["events"][0]["kind"] == "scan"
    assert [o["product_id"] for o in data["offers"]] == [1]
    assert data["redemptions"][0]["discount_minor"] == 12
    assert data["points_ledger"][0]["points"] == 2
    assert data["audits"][0]["reason"] == "first trip"
    assert data["feedback"][0]["message"] == "no decaf"
    assert "250" not in json.dumps(data["purchases"])  # member 8's basket is not in member 7's export
    req = shop.session.scalars(select(DataRequest)).one()
    assert (req.member_id, req.kind, req.actor) == (7, "export", "user:manager1")


def test_erase_removes_personal_data_and_anonymises_history(shop: Shop) -> None:
    _full_member(shop)
    counts = erase_member(shop.session, 7, "user:hq", now=NOW)
    shop.session.commit()
    m = shop.session.get(Member, 7)
    assert m is not None and m.name is None and m.email is None and m.erased_at == NOW
    assert not m.card_number.isdigit() and not m.consent_personalisation and m.points == 0
    s = shop.session
    assert s.scalar(select(func.count()).select_from(Offer).where(Offer.member_id == 7)) == 0
    assert s.scalar(select(func.count()).select_from(OfferRedemption)) == 0
    assert s.scalar(select(func.count()).select_from(PointsEntry).where(PointsEntry.member_id == 7)) == 0
    for model in (Purchase, PurchaseLine, Trip, Audit, Feedback):
        assert s.scalar(select(func.count()).select_from(model).where(model.member_id == 7)) == 0, model
    # Totals survive without the member: the store's takings do not change.
    assert s.scalar(select(func.sum(Purchase.total_minor)).where(Purchase.member_id.is_(None))) == 215
    assert s.scalar(select(func.sum(PurchaseLine.sales_minor)).where(PurchaseLine.member_id.is_(None))) == 215
    trip = s.scalars(select(Trip)).one()
    assert trip.total_minor == 215 and trip.receipt == {"total_minor": 215}
    assert s.scalar(select(func.count()).select_from(PurchaseLine).where(PurchaseLine.member_id == 8)) == 1
    assert counts["offers_deleted"] == 1 and counts["purchase_lines_anonymised"] == 2
    req = s.scalars(select(DataRequest)).one()
    assert (req.member_id, req.kind, req.actor) == (7, "erase", "user:hq")


def test_export_after_erase_holds_no_personal_data(shop: Shop) -> None:
    _full_member(shop)
    erase_member(shop.session, 7, "user:hq", now=NOW)
    data = export_member(shop.session, 7, "user:hq")
    assert "Ada" not in json.dumps(data) and data["purchases"] == [] and data["trips"] == []


@pytest.mark.parametrize("member_id, erase_first, status", [(999, False, 404), (7, True, 409)])
def test_erase_refuses_unknown_or_already_erased_member(shop: Shop, member_id: int, erase_first: bool,
                                                        status: int) -> None:
    _full_member(shop)
    if erase_first:
        erase_member(shop.session, 7, "user:hq")
        shop.session.commit()
    with pytest.raises(LoyaltyError) as err:
        erase_member(shop.session, member_id, "user:hq")
    assert err.value.status == status
    assert shop.session.scalar(select(func.count()).select_from(DataRequest)) == int(erase_first)


def test_export_of_unknown_member_is_404_and_records_nothing(shop: Shop) -> None:
    with pytest.raises(LoyaltyError) as err:
        export_member(shop.session, 404, "user:hq")
    assert err.value.status == 404
    assert shop.session.scalar(select(func.count()).select_from(DataRequest)) == 0
