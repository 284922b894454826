"""Offer selection rules, the hold-out group, profiles and the [offers] configuration."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import server.offers
from server.offers.history import parse_as_of
from server.offers.offers import build_offers, everyday_full_price
from server.offers.policy import OfferPolicy, in_holdout
from server.offers.profile import profile_households, to_pence

AS_OF = parse_as_of("2024-06-01")
SHOP_AS_OF = parse_as_of("2024-03-25")  # a week after the milk shop's last trips
NO_HOLDOUT = OfferPolicy(holdout_share=0.0)


def members(*ids: int, consent: bool = True, live: int = 0) -> pd.DataFrame:
    """A members table."""
    return pd.DataFrame({"household_id": list(ids), "consent": [consent] * len(ids), "live_offers": [live] * len(ids)})


def test_consenting_member_gets_offers(milk_shop: pd.DataFrame) -> None:
    assert build_offers(milk_shop, members(1, 2), SHOP_AS_OF, NO_HOLDOUT)


def test_member_without_consent_gets_no_offers(milk_shop: pd.DataFrame) -> None:
    table = pd.concat([members(1, consent=False), members(2)])
    offers = build_offers(milk_shop, table, SHOP_AS_OF, NO_HOLDOUT)
    assert {o.household_id for o in offers} == {2}


def test_holdout_member_gets_no_offers(milk_shop: pd.DataFrame) -> None:
    policy = replace(NO_HOLDOUT, holdout_share=0.5)
    held = [h for h in (1, 2, 3, 4) if in_holdout(h, policy)]
    assert held, "with a 50% share some of four members should be held out"
    offers = build_offers(milk_shop, members(1, 2, 3, 4), SHOP_AS_OF, policy)
    assert not {o.household_id for o in offers} & set(held)


def test_holdout_is_stable_across_runs_and_changes_with_the_salt() -> None:
    policy = OfferPolicy()
    first = [h for h in range(10_000) if in_holdout(h, policy)]
    again = [h for h in range(10_000) if in_holdout(h, OfferPolicy())]
    salted = [h for h in range(10_000) if in_holdout(h, replace(policy, holdout_salt="other"))]
    assert first == again
    assert first != salted
    assert 0.04 < len(first) / 10_000 < 0.06


def test_declining_member_gets_winback_offers(make_history) -> None:
    weeks = pd.date_range("2023-10-01", periods=30, freq="7D", tz="UTC")
    lines = [(1, i, p, d.isoformat(), 2.0) for i, d in enumerate(weeks) for p in (10, 11, 12 + i % 3)]
    lines += [(1, 99, 10, "2024-05-01", 2.0)]  # one visit in the last eight weeks
    lines += [(2, 200 + i, 20 + i % 4, d.isoformat(), 2.0) for i, d in enumerate(weeks)]
    history = make_history(lines)
    stage = profile_households(history, AS_OF).set_index("household_id")["lifecycle"]
    offers = build_offers(history, members(1), AS_OF, NO_HOLDOUT)
    assert stage[1] == "decline"
    assert offers and {o.kind for o in offers} == {"winback"}
    assert len(offers) <= NO_HOLDOUT.winback_offers


def test_no_discount_on_what_is_bought_every_trip_at_full_price(milk_shop: pd.DataFrame) -> None:
    assert (1, 100) in everyday_full_price(milk_shop, SHOP_AS_OF, NO_HOLDOUT)
    with_reward = build_offers(milk_shop, members(1), SHOP_AS_OF, NO_HOLDOUT)
    without = build_offers(milk_shop, members(1), SHOP_AS_OF, replace(NO_HOLDOUT, reward_everyday=False))
    milk = [o for o in with_reward if o.product_id == 100]
    assert [(o.kind, o.reward_type) for o in milk] == [("reward", "points")]
    assert not [o for o in without if o.product_id == 100]


def test_milk_bought_on_discount_can_still_be_discounted(make_history) -> None:
    weeks = pd.date_range("2024-01-01", periods=10, freq="7D", tz="UTC")
    # milk's regular price is 1.20, this member always pays the promotional 0.80 (0.40 off at the till)
    lines = [(1, i, 100, d.isoformat(), 0.80) for i, d in enumerate(weeks)]
    history = make_history(lines)
    assert (1, 100) in everyday_full_price(history, AS_OF, NO_HOLDOUT)  # without the discount it looks full price
    assert (1, 100) not in everyday_full_price(history.assign(discount=0.40), AS_OF, NO_HOLDOUT)


def test_live_offers_are_capped(milk_shop: pd.DataFrame) -> None:
    policy = replace(NO_HOLDOUT, max_live_offers=3)
    fresh = build_offers(milk_shop, members(2), SHOP_AS_OF, policy)
    topped_up = build_offers(milk_shop, members(2, live=2), SHOP_AS_OF, policy)
    full = build_offers(milk_shop, members(2, live=3), SHOP_AS_OF, policy)
    assert (len(fresh), len(topped_up), len(full)) == (3, 1, 0)


def test_offers_carry_validity_dates_and_reward_terms(milk_shop: pd.DataFrame) -> None:
    offers = build_offers(milk_shop, members(2), SHOP_AS_OF, replace(NO_HOLDOUT, discount_type="points"))
    assert {(o.valid_from, o.valid_to) for o in offers} == {(dt.date(2024, 3, 26), dt.date(2024, 4, 8))}
    assert all(o.reward_type == "points" and o.reward_value >= 2 for o in offers)


def test_profile_gives_rfm_in_pence_and_segments(milk_shop: pd.DataFrame) -> None:
    profile = profile_households(milk_shop, SHOP_AS_OF).set_index("household_id")
    assert profile.loc[1, "frequency"] == 12
    assert profile.loc[1, "monetary_pence"] == 12 * 320
    assert profile.loc[1, "recency_days"] == (SHOP_AS_OF - pd.Timestamp("2024-03-18", tz="UTC")).days
    assert profile["segment"].isin(["top", "high", "mid", "low"]).all()
    assert profile.loc[profile["monetary_pence"].idxmax(), "segment"] == "top"


def test_new_member_is_in_trial(make_history) -> None:
    history = make_history([(5, 1, 10, "2024-05-20", 1.0), (5, 2, 10, "2024-05-27", 1.0)])
    assert profile_households(history, AS_OF)["lifecycle"].tolist() == ["trial"]


def test_pence_conversion_rounds_half_away_from_zero() -> None:
    assert to_pence(pd.Series([1.005, 2.675, -0.015, 0.1 + 0.2])).tolist() == [101, 268, -2, 30]


def test_config_example_matches_the_policy() -> None:
    path = Path(server.offers.__file__).with_name("config_example.toml")
    table = tomllib.loads(path.read_text())["offers"]
    assert OfferPolicy.from_config(table) == OfferPolicy()


@pytest.mark.parametrize("table, message", [
    ({"max_offers": 3}, "unknown"),
    ({"discount_type": "cash"}, "discount_type"),
    ({"holdout_share": 1.5}, "holdout_share"),
    ({"replenish_value": 150}, "replenish_value"),
])
def test_bad_offers_config_is_rejected_with_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfferPolicy.from_config(table)


def test_category_affinities_follow_spend(milk_shop: pd.DataFrame) -> None:
    categories = {100: "dairy", 200: "bakery", 201: "bakery", 202: "bakery", 203: "bakery"}
    profile = profile_households(milk_shop, SHOP_AS_OF, categories=categories).set_index("household_id")
    assert profile.loc[1, "top_categories"] == "bakery; dairy"  # 2.00 a trip on bread, 1.20 on milk
    assert profile.loc[3, "top_categories"] == ""
