"""The nightly offers build: history in, the engine's proposals out as Offer rows, once per as-of date."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from db.models import Campaign, Member, Offer
from server import config as config_mod
from server.offers.build import build_store_offers, history_frame, members_frame
from server.offers.policy import OfferPolicy, in_holdout
from server.store.personal_offers import as_of_for, offer_row

from .conftest import NOW, Shop

AS_OF = as_of_for(NOW.date())
START = AS_OF + dt.timedelta(days=1)  # the policy's start_days = 1
HOLD_OUT = 23  # a consenting member the stable hash puts in the 5% hold-out group


def _cfg(**offers: Any) -> dict[str, Any]:
    return config_mod.load(overrides={"site": {"store_id": "S001"}, "offers": offers}, environ={})


def _regulars(shop: Shop) -> None:
    """Weekly shoppers: 1 and 4 consent, 2 does not, 23 is held out, 9 shops at another store."""
    assert in_holdout(HOLD_OUT, OfferPolicy())
    for mid, consent, store in [(1, True, "S001"), (2, False, "S001"), (HOLD_OUT, True, "S001"),
                                (4, True, "S001"), (9, True, "S002")]:
        shop.member(mid, consent=consent, store=store)
    for week in range(1, 13):
        at = AS_OF - dt.timedelta(days=7 * week, hours=5)
        shop.purchase(1, at, [(1, 110), (2, 95)] + ([(3, 250)] if week % 2 else []))
        shop.purchase(2, at, [(1, 110), (4, 400)])
        shop.purchase(HOLD_OUT, at, [(1, 110), (5, 180)])
        shop.purchase(4, at, [(3, 250), (4, 400)] + ([(5, 180)] if week % 3 == 0 else []))
        shop.purchase(9, at, [(2, 95)], store="S002")
    shop.purchase(1, AS_OF + dt.timedelta(hours=1), [(5, 180)])  # after the as-of time: not read
    shop.session.flush()


def _offers(shop: Shop) -> list[tuple[int, int, str]]:
    return sorted((m, p, k) for m, p, k in shop.session.execute(select(Offer.member_id, Offer.product_id, Offer.kind)))


def test_history_frame_reads_the_window_in_the_engines_columns(shop: Shop) -> None:
    _regulars(shop)
    frame = history_frame(shop.session, "S001", AS_OF, days=730)
    assert list(frame.columns) == ["household_id", "basket_id", "product_id", "quantity", "sales_value",
                                   "timestamp", "discount"]
    assert set(frame["household_id"]) == {1, 2, HOLD_OUT, 4}  # not the other store's member
    assert frame["timestamp"].max() < pd.Timestamp(AS_OF) and str(frame["timestamp"].dt.tz) == "UTC"
    assert frame.loc[frame["product_id"] == 2, "sales_value"].iloc[0] == pytest.approx(0.95)
    assert len(history_frame(shop.session, "S001", AS_OF, days=30)) < len(frame)


def test_build_writes_offers_only_for_consenting_members_outside_the_hold_out(shop: Shop) -> None:
    _regulars(shop)
    report = build_store_offers(shop.session, _cfg(), AS_OF)
    offers = shop.session.scalars(select(Offer)).all()
    assert {o.member_id for o in offers} == {1, 4}
    assert report.offers_written == len(offers) > 0 and report.consenting == 3 and report.members == 4
    for o in offers:
        assert o.valid_from == START and o.valid_to == START + dt.timedelta(days=14)
        assert o.kind in ("replenish", "discover", "winback", "reward") and o.campaign_id is None
        assert o.reward_type in ("percent", "points") and o.reward_value > 0
    assert len([o for o in offers if o.member_id == 1]) <= OfferPolicy().max_live_offers


def test_build_twice_for_the_same_date_writes_the_same_offers_once(shop: Shop) -> None:
    _regulars(shop)
    first = build_store_offers(shop.session, _cfg(), AS_OF)
    before = _offers(shop)
    second = build_store_offers(shop.session, _cfg(), AS_OF)
    assert _offers(shop) == before
    assert second.offers_replaced == first.offers_written and second.offers_written == first.offers_written


def test_build_keeps_live_and_campaign_offers_and_counts_live_ones_against_the_cap(shop: Shop) -> None:
    _regulars(shop)
    campaign = Campaign(name="Coffee week")
    shop.session.add(campaign)
    shop.session.flush()
    live = [Offer(member_id=1, product_id=p, kind="replenish", reward_type="percent", reward_value=10,
                  valid_from=AS_OF - dt.timedelta(days=2), valid_to=AS_OF + dt.timedelta(days=5)) for p in (1, 2, 3)]
    camp = Offer(member_id=4, product_id=4, kind="campaign", reward_type="percent", reward_value=30,
                 campaign_id=campaign.id, valid_from=START, valid_to=START + dt.timedelta(days=7))
    shop.session.add_all([*live, camp])
    shop.session.flush()
    frame = members_frame(shop.session, "S001", START)
    assert dict(zip(frame["household_id"], frame["live_offers"])) == {1: 3, 2: 0, HOLD_OUT: 0, 4: 0}
    build_store_offers(shop.session, _cfg(max_live_offers=4), AS_OF)
    build_store_offers(shop.session, _cfg(max_live_offers=4), AS_OF)
    mine = shop.session.scalars(select(Offer).where(Offer.member_id == 1)).all()
    assert all(o in mine for o in live) and len(mine) <= 4
    assert shop.session.scalars(select(Offer).where(Offer.kind == "campaign")).all() == [camp]


def test_build_skips_proposals_it_cannot_honour(shop: Shop) -> None:
    _regulars(shop)
    day = START.date()

    def fake_engine(history: pd.DataFrame, members: pd.DataFrame, as_of: pd.Timestamp, policy: Any) -> list[Any]:
        assert set(members.columns) >= {"household_id", "consent", "live_offers"}
        good = dict(kind="replenish", reward_type="percent", reward_value=10, valid_from=day, valid_to=day, score=1.0)
        return [SimpleNamespace(household_id=1, product_id=1, **good),
                SimpleNamespace(household_id=2, product_id=1, **good),  # no consent
                SimpleNamespace(household_id=1, product_id=777, **good),  # unknown product
                SimpleNamespace(**{**good, "household_id": 1, "product_id": 2, "reward_type": "voucher"}),
                SimpleNamespace(**{**good, "household_id": 1, "product_id": 3, "reward_value": 150}),
                SimpleNamespace(**{**good, "household_id": 1, "product_id": 4, "kind": "campaign"})]

    report = build_store_offers(shop.session, _cfg(), AS_OF, builder=fake_engine)
    assert _offers(shop) == [(1, 1, "replenish")] and report.skipped == 5


@pytest.mark.parametrize("reward_type, value, price, expected", [
    ("percent", 10, 250, ("percent", 10)),
    ("points", 3, 250, ("points", 4)),  # 2 points a unit earns, tripled: 4 bonus points
    ("points", 2, 40, ("points", 1)),  # a cheap item still gets a bonus point
    ("percent", 0, 250, None),
    ("fixed", 50, 250, None),
])
def test_offer_row_maps_engine_rewards_to_till_rewards(reward_type: str, value: int, price: int,
                                                       expected: tuple[str, int] | None) -> None:
    p = SimpleNamespace(household_id=1, product_id=1, kind="reward", reward_type=reward_type, reward_value=value,
                        valid_from=dt.date(2027, 3, 16), valid_to=dt.date(2027, 3, 29), score=0.5)
    row = offer_row(p, price, points_per_unit=1, exponent=2)
    assert (None if row is None else (row.reward_type, row.reward_value)) == expected


def test_build_refuses_a_naive_as_of(shop: Shop) -> None:
    with pytest.raises(ValueError, match="naive"):
        build_store_offers(shop.session, _cfg(), dt.datetime(2027, 3, 15))


def test_erased_members_are_not_read(shop: Shop) -> None:
    _regulars(shop)
    member = shop.session.get(Member, 4)
    assert member is not None
    member.erased_at = NOW
    shop.session.flush()
    assert 4 not in set(history_frame(shop.session, "S001", AS_OF, days=730)["household_id"])
