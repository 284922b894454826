"""The re-ranker: candidates of both channels turned into hit probabilities, and merged by expected gain.

Each channel (replenish, discover) has a small logistic regression from features of a candidate
(its raw engine score and rank in its channel, its own share or the share of similar households that
newly adopted it, the household's basket count, explore rate and basket size, the product's
popularity, how often it is bought for the first time and whether it is trending) to the
chance that the product is in the household's next basket. The slots then go to the candidates
with the largest expected gain: recall gain p / basket size for every candidate, plus
`explore_weight` x p / new products per basket for a discover one (a hit on a new product counts
that much in explore recall). So discover slots go where they beat the weakest replenish product:
households with short or scattered histories, not everyone alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

HOUSEHOLD_FEATURES = ("log baskets", "log explore rate", "log basket size", "explore share")
ITEM_FEATURES = ("log popularity", "log adoptions", "adoption share", "log trend")
REPLENISH_FEATURES = ("log score", "log rank", "log own share", *HOUSEHOLD_FEATURES, *ITEM_FEATURES)
DISCOVER_FEATURES = ("log score", "log rank", "neighbour adoption", *HOUSEHOLD_FEATURES, *ITEM_FEATURES)


@dataclass(frozen=True)
class ChannelModel:
    """Logistic regression on standardised features: p = 1 / (1 + exp(-(z . coef + intercept)))."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Hit probability for feature rows (last axis = features)."""
        z = (features - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept)))


@dataclass(frozen=True)
class Reranker:
    """One model per channel."""

    replenish: ChannelModel
    discover: ChannelModel


def household_features(baskets: np.ndarray, rates: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per household: log basket count, log explore rate, log basket size, share of new products."""
    size = np.maximum(sizes, 1.0)
    return np.stack([np.log1p(baskets), np.log(np.maximum(rates, 0.1)), np.log(size), rates / size], axis=-1)


def item_features(popularity: np.ndarray, adoptions: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """Per product: log baskets holding it, log first purchases of it, share of its baskets that were a
    first, and log of its recent share of baskets over its usual share."""
    return np.stack([np.log1p(popularity), np.log1p(adoptions), adoptions / np.maximum(popularity, 1.0),
                     np.log(np.maximum(trend, 1e-9))], axis=-1)


def candidate_features(codes: np.ndarray, raw: np.ndarray, household: np.ndarray, items: np.ndarray,
                       channel: np.ndarray) -> np.ndarray:
    """Households x candidates x features for one channel; `channel` is its own third feature
    (log own share for replenish, neighbour adoption for discover)."""
    n, m = codes.shape
    rank = np.broadcast_to(np.log1p(np.arange(m, dtype=np.float64)), (n, m))
    parts = [np.log(np.maximum(raw, 1e-9))[..., None], rank[..., None], channel[..., None]]
    parts.append(np.broadcast_to(household[:, None, :], (n, m, household.shape[1])))
    parts.append(items[np.maximum(codes, 0)])
    return np.concatenate(parts, axis=-1)


def fit_logistic(features: np.ndarray, hits: np.ndarray, l2: float = 1e-3) -> ChannelModel:
    """Fit a ridge-penalised logistic regression (L-BFGS) of hits on standardised features."""
    x = features.reshape(-1, features.shape[-1]).astype(np.float64)
    y = hits.ravel().astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.c_[(x - mean) / scale, np.ones(len(x))]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        value = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)) + l2 * np.sum(w[:-1] ** 2)
        grad = z.T @ (p - y) / len(y)
        grad[:-1] += 2 * l2 * w[:-1]
        return float(value), grad

    w = minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x
    return ChannelModel(mean=tuple(map(float, mean)), scale=tuple(map(float, scale)),
                        coef=tuple(map(float, w[:-1])), intercept=float(w[-1]))


def merge_by_gain(r_codes: np.ndarray, r_p: np.ndarray, d_codes: np.ndarray, d_p: np.ndarray,
                  sizes: np.ndarray, rates: np.ndarray, explore_weight: float, k: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k candidates of largest expected gain per household, listed by probability: codes, is-discover, p."""
    size = np.maximum(sizes, 1.0)[:, None]
    new = np.maximum(rates, 0.5)[:, None]  # a household that never tries anything still counts as one
    codes = np.concatenate([r_codes, d_codes], axis=1)
    p = np.concatenate([r_p, d_p], axis=1)
    discover = np.concatenate([np.zeros(r_codes.shape, bool), np.ones(d_codes.shape, bool)], axis=1)
    gain = p / size + np.where(discover, explore_weight * p / new, 0.0)
    gain = np.where(codes < 0, -1.0, gain)
    chosen = np.argsort(-gain, axis=1, kind="stable")[:, :k]
    c_codes = np.take_along_axis(codes, chosen, axis=1)
    c_p = np.where(c_codes < 0, -1.0, np.take_along_axis(p, chosen, axis=1))
    order = np.argsort(-c_p, axis=1, kind="stable")
    out_codes = np.take_along_axis(c_codes, order, axis=1)
    out_p = np.where(out_codes >= 0, np.take_along_axis(c_p, order, axis=1), 0.0)
    out_discover = np.take_along_axis(np.take_along_axis(discover, chosen, axis=1), order, axis=1)
    return out_codes, out_discover & (out_codes >= 0), out_p
