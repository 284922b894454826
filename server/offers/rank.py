"""Row-wise top-K selection over score matrices, shared by the engine and the baselines."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k_sparse(scores: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k column codes and scores per row (ties: lower code first); -1 pads short rows."""
    n_rows = scores.shape[0]
    codes = np.full((n_rows, k), -1, dtype=np.int64)
    values = np.zeros((n_rows, k), dtype=np.float64)
    csr = scores.tocsr()
    csr.eliminate_zeros()
    indptr, indices, data = csr.indptr, csr.indices, csr.data
    lengths = np.diff(indptr)
    # long rows: cut each to its k best with argpartition first, so the sort below stays small
    long_rows = np.flatnonzero(lengths > k)
    keep = np.ones(len(data), dtype=bool)
    for row in long_rows:
        lo, hi = indptr[row], indptr[row + 1]
        cut = np.argpartition(-data[lo:hi], k - 1)[k:]
        keep[lo + cut] = False
    rows = np.repeat(np.arange(n_rows), lengths)[keep]
    cols, vals = indices[keep], data[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.searchsorted(rows, np.arange(n_rows))
    rank = np.arange(len(rows)) - first[rows]
    codes[rows, rank] = cols
    values[rows, rank] = vals
    return codes, values


def top_k_dense(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k column codes and scores per row of a dense array; zero scores become -1."""
    k_eff = min(k, scores.shape[1])
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    codes = np.full((scores.shape[0], k), -1, dtype=np.int64)
    values = np.zeros((scores.shape[0], k), dtype=np.float64)
    codes[:, :k_eff] = np.where(top_scores > 0, top, -1)
    values[:, :k_eff] = np.where(top_scores > 0, top_scores, 0.0)
    return codes, values


def fill_from(codes: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Fill -1 slots of each row with fallback codes not already in that row, in order."""
    out = codes.copy()
    for row in np.flatnonzero((out < 0).any(axis=1)):
        have = set(out[row][out[row] >= 0].tolist())
        extra = [c for c in fallback.tolist() if c not in have]
        holes = np.flatnonzero(out[row] < 0)
        take = extra[: len(holes)]
        out[row, holes[: len(take)]] = take
    return out
