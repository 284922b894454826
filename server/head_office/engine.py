"""The offers engine as head office uses it: lifecycle/segment profiles and propensity scores.

Head office has no scoring of its own; this adapter only turns the engine's answers
(`profile_households`, `target_households`) into the shape the audience rule reads, both
indexed by household id (= member id).
"""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from server.offers.engine import target_households
from server.offers.profile import SEGMENTS, STAGES, profile_households

__all__ = ["SEGMENTS", "STAGES", "profiles", "propensity"]


def _stamp(as_of: datetime) -> pd.Timestamp:
    return pd.Timestamp(as_of).tz_convert("UTC")


def profiles(history: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Per household (index) its lifecycle stage (`lifecycle`) and value segment (`segment`)."""
    frame = profile_households(history, _stamp(as_of))
    return frame.set_index("household_id")[["lifecycle", "segment"]]


def propensity(history: pd.DataFrame, product_ids: list[int], as_of: datetime) -> pd.Series:
    """Per household (index) the engine's probability of buying any of the products (0..1)."""
    if history.empty:
        return pd.Series(dtype="float64")
    return target_households(history, product_ids, _stamp(as_of)).set_index("household_id")["score"]
