"""Catalogue (full, delta, ETag, version bump) and the rescan audit rule."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import Audit, Product, Promotion, Trip
from server.auth.actors import Actor
from server.store import audits, catalogue
from shop.numbering import product_gtin
from tests.store_api.conftest import APPLES, BREAD, MILK, REGULAR, Events, Shop


def test_full_catalogue_has_products_promotions_and_an_etag(shop: Shop) -> None:
    resp = shop.get("/api/v1/catalogue")
    body = resp.get_json()
    assert resp.status_code == 200 and body["full"] is True and resp.headers["ETag"]
    milk = next(p for p in body["products"] if p["product_id"] == MILK)
    assert milk == {"product_id": MILK, "gtin": product_gtin(MILK), "name": "Test milk", "category": "TEST DAIRY",
                    "price_minor": 100, "member_price_minor": 90, "sold_by_weight": False, "plu": None,
                    "min_age": None, "active": True}
    assert len(body["products"]) > 90_000
    assert any(p["kind"] == "n_for_m" and p["product_id"] == MILK for p in body["promotions"])
    again = shop.get("/api/v1/catalogue", **{"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_delta_carries_only_what_changed_after_a_bump(shop: Shop) -> None:
    with shop.session() as s:
        before = catalogue.bump_version(s)
        s.commit()
    held = shop.get(f"/api/v1/catalogue?since={before}")
    assert held.get_json()["products"] == [] and held.get_json()["full"] is False
    with shop.session() as s:
        s.get(Product, BREAD).price_minor = 110  # type: ignore[union-attr]
        s.get(Product, APPLES).active = False  # type: ignore[union-attr]
        s.commit()
        after = catalogue.bump_version(s)
        s.commit()
    assert after == before + 1
    delta = shop.get(f"/api/v1/catalogue?since={before}", **{"If-None-Match": held.headers["ETag"]})
    assert delta.status_code == 200 and delta.get_json()["version"] == after
    changed = {p["product_id"]: (p["price_minor"], p["active"]) for p in delta.get_json()["products"]}
    assert changed == {BREAD: (110, True), APPLES: (250, False)}
    with shop.session() as s:  # nothing changed since: the version stays
        assert catalogue.bump_version(s) == after
        s.get(Product, BREAD).price_minor = 120  # type: ignore[union-attr]
        s.get(Product, APPLES).active = True  # type: ignore[union-attr]
        s.commit()
        catalogue.bump_version(s)
        s.commit()


def test_the_same_delta_asked_again_is_answered_from_the_worker_cache_until_the_next_bump(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    with shop.session() as s:
        before = catalogue.bump_version(s)
        s.get(Product, BREAD).price_minor = 115  # type: ignore[union-attr]
        s.commit()
        catalogue.bump_version(s)
        s.commit()
    built: list[int | None] = []
    snapshot = catalogue.snapshot
    monkeypatch.setattr(catalogue, "snapshot", lambda session, since: built.append(since) or snapshot(session, since))
    first, second = (shop.get(f"/api/v1/catalogue?since={before}") for _ in range(2))
    assert first.data == second.data and built == [before]
    assert [p["price_minor"] for p in second.get_json()["products"]] == [115]
    with shop.session() as s:
        s.get(Product, BREAD).price_minor = 125  # type: ignore[union-attr]
        s.commit()
        catalogue.bump_version(s)
        s.commit()
    third = shop.get(f"/api/v1/catalogue?since={before}")
    assert built == [before, before] and [p["price_minor"] for p in third.get_json()["products"]] == [125]


def test_new_promotion_is_published_by_the_next_bump(shop: Shop) -> None:
    with shop.session() as s:
        v = catalogue.bump_version(s)
        promo = Promotion(name="Bread 10%", kind="percent", product_id=BREAD, params={"percent": 10},
                          starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(days=1))
        s.add(promo)
        s.commit()
        assert catalogue.bump_version(s) == v + 1
        s.commit()
        assert [p.id for p in catalogue.active_promotions(s) if p.product_id == BREAD] == [promo.id]
    delta = shop.get(f"/api/v1/catalogue?since={v}").get_json()
    assert [(p["id"], p["active"]) for p in delta["promotions"]] == [(promo.id, True)]
    with shop.session() as s:  # an editor withdraws it and marks it changed (catalogue_version 0)
        row = s.get(Promotion, promo.id)
        row.active, row.catalogue_version = False, 0  # type: ignore[union-attr]
        s.commit()
        assert catalogue.bump_version(s) == v + 2
        s.commit()
        assert [p.id for p in catalogue.active_promotions(s) if p.product_id == BREAD] == []
    delta = shop.get(f"/api/v1/catalogue?since={v + 1}").get_json()
    assert [(p["id"], p["active"]) for p in delta["promotions"]] == [(promo.id, False)]


@pytest.mark.parametrize("since", ["-1", "abc", "1.5", "9999999999"])
def test_bad_since_is_400(shop: Shop, since: str) -> None:
    assert shop.get(f"/api/v1/catalogue?since={since}").status_code == 400


def test_price_infos_skip_unknown_gtins(shop: Shop) -> None:
    with shop.session() as s:
        infos = catalogue.price_infos(s, [product_gtin(MILK), "0000000000000"])
    assert list(infos) == [product_gtin(MILK)] and infos[product_gtin(MILK)].member_price_minor == 90


AUDIT = {"base_probability": 0.05, "first_trip": True, "mismatch_weight": 0.25, "weighed_item_weight": 0.02,
         "removal_weight": 0.02, "high_value_minor": 15000, "high_value_weight": 0.10, "max_probability": 0.9}


def _trip(shop: Shop, events: Events, member_id: int | None, batch: list[dict[str, Any]]) -> str:
    from shop.numbering import card_number

    trip_id = shop.start(card_number(member_id) if member_id else None)
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch}).status_code == 200
    return trip_id


@pytest.mark.parametrize("overrides,member,make,probability", [
    ({}, None, lambda ev: [ev.scan(MILK)], 0.05),
    ({}, REGULAR, lambda ev: [ev.scan(MILK)], 0.05),
    ({}, None, lambda ev: [ev.scan(APPLES, weight_g=500), ev.scan(APPLES, weight_g=700)], 0.09),
    ({}, None, lambda ev: [ev.scan(MILK), ev("remove", key=product_gtin(MILK)), ev.scan(BREAD, quantity=3),
                           ev("set_quantity", key=product_gtin(BREAD), quantity=1)], 0.09),
    ({}, None, lambda ev: [ev.scan(BREAD, label_price_minor=20_000)], 0.15),
    ({"base_probability": 0.8, "high_value_weight": 0.5}, None,
     lambda ev: [ev.scan(BREAD, label_price_minor=20_000)], 0.9),                  # capped
    ({"base_probability": 0.0, "weighed_item_weight": 0.0}, None, lambda ev: [ev.scan(APPLES, weight_g=5)], 0.0),
])
def test_audit_probability_rises_with_risk(shop: Shop, events: Events, overrides: dict[str, Any],
                                           member: int | None, make: Any, probability: float) -> None:
    trip_id = _trip(shop, events, member, make(events))
    with shop.session() as s:
        trip = s.get(Trip, trip_id)
        selected, reason, p = audits.decide_audit(s, trip, {**AUDIT, **overrides})  # type: ignore[arg-type]
        assert p == pytest.approx(probability)
        assert selected == (__import__("random").Random(trip_id).random() < probability)
        assert ("not selected" in reason) != selected
        # Reproducible: the draw is seeded from the trip id.
        assert audits.decide_audit(s, trip, {**AUDIT, **overrides}) == (selected, reason, p)  # type: ignore[arg-type]


def test_first_member_trip_is_always_audited_unless_switched_off(shop: Shop, events: Events) -> None:
    trip_id = _trip(shop, events, shop.new_member, [events.scan(MILK)])
    with shop.session() as s:
        trip = s.get(Trip, trip_id)
        assert audits.decide_audit(s, trip, AUDIT)[0::2] == (True, 1.0)  # type: ignore[arg-type]
        assert audits.decide_audit(s, trip, {**AUDIT, "first_trip": False, "base_probability": 0.0})[2] == 0.0  # type: ignore[arg-type]


def test_earlier_mismatches_raise_the_rate_up_to_the_cap(shop: Shop, events: Events) -> None:
    with shop.session() as s:
        assert audits.audit_rate(s, shop.new_member, AUDIT) == pytest.approx(0.05)
        for n in range(4):
            trip = Trip(id=str(uuid.uuid4()), store_id="S001", member_id=shop.new_member, status="checked_out")
            s.add(trip)
            s.flush()
            audit = audits.open_audit(s, trip, "test", 1.0)
            audits.record_outcome(s, audit.id, [{"gtin": product_gtin(MILK), "expected": 1, "found": n % 2}],
                                 Actor("S001", staff_user_id=shop.staff_user_id))
        s.commit()
        assert audits.mismatches(s, shop.new_member) == 2
        assert audits.audit_rate(s, shop.new_member, AUDIT) == pytest.approx(0.55)
        assert audits.audit_rate(s, shop.new_member, {**AUDIT, "max_probability": 0.3}) == pytest.approx(0.3)
        statuses = sorted(a.status for a in s.scalars(select(Audit).where(Audit.member_id == shop.new_member)))
        assert statuses == ["mismatch", "mismatch", "passed", "passed"]
