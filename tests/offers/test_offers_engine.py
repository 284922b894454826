"""The engine: ranked next products, their labels, recency, shards, and the TIFU-KNN baseline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from server.offers.baselines import TifuParams, p_topfreq, tifu_basket_weights, tifu_knn
from server.offers.engine import score_households, target_households
from server.offers.history import basket_log, check_history, parse_as_of
from server.offers.recommend import EngineParams, recommend
from server.offers.rerank import DISCOVER_FEATURES, REPLENISH_FEATURES, ChannelModel, Reranker

AS_OF = parse_as_of("2024-06-01")
RAW_ORDER = Reranker(*(ChannelModel(mean=(0.0,) * n, scale=(1.0,) * n, coef=(1.0,) + (0.0,) * (n - 1), intercept=0.0)
                       for n in (len(REPLENISH_FEATURES), len(DISCOVER_FEATURES))))


def test_member_who_buys_milk_every_trip_gets_milk_as_replenish(milk_shop: pd.DataFrame) -> None:
    ranked = score_households(milk_shop, AS_OF, k=5)
    top = ranked.loc[(ranked["household_id"] == 1) & (ranked["rank"] == 1)].iloc[0]
    assert (top["product_id"], top["kind"]) == (100, "replenish")


def test_discover_products_are_ones_the_household_never_bought(milk_shop: pd.DataFrame) -> None:
    ranked = score_households(milk_shop, AS_OF, k=8)
    bought = set(zip(milk_shop["household_id"], milk_shop["product_id"]))
    labels = [((h, p) in bought, kind) for h, p, kind in zip(ranked["household_id"], ranked["product_id"],
                                                             ranked["kind"])]
    assert all((kind == "replenish") == seen for seen, kind in labels)
    assert any(kind == "discover" for _, kind in labels)


def test_recent_baskets_weigh_more_than_old_ones(make_history) -> None:
    # the same number of trips for each product: only when they were bought differs
    old = [(1, b, 10, f"2024-01-{b:02d}", 1.0) for b in range(1, 5)]
    new = [(1, 100 + b, 20, f"2024-03-{b:02d}", 1.0) for b in range(1, 5)]
    other = [(2, 200 + b, 30, f"2024-02-{b:02d}", 1.0) for b in range(1, 4)]
    ranked = score_households(make_history(old + new + other), AS_OF, k=2)
    mine = ranked.loc[ranked["household_id"] == 1].sort_values("rank")
    assert list(mine["product_id"])[:2] == [20, 10]


def test_scores_do_not_depend_on_shard_size(milk_shop: pd.DataFrame) -> None:
    log = basket_log(check_history(milk_shop))
    whole = recommend(log, 6, EngineParams(shard_size=512))
    one_by_one = recommend(log, 6, EngineParams(shard_size=1))
    assert np.array_equal(whole.codes, one_by_one.codes)
    np.testing.assert_allclose(whole.scores, one_by_one.scores, rtol=1e-5)


def test_k_rows_per_household_unless_fewer_products_exist(make_history) -> None:
    history = make_history([(1, 1, 10, "2024-01-01", 1.0), (1, 2, 11, "2024-01-08", 1.0),
                            (2, 3, 12, "2024-01-02", 1.0)])
    ranked = score_households(history, AS_OF, k=10)
    assert ranked.groupby("household_id").size().to_dict() == {1: 3, 2: 3}


def test_campaign_propensity_is_higher_for_buyers_of_the_products(milk_shop: pd.DataFrame) -> None:
    table = target_households(milk_shop, [100], AS_OF).set_index("household_id")
    assert table.loc[1, "propensity"] > table.loc[2, "propensity"] > table.loc[3, "propensity"]
    assert table.loc[1, "score"] > table.loc[2, "score"] > table.loc[3, "score"]
    assert table[["score", "propensity"]].stack().between(0.0, 1.0).all()


def test_tifu_weights_follow_groups_and_decays() -> None:
    history = pd.DataFrame({"household_id": [1] * 8 + [2] * 3, "basket_id": range(11), "product_id": [5] * 11,
                            "quantity": 1, "sales_value": 1.0,
                            "timestamp": pd.date_range("2024-01-01", periods=11, freq="D", tz="UTC")})
    log = basket_log(check_history(history))
    w = tifu_basket_weights(log, groups=7, within_decay=0.9, group_decay=0.9)
    # 8 baskets in 7 groups: six singletons, then a pair (within-decay 0.9 on the older one)
    expected_8 = [0.9 ** (6 - g) / 7 for g in range(6)] + [0.9 / 2 / 7, 1 / 2 / 7]
    # 3 baskets: one group each, group decay counted from the 7th group as in the authors' code
    expected_3 = [0.9 ** 6 / 3, 0.9 ** 5 / 3, 0.9 ** 4 / 3]
    np.testing.assert_allclose(w, expected_8 + expected_3)


@pytest.mark.parametrize("alpha, expected", [(0.6, [1, 2, 3]), (0.1, [3, 2, 1])])
def test_tifu_knn_ranks_a_hand_computed_example(make_history, alpha: float, expected: list[int]) -> None:
    # A: {1},{1,2}  B: {2,3},{3}  C: {4},{4}; B is A's nearest neighbour (Euclidean)
    lines = [(1, 1, 1, "2024-01-01", 1.0), (1, 2, 1, "2024-01-02", 1.0), (1, 2, 2, "2024-01-02", 1.0),
             (2, 3, 2, "2024-01-01", 1.0), (2, 3, 3, "2024-01-01", 1.0), (2, 4, 3, "2024-01-02", 1.0),
             (3, 5, 4, "2024-01-01", 1.0), (3, 6, 4, "2024-01-02", 1.0)]
    log = basket_log(check_history(make_history(lines)))
    codes = tifu_knn(log, 3, replace(TifuParams(), neighbours=1, alpha=alpha))
    assert list(log.product_ids[codes[0]]) == expected


def test_p_topfreq_ranks_by_count_then_recency(make_history) -> None:
    lines = [(1, 1, 7, "2024-01-01", 1.0), (1, 1, 8, "2024-01-01", 1.0), (1, 2, 8, "2024-01-02", 1.0),
             (1, 3, 9, "2024-01-03", 1.0), (1, 3, 7, "2024-01-03", 1.0), (1, 4, 6, "2024-01-04", 1.0)]
    log = basket_log(check_history(make_history(lines)))
    assert list(log.product_ids[p_topfreq(log, 4)[0]]) == [7, 8, 6, 9]


@pytest.mark.parametrize("transition, expected", [(0.0, 50), (1.0, 40)])
def test_what_others_buy_next_can_lead_discovery(make_history, transition: float, expected: int) -> None:
    # households 2-3 buy 30 and then 40 in their next trip; 5-8 buy 50, the chain's best seller
    lines = [(1, 10, 20, "2024-01-01", 1.0), (1, 11, 30, "2024-01-08", 1.0)]
    for hh in (2, 3):
        lines += [(hh, hh * 10, 30, "2024-01-01", 1.0), (hh, hh * 10 + 1, 40, "2024-01-08", 1.0)]
    for hh in (5, 6, 7, 8):
        lines += [(hh, hh * 10 + b, 50, f"2024-01-0{b + 1}", 1.0) for b in range(3)]
    # a re-ranker that keeps the raw discover order, so the test is about the candidates alone
    params = EngineParams(discover_transition=transition, discover_neighbour=0.0, explore_weight=1e6,
                          reranker=RAW_ORDER)
    ranked = score_households(make_history(lines), AS_OF, k=4, params=params)
    mine = ranked.loc[(ranked["household_id"] == 1) & (ranked["kind"] == "discover")].sort_values("rank")
    assert mine["product_id"].iloc[0] == expected


@pytest.mark.parametrize("params", [EngineParams(pool_size=60), EngineParams(pool_size=60, discover_transition=0.3)])
def test_any_split_of_households_into_partitions_gives_the_same_offers_as_the_whole(params: EngineParams) -> None:
    from server.offers.engine import latest_basket, partition_summary
    from server.offers.evaluate import complete_journey_history
    from server.offers.history import before
    from server.offers.recommend import chain_stats

    as_of = pd.Timestamp("2017-09-01", tz="UTC")
    history = complete_journey_history(240)
    rows = before(check_history(history), as_of)
    parts = [rows.loc[rows["household_id"] % 3 == i] for i in range(3)]
    products = np.sort(rows["product_id"].unique())
    stats = chain_stats([partition_summary(p, products, latest_basket(rows), params) for p in parts], products, params)
    split = pd.concat([score_households(p, as_of, 10, params, stats) for p in parts])
    whole = score_households(history, as_of, 10, params)
    assert len(whole) > 2000
    pd.testing.assert_frame_equal(split.sort_values(["household_id", "rank"]).reset_index(drop=True), whole)
    wanted = [int(p) for p in rows["product_id"].value_counts().index[:3]]
    split = pd.concat([target_households(p, wanted, as_of, params, stats) for p in parts])
    whole = target_households(rows, wanted, as_of, params)
    pd.testing.assert_frame_equal(split.sort_values("household_id").reset_index(drop=True), whole)
