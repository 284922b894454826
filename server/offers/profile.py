"""Who each household is: RFM, value segment, lifecycle stage and category affinities."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from server.offers.history import before, check_history
from server.offers.policy import OfferPolicy

STAGES = ("trial", "growth", "stable", "decline")
SEGMENTS = ("top", "high", "mid", "low")


def to_pence(values: pd.Series | np.ndarray) -> np.ndarray:
    """Money from float currency units to integer minor units (pence), rounded half away from zero."""
    arr = np.asarray(values, dtype=np.float64) * 100.0
    # the small epsilon undoes binary error such as 1.005 * 100 = 100.49999...
    return (np.sign(arr) * np.floor(np.abs(arr) + 0.5 + 1e-6)).astype(np.int64)


def profile_households(history: pd.DataFrame, as_of: pd.Timestamp, policy: OfferPolicy = OfferPolicy(),
                       categories: Mapping[int, str] | pd.Series | None = None) -> pd.DataFrame:
    """One row per household: RFM (money in pence), segment and lifecycle stage as of the given time.

    With a product -> category mapping, a `top_categories` column lists the household's three
    categories with the largest spend share, best first, separated by "; ".

    Rules (keys of [offers]):
    - segment: households ranked by monetary value; the top `segment_top` share is "top", up to
      `segment_high` "high", up to `segment_mid` "mid", the rest "low".
    - lifecycle, first rule that holds: "trial" if the first visit is under `trial_weeks` old or there
      are fewer than `trial_baskets` baskets; "decline" if no visit for `lifecycle_lapsed_days`, or both
      the weekly visit and spend rates of the last `lifecycle_recent_weeks` are below
      `lifecycle_decline_ratio` times their rates over the `lifecycle_baseline_weeks` before; "growth"
      if either rate is above `lifecycle_growth_ratio` times its baseline; otherwise "stable".
    """
    rows = before(check_history(history), as_of)
    if rows.empty:
        return pd.DataFrame(columns=["household_id", "recency_days", "frequency", "monetary_pence",
                                     "segment", "lifecycle", "first_visit", "last_visit"])
    baskets = rows.groupby(["household_id", "basket_id"], sort=False).agg(
        time=("timestamp", "min"), spend=("sales_value", "sum")).reset_index()
    baskets["pence"] = to_pence(baskets["spend"])
    recent_start = as_of - pd.Timedelta(weeks=policy.lifecycle_recent_weeks)
    base_start = recent_start - pd.Timedelta(weeks=policy.lifecycle_baseline_weeks)
    baskets["recent"] = baskets["time"] >= recent_start
    baskets["base"] = (baskets["time"] >= base_start) & ~baskets["recent"]
    per = baskets.groupby("household_id").agg(
        first_visit=("time", "min"), last_visit=("time", "max"), frequency=("basket_id", "size"),
        monetary_pence=("pence", "sum"))
    per["visits_recent"] = baskets.loc[baskets["recent"]].groupby("household_id").size()
    per["visits_base"] = baskets.loc[baskets["base"]].groupby("household_id").size()
    per["spend_recent"] = baskets.loc[baskets["recent"]].groupby("household_id")["pence"].sum()
    per["spend_base"] = baskets.loc[baskets["base"]].groupby("household_id")["pence"].sum()
    per = per.fillna({"visits_recent": 0, "visits_base": 0, "spend_recent": 0, "spend_base": 0})
    per["recency_days"] = (as_of - per["last_visit"]).dt.total_seconds() // 86400
    per["segment"] = value_segments(per["monetary_pence"].to_numpy(), policy)
    per["lifecycle"] = _stages(per, as_of, base_start, policy)
    out = per.reset_index()[["household_id", "recency_days", "frequency", "monetary_pence", "segment",
                             "lifecycle", "first_visit", "last_visit", "visits_recent", "visits_base",
                             "spend_recent", "spend_base"]]
    for col in ("recency_days", "frequency", "monetary_pence", "visits_recent", "visits_base",
                "spend_recent", "spend_base"):
        out[col] = out[col].astype("int64")
    out = out.rename(columns={"spend_recent": "spend_recent_pence", "spend_base": "spend_base_pence"})
    if categories is not None:
        top = category_affinities(rows, as_of, categories).groupby("household_id")["category"] \
            .agg(lambda c: "; ".join(map(str, c)))
        out["top_categories"] = out["household_id"].map(top).fillna("")
    return out


def value_segments(monetary: np.ndarray, policy: OfferPolicy = OfferPolicy()) -> np.ndarray:
    """Value bands by rank of monetary value among all the households given (ties share the better band)."""
    rank = pd.Series(monetary).rank(ascending=False, method="min").to_numpy()
    share = (rank - 1) / len(monetary)  # the best household is always in the top band
    return np.select([share < policy.segment_top, share < policy.segment_high, share < policy.segment_mid],
                     ["top", "high", "mid"], default="low")


def _stages(per: pd.DataFrame, as_of: pd.Timestamp, base_start: pd.Timestamp,
            policy: OfferPolicy) -> np.ndarray:
    """Lifecycle stage per household by the documented rules."""
    recent_weeks = float(policy.lifecycle_recent_weeks)
    # a household that started inside the baseline window is measured over the weeks it was a customer
    base_from = per["first_visit"].where(per["first_visit"] > base_start, base_start)
    base_weeks = ((as_of - pd.Timedelta(weeks=policy.lifecycle_recent_weeks)) - base_from).dt.total_seconds()
    base_weeks = np.maximum(base_weeks.to_numpy() / (7 * 86400), 1.0)
    visit_now, visit_then = per["visits_recent"] / recent_weeks, per["visits_base"] / base_weeks
    spend_now, spend_then = per["spend_recent"] / recent_weeks, per["spend_base"] / base_weeks
    trial = ((as_of - per["first_visit"]) < pd.Timedelta(weeks=policy.trial_weeks)) | (
        per["frequency"] < policy.trial_baskets)
    lapsed = per["recency_days"] >= policy.lifecycle_lapsed_days
    fell = (visit_now < policy.lifecycle_decline_ratio * visit_then) & (
        spend_now < policy.lifecycle_decline_ratio * spend_then)
    rose = (visit_now > policy.lifecycle_growth_ratio * visit_then) | (
        spend_now > policy.lifecycle_growth_ratio * spend_then)
    return np.select([trial.to_numpy(), (lapsed | fell).to_numpy(), rose.to_numpy()],
                     ["trial", "decline", "growth"], default="stable")


def category_affinities(history: pd.DataFrame, as_of: pd.Timestamp, categories: Mapping[int, str] | pd.Series,
                        top: int = 3) -> pd.DataFrame:
    """Per household its top categories by spend share, with affinity = share / chain-wide share."""
    rows = before(check_history(history), as_of)
    mapping = categories if isinstance(categories, pd.Series) else pd.Series(dict(categories))
    rows = rows.assign(category=rows["product_id"].map(mapping)).dropna(subset=["category"])
    if rows.empty:
        return pd.DataFrame(columns=["household_id", "category", "spend_share", "affinity"])
    rows = rows.assign(pence=to_pence(rows["sales_value"]).clip(min=0))
    spend = rows.groupby(["household_id", "category"])["pence"].sum().reset_index()
    spend["spend_share"] = spend["pence"] / spend.groupby("household_id")["pence"].transform("sum").clip(lower=1)
    chain = spend.groupby("category")["pence"].sum()
    chain_share = (chain / max(int(chain.sum()), 1)).rename("chain_share")
    spend = spend.join(chain_share, on="category")
    spend["affinity"] = spend["spend_share"] / spend["chain_share"].clip(lower=1e-12)
    spend = spend.sort_values(["household_id", "spend_share", "category"], ascending=[True, False, True])
    return spend.groupby("household_id").head(top)[["household_id", "category", "spend_share", "affinity"]] \
        .reset_index(drop=True)
