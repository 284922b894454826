"""Pricing tables: shelf, member, multi-buy, discounts, labels, offers, caps, age checks."""
from __future__ import annotations

import pytest

from shop.basket import BasketLine
from shop.pricing import PersonalOffer, PriceInfo, PricingRules, PromotionRule, percent_off, price_basket, weighed_price

PRICES = {
    "001": PriceInfo("001", 1, "Milk", 100, 90, "dairy"),
    "002": PriceInfo("002", 2, "Yogurt", 60, None, "dairy"),
    "003": PriceInfo("003", 3, "Apples", 250, 200, "fruit", sold_by_weight=True),
    "004": PriceInfo("004", 4, "Beer", 300, None, "drink", min_age=18),
    "005": PriceInfo("005", 5, "Bread", 120, None, "bakery"),
}
THREE_FOR_TWO = PromotionRule(1, "3 for 2", "n_for_m", {"n": 3, "m": 2}, product_id=1)
TWO_FOR_150 = PromotionRule(2, "2 for 1.50", "n_for_price", {"n": 2, "price_minor": 150}, product_id=4)
DAIRY_10 = PromotionRule(3, "10% off dairy", "percent", {"percent": 10}, category="dairy")
BREAD_30_OFF = PromotionRule(4, "30p off", "fixed", {"amount_minor": 30}, product_id=5)
BREAD_500_OFF = PromotionRule(5, "5.00 off", "fixed", {"amount_minor": 500}, product_id=5)
MEMBER_BREAD = PromotionRule(6, "members 50%", "percent", {"percent": 50}, product_id=5, member_only=True)
BAD_PARAMS = PromotionRule(7, "broken", "n_for_m", {"n": "x"}, product_id=1)


def line(gtin: str, qty: int = 1) -> BasketLine:
    """A unit-item basket line keyed by its GTIN, as the fold keys it."""
    return BasketLine(gtin, gtin, qty)


@pytest.mark.parametrize("lines,promos,member,total,discount", [
    ([line("001")], [], False, 100, 0),                                   # shelf price
    ([line("001")], [], True, 90, 10),                                    # member price
    ([line("002", 2)], [], True, 120, 0),                                 # no member price set
    ([line("001", 3)], [THREE_FOR_TWO], False, 200, 100),                # 3 for 2
    ([line("001", 2)], [THREE_FOR_TWO], False, 200, 0),                  # incomplete group pays in full
    ([line("001", 4)], [THREE_FOR_TWO], False, 300, 100),
    ([line("001", 6)], [THREE_FOR_TWO], False, 400, 200),
    ([line("001", 3)], [THREE_FOR_TWO], True, 200, 100),                 # multi-buy beats 3 x member price
    ([line("001", 4)], [THREE_FOR_TWO], True, 290, 110),                 # remainder at member price
    ([line("004", 2)], [TWO_FOR_150], False, 150, 450),                  # 2 for a fixed price
    ([line("004", 3)], [TWO_FOR_150], False, 150 + 150, 600),            # partial group never above a full one
    ([line("002", 3)], [DAIRY_10], False, 162, 18),                      # category percent
    ([line("001", 1)], [DAIRY_10], True, 90, 10),                        # best single: member 10p = 10% of 100
    ([line("005", 2)], [BREAD_30_OFF], False, 180, 60),                  # fixed per unit
    ([line("005", 1)], [BREAD_500_OFF], False, 0, 120),                  # fixed never below zero
    ([line("005", 1)], [MEMBER_BREAD], False, 120, 0),                   # member-only promotion, guest
    ([line("005", 1)], [MEMBER_BREAD, BREAD_30_OFF], True, 60, 60),      # best of overlapping promotions
    ([line("001", 3)], [BAD_PARAMS], False, 300, 0),                     # malformed promotion ignored
    ([line("001", 0)], [], False, 0, 0),                                  # empty line
])
def test_public_prices_table(lines: list[BasketLine], promos: list[PromotionRule], member: bool,
                             total: int, discount: int) -> None:
    basket = price_basket(lines, PRICES, promos, member=member)
    assert (basket.total_minor, basket.discount_minor) == (total, discount)
    assert basket.gross_minor == total + discount


@pytest.mark.parametrize("rounding,weight,expected", [
    ("half_up", 1234, 309),   # 308.5 -> 309
    ("down", 1234, 308),
    ("up", 1234, 309),
    ("half_up", 1000, 250),
    ("up", 1001, 251),        # 250.25 -> 251
    ("down", 1001, 250),
    ("half_up", 0, 0),
])
def test_weighed_label_price_rounds_as_configured(rounding: str, weight: int, expected: int) -> None:
    assert weighed_price(weight, 250, rounding) == expected
    basket = price_basket([BasketLine("ev1", "003", 1, weight_g=weight)], PRICES,
                          rules=PricingRules(weight_rounding=rounding))
    assert basket.total_minor == expected
    assert basket.lines[0].unit_price_minor == 250


def test_weighed_member_price_is_per_kg() -> None:
    basket = price_basket([BasketLine("ev1", "003", 1, weight_g=500)], PRICES, member=True)
    assert basket.total_minor == 100


def test_price_label_costs_what_it_says_without_promotions() -> None:
    promo = PromotionRule(9, "half off", "percent", {"percent": 50}, product_id=1)
    basket = price_basket([BasketLine("ev1", "001", 1, label_price_minor=77)], PRICES, [promo], member=True)
    assert (basket.total_minor, basket.discount_minor) == (77, 0)


def test_two_weighed_labels_are_separate_lines() -> None:
    lines = [BasketLine("a", "003", 1, weight_g=1000), BasketLine("b", "003", 1, weight_g=2000)]
    basket = price_basket(lines, PRICES)
    assert [x.net_minor for x in basket.lines] == [250, 500]
    assert basket.item_count == 2


@pytest.mark.parametrize("offer,qty,total,points", [
    (PersonalOffer(1, 5, "percent", 25), 1, 90, 0),
    (PersonalOffer(1, 5, "percent", 25, max_redemptions=1), 2, 90 + 120, 0),   # one unit only
    (PersonalOffer(1, 5, "percent", 25, max_redemptions=3), 2, 180, 0),
    (PersonalOffer(1, 5, "fixed", 50), 1, 70, 0),
    (PersonalOffer(1, 5, "fixed", 999), 1, 0, 0),                             # never negative
    (PersonalOffer(1, 5, "member_price", 99), 1, 99, 0),
    (PersonalOffer(1, 5, "member_price", 500), 1, 120, 0),                    # never above shelf
    (PersonalOffer(1, 5, "points", 40, max_redemptions=2), 3, 360, 80),
    (PersonalOffer(1, 6, "percent", 50), 1, 120, 0),                          # product not in basket
])
def test_personal_offers_table(offer: PersonalOffer, qty: int, total: int, points: int) -> None:
    basket = price_basket([line("005", qty)], PRICES, offers=[offer], member=True)
    assert (basket.total_minor, basket.points_bonus) == (total, points)
    applied = total < 120 * qty or points > 0
    assert basket.offers_applied == ((1,) if applied else ())


def test_offer_does_not_stack_with_promotion() -> None:
    promo = PromotionRule(9, "40% off", "percent", {"percent": 40}, product_id=5)
    offer = PersonalOffer(1, 5, "percent", 25)
    basket = price_basket([line("005")], PRICES, [promo], [offer], member=True)
    assert basket.total_minor == 72          # 40% off wins; offer not redeemed
    assert basket.offers_applied == ()


def test_offer_goes_outside_the_multibuy_groups() -> None:
    offer = PersonalOffer(1, 1, "member_price", 10)
    basket = price_basket([line("001", 4)], PRICES, [THREE_FOR_TWO], [offer])
    assert basket.total_minor == 200 + 10     # 3 for 2 on three, the offer on the fourth


def test_redemption_cap_keeps_the_biggest_savings() -> None:
    offers = [PersonalOffer(1, 5, "fixed", 10), PersonalOffer(2, 2, "fixed", 50), PersonalOffer(3, 4, "fixed", 100)]
    lines = [line("005"), line("002"), line("004")]
    basket = price_basket(lines, PRICES, offers=offers, rules=PricingRules(max_redemptions_per_trip=2))
    assert basket.offers_applied == (2, 3)
    assert basket.total_minor == 120 + 60 + 300 - 50 - 100


def test_zero_redemption_cap_applies_no_offer() -> None:
    basket = price_basket([line("005")], PRICES, offers=[PersonalOffer(1, 5, "fixed", 10)],
                          rules=PricingRules(max_redemptions_per_trip=0))
    assert basket.total_minor == 120 and basket.offers_applied == ()


def test_age_restricted_item_flags_an_age_check() -> None:
    basket = price_basket([line("004"), line("001")], PRICES)
    assert {x.gtin: x.age_check for x in basket.lines} == {"004": True, "001": False}


def test_unknown_gtin_is_left_out_and_listed() -> None:
    basket = price_basket([line("999"), line("001")], PRICES)
    assert basket.unknown == ("999",)
    assert basket.total_minor == 100 and len(basket.lines) == 1


@pytest.mark.parametrize("amount,percent,expected", [(100, 10, 10), (105, 10, 11), (104, 10, 10), (50, 150, 50),
                                                     (50, -5, 0)])
def test_percent_off_rounds_half_up_within_bounds(amount: int, percent: int, expected: int) -> None:
    assert percent_off(amount, percent) == expected
