"""Purchase history: reading, checking and indexing it as baskets per household."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REQUIRED_COLUMNS: tuple[str, ...] = (
    "household_id",
    "basket_id",
    "product_id",
    "quantity",
    "sales_value",
    "timestamp",
)


# Optional: the money taken off each line (same units as sales_value); a history without it
# counts every line at its regular price.
DISCOUNT = "discount"


class HistoryError(ValueError):
    """The purchase history cannot be used as given; the message says what to fix."""


def parse_as_of(text: str | pd.Timestamp) -> pd.Timestamp:
    """Parse an ISO 8601 date or time as a UTC timestamp (naive input is taken as UTC)."""
    try:
        stamp = text if isinstance(text, pd.Timestamp) else pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"as-of {text!r} is not an ISO 8601 date such as 2017-06-30") from exc
    if stamp is pd.NaT:
        raise HistoryError(f"as-of {text!r} is not an ISO 8601 date such as 2017-06-30")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def read_table(path: Path) -> pd.DataFrame:
    """Read a Parquet or CSV file, choosing by its suffix."""
    if not path.exists():
        raise HistoryError(f"{path} does not exist; give the path of a Parquet or CSV file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except HistoryError:
        raise
    except Exception as exc:  # pyarrow and the CSV parser raise many kinds
        raise HistoryError(f"{path} could not be read as Parquet or CSV: {exc}") from exc


def check_history(frame: pd.DataFrame, source: str = "history") -> pd.DataFrame:
    """Return the history with checked columns, integer ids, UTC timestamps and a discount (0 if absent)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise HistoryError(
            f"{source} lacks column(s) {', '.join(missing)}; "
            f"it needs {', '.join(REQUIRED_COLUMNS)}"
        )
    out = frame.loc[:, list(REQUIRED_COLUMNS)].copy()
    out[DISCOUNT] = frame[DISCOUNT] if DISCOUNT in frame.columns else 0.0
    for col in ("household_id", "basket_id", "product_id"):
        try:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("int64")
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"{source}: column {col} must hold whole-number ids") from exc
    try:
        out["quantity"] = pd.to_numeric(out["quantity"]).astype("int64")
        out["sales_value"] = pd.to_numeric(out["sales_value"]).astype("float64")
        out[DISCOUNT] = pd.to_numeric(out[DISCOUNT]).fillna(0.0).astype("float64")
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"{source}: quantity, sales_value and discount must be numbers") from exc
    try:
        stamps = pd.to_datetime(out["timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"{source}: timestamp must be ISO 8601, e.g. 2017-06-30T12:00:00Z") from exc
    if stamps.isna().any():
        raise HistoryError(f"{source}: {int(stamps.isna().sum())} row(s) have no timestamp")
    out["timestamp"] = stamps
    return out


def load_history(path: Path) -> pd.DataFrame:
    """Read and check a history file."""
    return check_history(read_table(path), source=str(path))


def before(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rows strictly before the as-of time."""
    return history.loc[history["timestamp"] < as_of]


@dataclass(frozen=True)
class BasketLog:
    """Baskets grouped by household in time order, with a basket x product 0/1 matrix."""

    household_ids: np.ndarray  # household code -> household_id
    product_ids: np.ndarray  # product code -> product_id
    start: np.ndarray  # household code -> row of its first basket
    count: np.ndarray  # household code -> number of baskets
    basket_household: np.ndarray  # basket row -> household code
    basket_position: np.ndarray  # basket row -> 0 (oldest) .. count-1 (newest)
    basket_time: np.ndarray  # basket row -> datetime64[ns] UTC
    items: sp.csr_matrix  # basket row x product code, 1 where bought

    @property
    def n_households(self) -> int:
        """Number of households."""
        return len(self.household_ids)

    @property
    def n_products(self) -> int:
        """Number of products."""
        return len(self.product_ids)

    def keep_baskets(self, mask: np.ndarray) -> BasketLog:
        """A log with only the masked baskets; households left empty are dropped."""
        hh = self.basket_household[mask]
        alive = np.unique(hh)
        recode = np.full(self.n_households, -1, dtype=np.int64)
        recode[alive] = np.arange(len(alive))
        hh = recode[hh]
        count = np.bincount(hh, minlength=len(alive))
        start = np.concatenate(([0], np.cumsum(count)[:-1]))
        position = np.arange(len(hh)) - start[hh]
        return BasketLog(
            household_ids=self.household_ids[alive],
            product_ids=self.product_ids,
            start=start,
            count=count,
            basket_household=hh,
            basket_position=position,
            basket_time=self.basket_time[mask],
            items=self.items[mask],
        )


def basket_log(history: pd.DataFrame, product_ids: np.ndarray | None = None) -> BasketLog:
    """Index a checked history as baskets per household, oldest first.

    With `product_ids` (sorted, holding every product of the history) product codes are positions in
    it, so the logs of several partitions of one chain share their product codes.
    """
    hh_codes, hh_ids = pd.factorize(history["household_id"].to_numpy(), sort=True)
    if product_ids is None:
        prod_codes, prod_ids = pd.factorize(history["product_id"].to_numpy(), sort=True)
    else:
        prod_ids = product_ids
        prod_codes = np.searchsorted(product_ids, history["product_id"].to_numpy())
    basket_key = hh_codes.astype(np.int64) * (1 << 40) + history["basket_id"].to_numpy()
    bk_codes, bk_keys = pd.factorize(basket_key)
    n_baskets = int(bk_codes.max()) + 1 if len(bk_codes) else 0
    times = history["timestamp"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    first_time = np.full(n_baskets, np.iinfo(np.int64).max)
    np.minimum.at(first_time, bk_codes, times)
    b_household = np.zeros(n_baskets, dtype=np.int64)
    b_household[bk_codes] = hh_codes
    # baskets at the same time are ordered by id, so the order never depends on the rows' order
    order = np.lexsort((np.asarray(bk_keys), first_time, b_household))
    row_of = np.empty(n_baskets, dtype=np.int64)
    row_of[order] = np.arange(n_baskets)
    rows = row_of[bk_codes]
    items = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, prod_codes)),
        shape=(n_baskets, len(prod_ids)),
    )
    items.sum_duplicates()
    items.data[:] = 1.0
    hh_sorted = b_household[order]
    count = np.bincount(hh_sorted, minlength=len(hh_ids))
    start = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)
    return BasketLog(
        household_ids=np.asarray(hh_ids, dtype=np.int64),
        product_ids=np.asarray(prod_ids, dtype=np.int64),
        start=start,
        count=count,
        basket_household=hh_sorted,
        basket_position=np.arange(n_baskets) - start[hh_sorted],
        basket_time=first_time[order].astype("datetime64[ns]"),
        items=items,
    )
