"""The next-basket engine: a ranked list of products per household, labelled replenish or discover.

How a household's list is made:
- replenish candidates: a repeat vector, the share of the household's baskets holding each product,
  half weighted by recency (0.9 per basket back) and half over the whole window, shrunk for short
  histories; blended with the weighted mean vector of its most similar households (cosine).
- discover candidates: products the household never bought, from the chain's most bought products:
  a mix of what its neighbours buy and chain-wide popularity (optionally what others buy in the
  basket after the same products), times how many new products this household tries per basket.
- the re-ranker (server.offers.rerank) turns each channel's best candidates into next-basket
  probabilities and fills the k slots by expected gain, so a discover product only displaces a
  replenish one where it is worth more (`explore_weight`); the list is shown by probability, and
  the score of each product is that probability.
Global parts (the neighbour pool, popularity, adoption counts) are read-only inputs to each shard of
households, so shards can run in separate processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from server.offers.history import BasketLog
from server.offers.rank import top_k_dense, top_k_sparse
from server.offers.rerank import Reranker, candidate_features, household_features, item_features, merge_by_gain
from server.offers.rerank_weights import DEFAULT_RERANKER

REPLENISH, DISCOVER = 0, 1


@dataclass(frozen=True)
class EngineParams:
    """Engine knobs, tuned on each household's second-to-last basket of the Complete Journey."""

    recent_decay: float = 0.9  # per basket back from the newest: what the household buys lately
    longterm_decay: float = 1.0  # per basket: what it buys over the whole window
    recent_share: float = 0.5  # blend of the two repeat vectors
    prior_baskets: float = 1.0  # shrinks short histories: scale n / (n + prior)
    neighbours: int = 100  # similar households (cosine of repeat vectors) per household
    pool_size: int = 2500  # neighbours come from at most this many households (stable hash sample)
    own_weight: float = 0.4  # own repeat vector against the neighbours' weighted mean
    neighbour_items: int = 100  # each pool household lends only its top products
    popular_items: int = 2000  # discover candidates: the chain's most bought products
    discover_neighbour: float = 0.5  # discover mix: neighbours' products vs. chain-wide popularity
    transition_items: int = 30  # per product, the products most often bought in the next basket
    discover_transition: float = 0.0  # weight of "bought next by others" (off: it did not pay on validation)
    trend_days: float = 28.0  # a product's recent share of baskets against its whole-window share
    channel_candidates: int = 20  # raw candidates per channel the re-ranker sees (at least 2k)
    # worth of a hit in explore recall against recall (see rerank.merge_by_gain): the largest value
    # (steps of 0.25) whose cross-fitted validation Recall@10 and NDCG@10 stay 2% above TIFU-KNN's
    explore_weight: float = 2.25
    reranker: Reranker = DEFAULT_RERANKER  # learnt on validation baskets by server.offers.tune
    shard_size: int = 512  # households scored together; shards are independent


@dataclass(frozen=True)
class Ranking:
    """Top-K product codes per household of a BasketLog, with kind and score; code -1 pads."""

    codes: np.ndarray
    kinds: np.ndarray
    scores: np.ndarray


def _per_household(log: BasketLog, weights: np.ndarray) -> sp.csr_matrix:
    """Household x product sum of weighted basket rows."""
    pick = sp.csr_matrix((weights, (log.basket_household, np.arange(len(weights)))),
                         shape=(log.n_households, len(weights)))
    return (pick @ log.items).tocsr()


def basket_age(log: BasketLog) -> np.ndarray:
    """Per basket, how many of the household's baskets are newer (0 = latest)."""
    return (log.count[log.basket_household] - 1 - log.basket_position).astype(np.float64)


def repeat_vectors(log: BasketLog, params: EngineParams) -> sp.csr_matrix:
    """Per household a recency-weighted share of baskets holding each product, shrunk for short histories."""
    age, hh = basket_age(log), log.basket_household
    shrink = log.count / (log.count + params.prior_baskets)
    weights = np.zeros(len(age))
    for decay, share in ((params.recent_decay, params.recent_share),
                         (params.longterm_decay, 1.0 - params.recent_share)):
        w = decay ** age
        total = np.bincount(hh, weights=w, minlength=log.n_households)
        weights += w * share / total[hh]
    return _per_household(log, (weights * shrink[hh]).astype(np.float32))


def adoption_stats(log: BasketLog, decay: float = 0.9) -> tuple[np.ndarray, sp.csr_matrix]:
    """Per household a recency-weighted mean number of products new to it per basket, and its adoptions.

    An adoption (household x product, 1) is a household buying the product for the first time in any
    basket but its first.
    """
    coo = log.items.tocoo()
    hh = log.basket_household[coo.row].astype(np.int64)
    key = hh * log.n_products + coo.col
    order = np.lexsort((coo.row, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    new_rows, new_cols = coo.row[order][first], coo.col[order][first]
    new_per_basket = np.bincount(new_rows, minlength=log.items.shape[0])
    w = decay ** basket_age(log)
    num = np.bincount(log.basket_household, weights=w * new_per_basket, minlength=log.n_households)
    rates = num / np.bincount(log.basket_household, weights=w, minlength=log.n_households)
    later = log.basket_position[new_rows] > 0
    adopted = sp.csr_matrix((np.ones(int(later.sum()), dtype=np.float32),
                             (log.basket_household[new_rows[later]], new_cols[later])),
                            shape=(log.n_households, log.n_products))
    return rates, adopted


def trend_ratio(log: BasketLog, days: float = 28.0) -> np.ndarray:
    """Per product, its share of baskets in the log's last `days` days over its share in the whole log."""
    recent = log.basket_time >= log.basket_time.max() - np.timedelta64(int(days * 86400), "s")
    return trend_of(np.asarray(log.items[recent].sum(axis=0)).ravel(), np.asarray(log.items.sum(axis=0)).ravel())


def trend_of(now: np.ndarray, ever: np.ndarray) -> np.ndarray:
    """Per product, recent baskets' share over all baskets' share."""
    # +1 on both sides: a product seen a few times has no trend to speak of
    return (now + 1.0) / (ever * now.sum() / max(ever.sum(), 1.0) + 1.0)


def explore_rates(log: BasketLog, decay: float = 0.9) -> np.ndarray:
    """Per household, a recency-weighted mean number of products new to it per basket."""
    return adoption_stats(log, decay)[0]


def basket_sizes(log: BasketLog, decay: float = 0.9) -> np.ndarray:
    """Per household, a recency-weighted mean number of distinct products per basket."""
    w = decay ** basket_age(log)
    size = np.diff(log.items.indptr).astype(np.float64)
    return (np.bincount(log.basket_household, weights=w * size, minlength=log.n_households)
            / np.bincount(log.basket_household, weights=w, minlength=log.n_households))


def _prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the largest `keep` entries of each row."""
    codes, values = top_k_sparse(matrix, keep)
    rows = np.repeat(np.arange(matrix.shape[0]), keep)
    ok = codes.ravel() >= 0
    return sp.csr_matrix((values.ravel()[ok].astype(np.float32), (rows[ok], codes.ravel()[ok])),
                         shape=matrix.shape)


def pool_order(household_ids: np.ndarray) -> np.ndarray:
    """A stable pseudo-random key per household id (the neighbour pool takes the smallest)."""
    return (household_ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(17)


def neighbour_pool(household_ids: np.ndarray, size: int) -> np.ndarray:
    """A stable sample of at most `size` positions of the ids (smallest pool_order, then id) that lend neighbours."""
    if len(household_ids) <= size:
        return np.arange(len(household_ids))
    return np.sort(np.lexsort((household_ids, pool_order(household_ids)))[:size])


def unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to unit length."""
    norm = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sp.diags((1.0 / np.maximum(norm, 1e-12)).astype(np.float32)) @ matrix).tocsr()


@dataclass(frozen=True)
class PartitionSummary:
    """What one partition of households adds to the chain-wide statistics (all additive or mergeable).

    Arrays run over the chain's product codes (every partition's log is built on the same product ids).
    `pool_*` are this partition's neighbour-pool candidates: its households first by pool_order.
    """

    baskets: np.ndarray  # per product: baskets holding it
    adopters: np.ndarray  # per product: households that took it up after their first basket
    recent: np.ndarray  # per product: baskets holding it in the trend window
    pool_ids: np.ndarray
    pool_repeat: sp.csr_matrix
    pool_adopted: sp.csr_matrix
    pairs: sp.csr_matrix | None  # product x product in the next basket (only when transitions are on)
    pairs_support: np.ndarray | None  # per product: baskets holding it that have a next basket

    @classmethod
    def empty(cls, n_products: int, params: EngineParams) -> PartitionSummary:
        """The summary of a partition with no lines."""
        zeros, nothing = np.zeros(n_products), sp.csr_matrix((0, n_products), dtype=np.float32)
        transitions = params.discover_transition > 0
        return cls(baskets=zeros, adopters=zeros, recent=zeros, pool_ids=np.zeros(0, dtype=np.int64),
                   pool_repeat=nothing, pool_adopted=nothing,
                   pairs=sp.csr_matrix((n_products, n_products), dtype=np.float32) if transitions else None,
                   pairs_support=zeros if transitions else None)


@dataclass(frozen=True)
class ChainStats:
    """Read-only inputs every partition and shard needs: the neighbour pool, discover products, item features.

    Computed once from every partition's summary and shared, so a household's ranking does not depend
    on which partition it is scored in.
    """

    product_ids: np.ndarray
    popularity: np.ndarray
    pool_ids: np.ndarray
    pool_repeat: sp.csr_matrix
    pool_unit: sp.csr_matrix
    lend: sp.csr_matrix
    lend_pop: np.ndarray
    adopt_pop: np.ndarray
    pop_codes: np.ndarray
    chain: np.ndarray
    follows: sp.csr_matrix | None
    items: np.ndarray

    @property
    def n_products(self) -> int:
        """Number of products in the chain's history."""
        return len(self.product_ids)


def summarise(log: BasketLog, latest: np.datetime64, params: EngineParams = EngineParams()) -> PartitionSummary:
    """This partition's part of the chain statistics; `latest` is the newest basket time of the whole chain."""
    repeat = repeat_vectors(log, params)
    _, adopted = adoption_stats(log)
    recent = log.basket_time >= latest - np.timedelta64(int(params.trend_days * 86400), "s")
    pool = neighbour_pool(log.household_ids, params.pool_size)
    pairs = support = None
    if params.discover_transition > 0:
        has_next = np.flatnonzero(np.r_[log.basket_household[1:] == log.basket_household[:-1], False])
        pairs = (log.items[has_next].T @ log.items[has_next + 1]).tocsr()
        support = np.asarray(log.items[has_next].sum(axis=0)).ravel()
    return PartitionSummary(baskets=np.asarray(log.items.sum(axis=0)).ravel(),
                            adopters=np.asarray(adopted.sum(axis=0)).ravel(),
                            recent=np.asarray(log.items[recent].sum(axis=0)).ravel(),
                            pool_ids=log.household_ids[pool], pool_repeat=repeat[pool], pool_adopted=adopted[pool],
                            pairs=pairs, pairs_support=support)


def merge_summaries(summaries: list[PartitionSummary], pool_size: int) -> PartitionSummary:
    """Several partitions' summaries as one: counts added, the best `pool_size` pool candidates kept."""
    ids = np.concatenate([s.pool_ids for s in summaries])
    keep = neighbour_pool(ids, pool_size) if len(ids) else np.zeros(0, dtype=np.int64)
    pairs = support = None
    if summaries[0].pairs is not None:
        pairs = sum(s.pairs for s in summaries[1:]) + summaries[0].pairs
        support = np.sum([s.pairs_support for s in summaries], axis=0)
    return PartitionSummary(baskets=np.sum([s.baskets for s in summaries], axis=0),
                            adopters=np.sum([s.adopters for s in summaries], axis=0),
                            recent=np.sum([s.recent for s in summaries], axis=0), pool_ids=ids[keep],
                            pool_repeat=sp.vstack([s.pool_repeat for s in summaries]).tocsr()[keep],
                            pool_adopted=sp.vstack([s.pool_adopted for s in summaries]).tocsr()[keep],
                            pairs=pairs, pairs_support=support)


def chain_stats(summaries: list[PartitionSummary], product_ids: np.ndarray,
                params: EngineParams = EngineParams()) -> ChainStats:
    """Merge every partition's summary into the statistics each partition then scores against."""
    whole = merge_summaries(summaries, params.pool_size)
    popularity = whole.baskets
    trend = trend_of(whole.recent, popularity)
    in_order = np.argsort(whole.pool_ids, kind="stable")  # the pool in household id order
    repeat, adopted = whole.pool_repeat[in_order], whole.pool_adopted[in_order]
    lend = _prune_rows(repeat, params.neighbour_items)
    n_pop = min(params.popular_items, len(product_ids))
    pop_codes = np.argsort(-popularity, kind="stable")[:n_pop]
    follows = None
    if whole.pairs is not None:
        # a product seen in few baskets says little; the +20 keeps rare products from dominating
        follows = _prune_rows((sp.diags((1.0 / (whole.pairs_support + 20.0)).astype(np.float32)) @ whole.pairs)
                              .tocsr(), params.transition_items)
    return ChainStats(product_ids=product_ids, popularity=popularity, pool_ids=whole.pool_ids[in_order],
                      pool_repeat=repeat,
                      pool_unit=unit_rows(repeat).T.tocsr(), lend=lend,
                      lend_pop=lend[:, pop_codes].toarray(),  # dense, so the discover step is one BLAS product
                      adopt_pop=adopted[:, pop_codes].toarray(), pop_codes=pop_codes,
                      chain=(popularity[pop_codes] / max(popularity.sum(), 1.0)).astype(np.float32),
                      follows=follows, items=item_features(popularity, whole.adopters, trend))


def stats_of(log: BasketLog, params: EngineParams = EngineParams()) -> ChainStats:
    """The chain statistics of a log that holds the whole chain (one partition)."""
    latest = log.basket_time.max() if len(log.basket_time) else np.datetime64(0, "ns")
    return chain_stats([summarise(log, latest, params)], log.product_ids, params)


@dataclass(frozen=True)
class _Local:
    """Per-household inputs of one partition: repeat vectors, explore rates, basket sizes, features."""

    repeat: sp.csr_matrix
    rates: np.ndarray
    sizes: np.ndarray
    household: np.ndarray


def _local(log: BasketLog, params: EngineParams) -> _Local:
    rates = explore_rates(log)
    sizes = basket_sizes(log)
    return _Local(repeat=repeat_vectors(log, params), rates=rates, sizes=sizes,
                  household=household_features(log.count, rates, sizes))


def _shard_candidates(log: BasketLog, own_all: _Local, g: ChainStats, lo: int, hi: int, m: int,
                      params: EngineParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The m best raw candidates of each channel for households lo..hi: codes and features of each."""
    own = own_all.repeat[lo:hi]
    mix = neighbour_weights(own, g.pool_unit, g.pool_ids, log.household_ids[lo:hi], params.neighbours)
    seen = own.copy()
    seen.data[:] = 1.0
    lent = (mix @ g.lend).multiply(seen).tocsr()
    replenish = (params.own_weight * own + (1.0 - params.own_weight) * lent).tocsr()
    # discover candidates: the chain's most bought products the household never bought
    unseen = np.asarray(mix @ g.lend_pop)
    owned = seen[:, g.pop_codes].toarray() > 0
    unseen[owned] = 0.0
    discover = params.discover_neighbour * unseen / np.maximum(unseen.sum(axis=1, keepdims=True), 1e-12)
    discover += (1.0 - params.discover_neighbour) * g.chain[None, :]
    if g.follows is not None:
        discover = _add_follows(discover, g.follows, log, lo, hi, g.pop_codes, params)
    discover[owned] = 0.0
    discover *= own_all.rates[lo:hi, None].astype(np.float32)
    d_idx, d_raw = top_k_dense(discover, m)
    d_codes = np.where(d_idx >= 0, g.pop_codes[np.maximum(d_idx, 0)], -1)
    # how many of the household's neighbours took the product up lately: newly adopted, not just bought
    near_adopt = np.take_along_axis(np.asarray(mix @ g.adopt_pop), np.maximum(d_idx, 0), axis=1)
    r_codes, r_raw = top_k_sparse(replenish, m)
    rows = np.repeat(np.arange(hi - lo), m)
    r_own = np.asarray(own[rows, np.maximum(r_codes.ravel(), 0)]).reshape(r_codes.shape)
    hh = own_all.household[lo:hi]
    return (r_codes, candidate_features(r_codes, r_raw, hh, g.items, np.log(np.maximum(r_own, 1e-9))),
            d_codes, candidate_features(d_codes, d_raw, hh, g.items, np.log1p(100.0 * near_adopt)))


def _shards(log: BasketLog, params: EngineParams) -> list[tuple[int, int]]:
    return [(lo, min(lo + params.shard_size, log.n_households)) for lo in range(0, log.n_households, params.shard_size)]


def candidate_table(log: BasketLog, m: int, params: EngineParams = EngineParams(), stats: ChainStats | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every household the m best raw candidates per channel: replenish codes, features, discover codes, features."""
    g = stats if stats is not None else stats_of(log, params)
    own = _local(log, params)
    parts = [_shard_candidates(log, own, g, lo, hi, m, params) for lo, hi in _shards(log, params)]
    r_codes, r_f, d_codes, d_f = zip(*parts)
    return np.concatenate(r_codes), np.concatenate(r_f), np.concatenate(d_codes), np.concatenate(d_f)


def recommend(log: BasketLog, k: int, params: EngineParams = EngineParams(), stats: ChainStats | None = None
              ) -> Ranking:
    """Rank k products per household by expected gain, listed by next-basket probability.

    `stats` are the chain's statistics when the log is one partition of it (see chain_stats); without
    them the log is taken as the whole chain.
    """
    g = stats if stats is not None else stats_of(log, params)
    own = _local(log, params)
    m = max(2 * k, params.channel_candidates)
    codes = np.full((log.n_households, k), -1, dtype=np.int64)
    kinds = np.zeros((log.n_households, k), dtype=np.int8)
    scores = np.zeros((log.n_households, k), dtype=np.float64)
    for lo, hi in _shards(log, params):
        r_codes, r_f, d_codes, d_f = _shard_candidates(log, own, g, lo, hi, m, params)
        r_p = np.where(r_codes >= 0, params.reranker.replenish.probability(r_f), 0.0)
        d_p = np.where(d_codes >= 0, params.reranker.discover.probability(d_f), 0.0)
        c, is_discover, p = merge_by_gain(r_codes, r_p, d_codes, d_p, own.sizes[lo:hi], own.rates[lo:hi],
                                          params.explore_weight, k)
        codes[lo:hi], scores[lo:hi] = c, p
        kinds[lo:hi] = np.where(is_discover, DISCOVER, REPLENISH)
    return Ranking(codes=codes, kinds=kinds, scores=scores)


def neighbour_weights(own: sp.csr_matrix, pool_unit: sp.csr_matrix, pool_ids: np.ndarray,
                      household_ids: np.ndarray, neighbours: int) -> sp.csr_matrix:
    """Households x pool matrix: each household's most similar pool households, weights summing to 1."""
    sim = (unit_rows(own) @ pool_unit).toarray()
    sim[pool_ids[None, :] == household_ids[:, None]] = 0.0
    k_n = max(1, min(neighbours, len(pool_ids) - 1))
    nbrs = np.argpartition(-sim, k_n - 1, axis=1)[:, :k_n]
    w = np.take_along_axis(sim, nbrs, axis=1)
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    return sp.csr_matrix((w.ravel().astype(np.float32), (np.repeat(np.arange(len(household_ids)), k_n), nbrs.ravel())),
                         shape=(len(household_ids), len(pool_ids)))


def _add_follows(discover: np.ndarray, follows: sp.csr_matrix, log: BasketLog, lo: int, hi: int,
                 pop_codes: np.ndarray, params: EngineParams) -> np.ndarray:
    """Blend in what other households bought right after the products of this household's last basket."""
    last = log.start[lo:hi] + log.count[lo:hi] - 1
    dense = (log.items[last] @ follows[:, pop_codes]).toarray()
    dense /= np.maximum(dense.sum(axis=1, keepdims=True), 1e-12)
    return (1.0 - params.discover_transition) * discover + params.discover_transition * dense
