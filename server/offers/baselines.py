"""Next-basket baselines for the evaluation: G-TopFreq, P-TopFreq and TIFU-KNN."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from server.offers.history import BasketLog
from server.offers.rank import fill_from, top_k_dense, top_k_sparse


def household_matrix(log: BasketLog, weights: np.ndarray) -> sp.csr_matrix:
    """Household x product matrix: the weighted sum of each household's basket rows."""
    pick = sp.csr_matrix(
        (weights, (log.basket_household, np.arange(len(weights)))),
        shape=(log.n_households, len(weights)),
    )
    return (pick @ log.items).tocsr()


def global_top(log: BasketLog, k: int) -> np.ndarray:
    """Product codes bought in most baskets, best first."""
    counts = np.asarray(log.items.sum(axis=0)).ravel()
    return np.lexsort((np.arange(len(counts)), -counts))[:k]


def g_topfreq(log: BasketLog, k: int) -> np.ndarray:
    """G-TopFreq: everyone gets the k products found in most baskets."""
    return np.tile(global_top(log, k), (log.n_households, 1))


def p_topfreq(log: BasketLog, k: int) -> np.ndarray:
    """P-TopFreq: each household's most often bought products, ties to the most recent; G-TopFreq fills."""
    counts = household_matrix(log, np.ones(log.items.shape[0], dtype=np.float64))
    # the recency share is below 1, so it only breaks ties between equal counts
    scores = counts + _last_position_share(log)
    codes, _ = top_k_sparse(scores.tocsr(), k)
    return fill_from(codes, global_top(log, 2 * k))


def _last_position_share(log: BasketLog) -> sp.csr_matrix:
    """Per household and product, (last basket position + 1) / (baskets + 1), in (0, 1)."""
    coo = log.items.tocoo()
    hh = log.basket_household[coo.row]
    share = (log.basket_position[coo.row] + 1.0) / (log.count[hh] + 1.0)
    key = hh.astype(np.int64) * log.n_products + coo.col
    order = np.lexsort((share, key))
    last_of_key = np.r_[key[order][1:] != key[order][:-1], True]
    sel = order[last_of_key]
    return sp.csr_matrix((share[sel], (hh[sel], coo.col[sel])), shape=(log.n_households, log.n_products))


@dataclass(frozen=True)
class TifuParams:
    """TIFU-KNN hyperparameters (Hu et al., SIGIR 2020); defaults are those published for Dunnhumby."""

    neighbours: int = 100
    within_decay: float = 0.9
    group_decay: float = 0.9
    alpha: float = 0.1
    groups: int = 7
    shard_size: int = 256


def tifu_basket_weights(log: BasketLog, groups: int, within_decay: float, group_decay: float) -> np.ndarray:
    """Each basket's weight in its household's TIFU vector (eq. 1-2 of the paper, grouping as in the authors' code)."""
    n = log.count[log.basket_household].astype(np.int64)
    p = log.basket_position.astype(np.int64)
    base = np.maximum(n // groups, 1)
    extra = np.where(n >= groups, n - base * groups, 0)
    boundary = (groups - extra) * base
    early = p < boundary
    group = np.where(early, p // base, (groups - extra) + (p - boundary) // (base + 1))
    size = np.where(early, base, base + 1)
    inner = np.where(early, p % base, (p - boundary) % (base + 1))
    few = n < groups
    group = np.where(few, p, group)
    size = np.where(few, 1, size)
    inner = np.where(few, 0, inner)
    n_groups = np.where(few, n, groups)
    within = within_decay ** (size - 1 - inner) / size
    across = group_decay ** (groups - 1 - group) / n_groups
    return within * across


def euclidean_neighbours(query: sp.csr_matrix, pool: sp.csr_matrix, k: int, self_index: np.ndarray) -> np.ndarray:
    """Indices of the k pool rows nearest to each query row (self excluded), by Euclidean distance."""
    q_norm = np.asarray(query.multiply(query).sum(axis=1)).ravel()
    p_norm = np.asarray(pool.multiply(pool).sum(axis=1)).ravel()
    dist = q_norm[:, None] + p_norm[None, :] - 2.0 * (query @ pool.T).toarray()
    dist[np.arange(len(self_index)), self_index] = np.inf
    k_eff = min(k, pool.shape[0] - 1)
    return np.argpartition(dist, k_eff - 1, axis=1)[:, :k_eff]


def tifu_knn(log: BasketLog, k: int, params: TifuParams = TifuParams()) -> np.ndarray:
    """TIFU-KNN: alpha x own time-decayed vector + (1 - alpha) x mean of the nearest neighbours' vectors."""
    weights = tifu_basket_weights(log, params.groups, params.within_decay, params.group_decay)
    vectors = household_matrix(log, weights).astype(np.float32)
    dense_pool = vectors.T.tocsr()
    codes = np.empty((log.n_households, k), dtype=np.int64)
    for lo in range(0, log.n_households, params.shard_size):
        hi = min(lo + params.shard_size, log.n_households)
        query = vectors[lo:hi]
        nbrs = euclidean_neighbours(query, vectors, params.neighbours, np.arange(lo, hi))
        mix = np.zeros((hi - lo, log.n_households), dtype=np.float32)
        np.put_along_axis(mix, nbrs, (1.0 - params.alpha) / nbrs.shape[1], axis=1)
        mix[np.arange(hi - lo), np.arange(lo, hi)] += params.alpha
        scores = (dense_pool @ mix.T).T
        codes[lo:hi], _ = top_k_dense(np.ascontiguousarray(scores), k)
    return fill_from(codes, global_top(log, 2 * k))
