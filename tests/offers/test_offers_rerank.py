"""The re-ranker: hit probabilities per channel, the merge by expected gain, and learning the weights."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from server.offers.engine import score_households
from server.offers.evaluate import holdout_split
from server.offers.history import basket_log, check_history, parse_as_of
from server.offers.recommend import EngineParams, adoption_stats, basket_sizes, candidate_table, trend_ratio
from server.offers.rerank import (
    DISCOVER_FEATURES,
    REPLENISH_FEATURES,
    ChannelModel,
    Reranker,
    fit_logistic,
    merge_by_gain,
)
from server.offers.rerank_weights import DEFAULT_RERANKER
from server.offers.tune import fit_reranker, write_weights

AS_OF = parse_as_of("2024-06-01")


def test_logistic_fit_learns_that_a_feature_raises_the_hit_chance() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 2))
    hits = rng.random(4000) < 1.0 / (1.0 + np.exp(-(2.0 * x[:, 0] - 1.0)))
    model = fit_logistic(x, hits)
    assert model.coef[0] > 1.0 and abs(model.coef[1]) < 0.2
    p = model.probability(np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))
    assert np.all(np.diff(p) > 0) and np.all((p > 0) & (p < 1))


def test_default_weights_fit_the_feature_lists() -> None:
    assert len(DEFAULT_RERANKER.replenish.coef) == len(REPLENISH_FEATURES)
    assert len(DEFAULT_RERANKER.discover.coef) == len(DISCOVER_FEATURES)
    # a better raw score means a likelier hit in both channels
    assert DEFAULT_RERANKER.replenish.coef[0] > 0 and DEFAULT_RERANKER.discover.coef[0] > 0


# one household, replenish candidates 1, 2 (p 0.30, 0.05) and discover candidates 8, 9 (p 0.04, 0.01)
@pytest.mark.parametrize("explore_weight, new_per_basket, expected", [
    (0.0, 1.0, [1, 2]),  # recall alone: the surer replenish product wins
    (0.5, 1.0, [1, 8]),  # a hit on a new product is worth more: it displaces the weak replenish one
    (0.5, 40.0, [1, 2]),  # ... unless the household tries many new products, so one hit counts little
])
def test_discover_slot_goes_where_its_gain_beats_the_weakest_replenish(
        explore_weight: float, new_per_basket: float, expected: list[int]) -> None:
    codes, is_discover, p = merge_by_gain(np.array([[1, 2]]), np.array([[0.30, 0.05]]), np.array([[8, 9]]),
                                          np.array([[0.04, 0.01]]), sizes=np.array([10.0]),
                                          rates=np.array([new_per_basket]), explore_weight=explore_weight, k=2)
    assert codes[0].tolist() == expected
    assert is_discover[0].tolist() == [c >= 8 for c in expected]
    assert p[0, 0] >= p[0, 1]


def test_merge_lists_by_probability_and_pads_missing_candidates() -> None:
    codes, is_discover, p = merge_by_gain(np.array([[4, -1]]), np.array([[0.1, 0.0]]), np.array([[7, -1]]),
                                          np.array([[0.5, 0.0]]), sizes=np.array([5.0]), rates=np.array([1.0]),
                                          explore_weight=1.0, k=3)
    assert codes[0].tolist() == [7, 4, -1]
    assert is_discover[0].tolist() == [True, False, False]
    assert p[0].tolist() == [0.5, 0.1, 0.0]


def test_adoptions_count_first_purchases_after_a_households_first_basket(make_history) -> None:
    # household 1: {10}, {10, 20}, {30}; household 2: {20}, {20}
    lines = [(1, 1, 10, "2024-01-01", 1.0), (1, 2, 10, "2024-01-02", 1.0), (1, 2, 20, "2024-01-02", 1.0),
             (1, 3, 30, "2024-01-03", 1.0), (2, 4, 20, "2024-01-01", 1.0), (2, 5, 20, "2024-01-02", 1.0)]
    log = basket_log(check_history(make_history(lines)))
    rates, adopted = adoption_stats(log, decay=1.0)
    adoptions = np.asarray(adopted.sum(axis=0)).ravel()
    assert dict(zip(log.product_ids.tolist(), adoptions.tolist())) == {10: 0.0, 20: 1.0, 30: 1.0}
    np.testing.assert_allclose(rates, [1.0, 0.5])  # household 1: 1 + 1 + 1 new over 3 baskets; 2: 1 + 0


def test_trend_ratio_is_above_one_for_products_bought_lately(make_history) -> None:
    # product 1 bought all year, 2 only in the last month, 3 only long ago
    lines = [(1, b, 1, f"2024-{b:02d}-01", 1.0) for b in range(1, 13)]
    lines += [(2, 100, 2, "2024-12-10", 1.0), (2, 101, 2, "2024-12-20", 1.0), (3, 200, 3, "2024-02-01", 1.0)]
    log = basket_log(check_history(make_history(lines)))
    trend = dict(zip(log.product_ids.tolist(), trend_ratio(log, days=28).tolist()))
    assert trend[2] > 1.0 > trend[3]


def test_basket_size_weighs_recent_baskets_more(make_history) -> None:
    lines = [(1, 1, p, "2024-01-01", 1.0) for p in (1, 2, 3, 4)] + [(1, 2, 5, "2024-01-02", 1.0)]
    log = basket_log(check_history(make_history(lines)))
    np.testing.assert_allclose(basket_sizes(log, decay=0.5), [(0.5 * 4 + 1 * 1) / 1.5])


def test_engine_scores_are_probabilities_and_rank_by_them(milk_shop: pd.DataFrame) -> None:
    ranked = score_households(milk_shop, AS_OF, k=6)
    assert ranked["score"].between(0.0, 1.0).all()
    for _, rows in ranked.groupby("household_id"):
        assert rows.sort_values("rank")["score"].is_monotonic_decreasing


@pytest.mark.parametrize("explore_weight, discover_expected", [(0.0, False), (1e6, True)])
def test_explore_weight_decides_whether_discover_displaces_replenish(
        milk_shop: pd.DataFrame, explore_weight: float, discover_expected: bool) -> None:
    ranked = score_households(milk_shop, AS_OF, k=2, params=EngineParams(explore_weight=explore_weight))
    kinds = set(ranked.loc[ranked["household_id"] == 1, "kind"])
    assert ("discover" in kinds) == discover_expected


def test_candidate_table_gives_codes_and_features_per_channel(milk_shop: pd.DataFrame) -> None:
    log = basket_log(check_history(milk_shop))
    r_codes, r_f, d_codes, d_f = candidate_table(log, 4)
    assert r_codes.shape == d_codes.shape == (log.n_households, 4)
    assert r_f.shape == (log.n_households, 4, len(REPLENISH_FEATURES))
    assert d_f.shape == (log.n_households, 4, len(DISCOVER_FEATURES))
    assert np.isfinite(r_f).all() and np.isfinite(d_f).all()


def test_learnt_weights_round_trip_through_the_weights_module(milk_shop: pd.DataFrame, tmp_path: Path) -> None:
    split = holdout_split(basket_log(check_history(milk_shop)))
    learnt = fit_reranker(split, EngineParams(channel_candidates=4))
    assert all(np.isfinite(m.coef).all() for m in (learnt.replenish, learnt.discover))
    path = tmp_path / "weights.py"
    write_weights(learnt, "test", path)
    loaded = runpy.run_path(str(path))["DEFAULT_RERANKER"]
    assert isinstance(loaded, Reranker) and isinstance(loaded.discover, ChannelModel)
    np.testing.assert_allclose(loaded.replenish.coef, learnt.replenish.coef, rtol=1e-5, atol=1e-6)
