"""Fixtures for the offers engine tests: tiny hand-built purchase histories."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import pytest

Line = tuple[int, int, int, str, float]  # household, basket, product, UTC day, price


def history_of(lines: Iterable[Line]) -> pd.DataFrame:
    """A purchase history from (household, basket, product, day, price) lines, quantity 1."""
    rows = list(lines)
    return pd.DataFrame({
        "household_id": [r[0] for r in rows],
        "basket_id": [r[1] for r in rows],
        "product_id": [r[2] for r in rows],
        "quantity": [1] * len(rows),
        "sales_value": [r[4] for r in rows],
        "timestamp": pd.to_datetime([r[3] for r in rows], utc=True, format="ISO8601"),
    })


def weekly(household: int, first_basket: int, products: list[int], start: str, weeks: int,
           price: float = 1.0) -> list[Line]:
    """One trip a week for `weeks` weeks, each with the same products."""
    days = pd.date_range(start, periods=weeks, freq="7D", tz="UTC")
    return [(household, first_basket + i, p, day.isoformat(), price)
            for i, day in enumerate(days) for p in products]


@pytest.fixture
def make_history() -> Callable[[Iterable[Line]], pd.DataFrame]:
    """Factory for histories from lines."""
    return history_of


@pytest.fixture
def milk_shop() -> pd.DataFrame:
    """Household 1 buys milk (100) every week with a changing extra; households 2-4 shop otherwise."""
    lines: list[Line] = []
    days = pd.date_range("2024-01-01", periods=12, freq="7D", tz="UTC")
    for i, day in enumerate(days):
        lines.append((1, 1000 + i, 100, day.isoformat(), 1.20))
        lines.append((1, 1000 + i, 200 + i % 4, day.isoformat(), 2.00))
        for hh in (2, 3, 4):
            lines.append((hh, hh * 1000 + i, 300 + (i + hh) % 5, day.isoformat(), 3.00))
            lines.append((hh, hh * 1000 + i, 100 if hh == 2 and i % 2 else 400, day.isoformat(), 1.20))
    return history_of(lines)
