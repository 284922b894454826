"""The evaluation: metric definitions on a hand example, and the pipeline on real households."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from server.offers.evaluate import basket_metrics, evaluate_complete_journey, format_table


def test_metrics_on_a_hand_example() -> None:
    # household 0: held-out {1, 2, 3}, bought 1 and 2 before; ranked [1, 9, 3]
    # household 1: held-out {4}, bought nothing before; ranked [5, 6, 7]
    truth = sp.csr_matrix(np.array([[0, 1, 1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]], dtype=float))
    history = sp.csr_matrix(np.array([[0, 1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]], dtype=float))
    codes = np.array([[1, 9, 3], [5, 6, 7]])
    m = basket_metrics(codes, truth, history)
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3) + 1 / np.log2(4))
    assert m["recall"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["ndcg"] == pytest.approx(ndcg0 / 2)
    assert m["phr"] == pytest.approx(0.5)
    assert m["recall_repeat"] == pytest.approx(0.5)  # only household 0 has repeat items: 1 of 2
    assert m["recall_explore"] == pytest.approx((1.0 + 0.0) / 2)  # item 3 found, item 4 not


def test_evaluation_runs_on_300_real_households() -> None:
    rows = evaluate_complete_journey(households=300, k=10)
    assert [r["method"] for r in rows] == ["G-TopFreq", "P-TopFreq", "TIFU-KNN", "ShopGo engine"]
    for row in rows:
        for metric in ("recall", "ndcg", "phr", "recall_repeat", "recall_explore"):
            assert 0.0 <= float(row[metric]) <= 1.0, (row["method"], metric)
    by = {r["method"]: r for r in rows}
    assert float(by["P-TopFreq"]["recall"]) > float(by["G-TopFreq"]["recall"])
    assert "ShopGo engine" in format_table(rows)
