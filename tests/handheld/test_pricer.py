"""The handheld's incremental pricer answers exactly what price_basket answers, scan after scan."""
from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from handheld.pricer import IncrementalPricer
from shop.basket import Event, fold
from shop.pricing import PersonalOffer, PriceInfo, PricingRules, PromotionRule, price_basket
from tests.store_api.test_pricing_properties import SETTINGS, _events, world

MILK = PriceInfo("0400000000017", 1, "Milk", 150, 120, "dairy")
BREAD = PriceInfo("0400000000024", 2, "Bread", 100, None, "bakery")
THREE_FOR_TWO = PromotionRule(1, "3 for 2", "n_for_m", {"n": 3, "m": 2}, product_id=2)


def _scan(seq: int, gtin: str, **extra: Any) -> Event:
    return Event(f"e{seq}", seq, "scan", {"gtin": gtin, "barcode": gtin, **extra})


@SETTINGS
@given(world, st.data())
def test_every_prefix_of_a_trip_prices_as_price_basket_does(w: dict[str, Any], data: st.DataObject) -> None:
    prices = {p.gtin: p for p in w["infos"]}
    rules = PricingRules(w["rounding"], w["cap"])
    pricer = IncrementalPricer()
    events: list[Event] = []
    for seq, scan in enumerate(_events(w["scans"]), start=1):
        events.append(scan)
        lines = fold(events).lines
        if lines and data.draw(st.booleans()):  # now and then a removal or a new quantity from the screen
            target = data.draw(st.sampled_from(lines)).key
            kind = data.draw(st.sampled_from(["remove", "set_quantity"]))
            body = {"key": target} if kind == "remove" else {"key": target, "quantity": data.draw(st.integers(0, 4))}
            events.append(Event(f"r{seq}", len(events) + 1000, kind, body))
            lines = fold(events).lines
        want = price_basket(lines, prices, w["promos"], w["offers"], member=w["member"], rules=rules)
        got = pricer.price(lines, prices, w["promos"], w["offers"], member=w["member"], rules=rules)
        assert got == want


def test_a_changed_price_is_not_served_from_memory() -> None:
    pricer = IncrementalPricer()
    lines = fold([_scan(1, MILK.gtin)]).lines
    assert pricer.price(lines, {MILK.gtin: MILK}).total_minor == 150
    dearer = PriceInfo(MILK.gtin, 1, "Milk", 175, 120, "dairy")
    assert pricer.price(lines, {MILK.gtin: dearer}).total_minor == 175


def test_a_promotion_that_ends_mid_trip_stops_applying() -> None:
    pricer = IncrementalPricer()
    lines = fold([_scan(1, BREAD.gtin, quantity=3)]).lines
    assert pricer.price(lines, {BREAD.gtin: BREAD}, [THREE_FOR_TWO]).total_minor == 200
    assert pricer.price(lines, {BREAD.gtin: BREAD}, []).total_minor == 300


def test_member_prices_follow_the_card_not_the_memory() -> None:
    pricer = IncrementalPricer()
    lines = fold([_scan(1, MILK.gtin)]).lines
    assert pricer.price(lines, {MILK.gtin: MILK}, member=True).total_minor == 120
    assert pricer.price(lines, {MILK.gtin: MILK}, member=False).total_minor == 150


def test_an_offer_arriving_mid_trip_applies_to_lines_already_scanned() -> None:
    pricer = IncrementalPricer()
    lines = fold([_scan(1, MILK.gtin, quantity=2), _scan(2, BREAD.gtin)]).lines
    prices = {MILK.gtin: MILK, BREAD.gtin: BREAD}
    assert pricer.price(lines, prices).total_minor == 400
    offer = PersonalOffer(7, 1, "fixed", 50, "50p off milk", max_redemptions=1)
    priced = pricer.price(lines, prices, offers=[offer])
    assert priced.total_minor == 350 and priced.offers_applied == (7,)
