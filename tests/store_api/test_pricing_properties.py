"""Property tests of price_basket: never negative, removing never raises, scan order never matters."""
from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.basket import BasketLine, Event, fold
from shop.pricing import PersonalOffer, PriceInfo, PricingRules, PromotionRule, price_basket

GTINS = [f"{i:013d}" for i in range(1, 7)]
CATEGORIES = ["dairy", "fruit", None]

catalogues = st.tuples(*[st.builds(
    lambda price, member, cat, weight, age, i=i: PriceInfo(GTINS[i], i + 1, f"P{i}", price, member, cat, weight, age),
    st.integers(0, 2000), st.one_of(st.none(), st.integers(0, 2000)), st.sampled_from(CATEGORIES),
    st.booleans(), st.one_of(st.none(), st.just(18))) for i in range(6)]).map(list)


def _promotion(i: int, kind: str, a: int, b: int, pid: int | None, cat: str | None, member_only: bool) -> PromotionRule:
    params: dict[str, Any] = {"n_for_m": {"n": a, "m": b}, "n_for_price": {"n": a, "price_minor": b * 50},
                              "percent": {"percent": b * 10}, "fixed": {"amount_minor": b * 30}}[kind]
    return PromotionRule(i, f"promo {i}", kind, params, pid, None if pid else cat, member_only)


promotions = st.lists(st.builds(_promotion, st.integers(1, 50), st.sampled_from(["n_for_m", "n_for_price", "percent",
                                                                                "fixed"]),
                                st.integers(2, 5), st.integers(0, 4), st.one_of(st.integers(1, 3), st.none()),
                                st.sampled_from(CATEGORIES), st.booleans()), max_size=5)
offers = st.lists(st.builds(PersonalOffer, st.integers(1, 30), st.integers(1, 3),
                            st.sampled_from(["percent", "fixed", "member_price", "points"]), st.integers(0, 300),
                            st.just(""), st.integers(0, 3)), max_size=5)
# Mostly unit scans of three products, so multi-buy groups and offer caps come into play.
scans = st.lists(st.tuples(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 5, 6]), st.integers(1, 3),
                           st.one_of(st.none(), st.none(), st.integers(1, 3000)),
                           st.one_of(st.none(), st.none(), st.integers(0, 999))), min_size=0, max_size=15)
world = st.fixed_dictionaries({"infos": catalogues, "promos": promotions, "offers": offers,
                               "scans": scans, "member": st.booleans(), "cap": st.integers(0, 4),
                               "rounding": st.sampled_from(["half_up", "down", "up"])})
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _events(scan_list: list[tuple[int, int, int | None, int | None]]) -> list[Event]:
    """Scan events in the given order (GTIN index 6 is unknown to the catalogue)."""
    out = []
    for seq, (i, qty, weight, label) in enumerate(scan_list, start=1):
        payload: dict[str, Any] = {"gtin": GTINS[i] if i < 6 else "9999999999999", "barcode": "x"}
        if weight is not None:
            payload["weight_g"] = weight
        elif label is not None:
            payload["label_price_minor"] = label
        else:
            payload["quantity"] = qty
        out.append(Event(f"ev{seq}", seq, "scan", payload))
    return out


def _total(w: dict[str, Any], events: list[Event]) -> int:
    prices = {p.gtin: p for p in w["infos"]}
    rules = PricingRules(weight_rounding=w["rounding"], max_redemptions_per_trip=w["cap"])
    basket = price_basket(fold(events).lines, prices, w["promos"], w["offers"], member=w["member"], rules=rules)
    assert basket.total_minor == sum(x.net_minor for x in basket.lines)
    return basket.total_minor


@SETTINGS
@given(world)
def test_totals_are_never_negative(w: dict[str, Any]) -> None:
    prices = {p.gtin: p for p in w["infos"]}
    basket = price_basket(fold(_events(w["scans"])).lines, prices, w["promos"], w["offers"], member=w["member"],
                          rules=PricingRules(w["rounding"], w["cap"]))
    assert basket.total_minor >= 0
    assert all(x.net_minor >= 0 and x.discount_minor >= 0 for x in basket.lines)


@SETTINGS
@given(world, st.data())
def test_removing_an_item_never_raises_the_total(w: dict[str, Any], data: st.DataObject) -> None:
    events = _events(w["scans"])
    lines = fold(events).lines
    before = _total(w, events)
    if not lines:
        return
    target = data.draw(st.sampled_from(lines))
    seq = len(events) + 1
    if target.quantity > 1 and not target.is_label:
        change = Event("less", seq, "set_quantity", {"key": target.key, "quantity": target.quantity - 1})
    else:
        change = Event("rm", seq, "remove", {"key": target.key})
    assert _total(w, events + [change]) <= before


@SETTINGS
@given(world, st.randoms(use_true_random=False))
def test_the_order_of_scans_never_changes_the_total(w: dict[str, Any], rnd: random.Random) -> None:
    # Unit scans are reordered; label scans keep their own event ids so only their positions move.
    events = _events(w["scans"])
    shuffled = [e for e in events]
    rnd.shuffle(shuffled)
    renumbered = [Event(e.id, seq, e.kind, e.payload) for seq, e in enumerate(shuffled, start=1)]
    assert _total(w, renumbered) == _total(w, events)


@SETTINGS
@given(catalogues, promotions, offers, st.integers(1, 12), st.booleans())
def test_one_less_of_an_item_never_costs_more(infos: list[PriceInfo], promos: list[PromotionRule],
                                              offer_list: list[PersonalOffer], qty: int, member: bool) -> None:
    # Focused on multi-buy boundaries: every quantity of one product against every promotion drawn.
    prices = {p.gtin: p for p in infos}
    totals = [price_basket([BasketLine(GTINS[0], GTINS[0], q)], prices, promos, offer_list, member=member).total_minor
              for q in (qty - 1, qty)]
    assert totals[0] <= totals[1]
