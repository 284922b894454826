"""The engine on DataFrames: ranked next products per household and campaign propensity.

Each function here works on one partition of households (a frame holding every line of those
households) against the chain's statistics (recommend.ChainStats). Called with a whole history and no
statistics, the history is the chain and its statistics are computed from it first; this is how a
single store runs the engine, and the Dask runner (server.offers.chain) calls the very same functions
once per partition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from server.offers.history import BasketLog, basket_log, before, check_history
from server.offers.recommend import (
    REPLENISH,
    ChainStats,
    EngineParams,
    PartitionSummary,
    explore_rates,
    neighbour_weights,
    recommend,
    repeat_vectors,
    stats_of,
    summarise,
)
from server.offers.rerank import ChannelModel
from server.offers.response import check_redemptions, no_redemptions, response_features, response_score
from server.offers.response_weights import DEFAULT_RESPONSE

SCORE_COLUMNS = ["household_id", "rank", "product_id", "kind", "score"]


def empty_scores() -> pd.DataFrame:
    """A score table with no rows."""
    return pd.DataFrame({"household_id": pd.Series(dtype="int64"), "rank": pd.Series(dtype="int64"),
                         "product_id": pd.Series(dtype="int64"), "kind": pd.Series(dtype="str"),
                         "score": pd.Series(dtype="float64")})


def latest_basket(rows: pd.DataFrame) -> np.datetime64:
    """The newest line's time of a (checked) history, as the engine's trend window ends there."""
    return rows["timestamp"].max().to_datetime64().astype("datetime64[ns]")


def partition_summary(rows: pd.DataFrame, product_ids: np.ndarray, latest: np.datetime64,
                      params: EngineParams = EngineParams()) -> PartitionSummary:
    """One partition's part of the chain statistics (rows: checked lines before as-of)."""
    return summarise(basket_log(rows, product_ids), latest, params)


def score_households(history: pd.DataFrame, as_of: pd.Timestamp, k: int = 10,
                     params: EngineParams = EngineParams(), stats: ChainStats | None = None) -> pd.DataFrame:
    """Top-k products per household from rows strictly before as_of: household_id, rank, product_id, kind, score."""
    rows = before(check_history(history), as_of)
    if rows.empty:
        return empty_scores()
    log = basket_log(rows, None if stats is None else stats.product_ids)
    ranking = recommend(log, k, params, stats)
    hh_idx, pos = np.nonzero(ranking.codes >= 0)
    codes = ranking.codes[hh_idx, pos]
    return pd.DataFrame({
        "household_id": log.household_ids[hh_idx],
        "rank": pos + 1,
        "product_id": log.product_ids[codes],
        "kind": np.where(ranking.kinds[hh_idx, pos] == REPLENISH, "replenish", "discover"),
        "score": ranking.scores[hh_idx, pos],
    })


def target_households(history: pd.DataFrame, products: list[int] | np.ndarray, as_of: pd.Timestamp,
                      params: EngineParams = EngineParams(), stats: ChainStats | None = None,
                      redemptions: pd.DataFrame | None = None, model: ChannelModel = DEFAULT_RESPONSE) -> pd.DataFrame:
    """Every household in the history with its probability of redeeming a campaign on the products
    (`score`) and the engine's probability of buying any of them (`propensity`), both in [0, 1].

    Only lines and redemptions strictly before as_of are read.
    """
    households, features, propensity = targeting_inputs(history, products, as_of, params, stats, redemptions)
    return pd.DataFrame({"household_id": households, "score": response_score(features, model),
                         "propensity": propensity})


def targeting_inputs(history: pd.DataFrame, products: list[int] | np.ndarray, as_of: pd.Timestamp,
                     params: EngineParams = EngineParams(), stats: ChainStats | None = None,
                     redemptions: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Households of the history (sorted), their response features and their purchase propensity."""
    checked = check_history(history)
    everyone = np.sort(checked["household_id"].unique())
    rows = before(checked, as_of)
    wanted_ids = np.asarray(products, dtype=np.int64)
    propensity = pd.Series(0.0, index=pd.Index(everyone, name="household_id"))
    if not rows.empty:
        log = basket_log(rows, None if stats is None else stats.product_ids)
        wanted = np.flatnonzero(np.isin(log.product_ids, wanted_ids))
        if len(wanted):
            g = stats if stats is not None else stats_of(log, params)
            propensity.loc[log.household_ids] = campaign_propensity(log, wanted, g, params)
    past = no_redemptions() if redemptions is None else check_redemptions(redemptions)
    features = response_features(rows, everyone, wanted_ids, past, propensity.to_numpy(), as_of)
    return everyone, features, propensity.to_numpy()


def campaign_propensity(log: BasketLog, product_codes: np.ndarray, stats: ChainStats,
                        params: EngineParams = EngineParams()) -> np.ndarray:
    """Per household of the log, 1 - prod(1 - p) over the products' next-basket estimates."""
    repeat = repeat_vectors(log, params)
    rates = explore_rates(log)
    lend = stats.pool_repeat[:, product_codes].tocsc()
    lend_total = np.asarray(stats.pool_repeat.sum(axis=1)).ravel()
    chain = stats.popularity[product_codes] / max(float(stats.popularity.sum()), 1.0)
    out = np.zeros(log.n_households)
    for lo in range(0, log.n_households, params.shard_size):
        hi = min(lo + params.shard_size, log.n_households)
        own = repeat[lo:hi]
        mix = neighbour_weights(own, stats.pool_unit, stats.pool_ids, log.household_ids[lo:hi], params.neighbours)
        near = np.asarray((mix @ lend).todense())
        near_share = near / np.maximum(mix @ lend_total, 1e-12)[:, None]
        mine = own[:, product_codes].toarray()
        # a product the household never bought: its share among neighbours' and the chain's
        # purchases, times how many new products the household tries per basket (as in recommend)
        unseen = rates[lo:hi, None] * (params.discover_neighbour * near_share
                                       + (1 - params.discover_neighbour) * chain[None, :])
        p = np.where(mine > 0, params.own_weight * mine + (1 - params.own_weight) * near, unseen)
        out[lo:hi] = 1.0 - np.prod(1.0 - np.clip(p, 0.0, 1.0), axis=1)
    return out
