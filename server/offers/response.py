"""Who responds to a campaign: the engine's purchase propensity beside the household's past response to offers.

A household's targeting score is a logistic model over a few plain features of its own history
(campaign products bought lately and overall, how often it buys on a deal, how many lines it buys)
and of its earlier redemptions (how many, any at all), with the engine's propensity for the
campaign's products as one of them. Every feature is the household's own, so a partition of
households is scored alone. The weights are learnt on Complete Journey campaigns with odd ids only
(`shopgo offers evaluate-targeting --write`); even ids are kept for the check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from server.offers.history import HistoryError
from server.offers.rerank import ChannelModel
from server.offers.response_weights import DEFAULT_RESPONSE

REDEMPTION_COLUMNS = ("household_id", "campaign_id", "redeemed_at")
RECENT_WEEKS = 12
DEAL_SHARE = 0.25  # a line is a deal when at least this share of its price was taken off
RESPONSE_FEATURES = (
    "log1p campaign-product spend, last 12 weeks",
    "log1p campaign-product spend, whole history",
    "log1p past redemptions",
    "any past redemption",
    "log1p lines bought on a deal of 25% or more",
    "share of lines bought with any discount",
    "log engine propensity for the campaign's products",
    "log1p lines bought",
)


def check_redemptions(frame: pd.DataFrame, source: str = "redemptions") -> pd.DataFrame:
    """Redemptions with integer ids and UTC times, or a HistoryError that says what to fix."""
    missing = [c for c in REDEMPTION_COLUMNS if c not in frame.columns]
    if missing:
        raise HistoryError(f"{source} lacks column(s) {', '.join(missing)}; it needs {', '.join(REDEMPTION_COLUMNS)}")
    out = frame.loc[:, list(REDEMPTION_COLUMNS)].copy()
    for col in ("household_id", "campaign_id"):
        try:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("int64")
        except (ValueError, TypeError) as exc:
            raise HistoryError(f"{source}: column {col} must hold whole-number ids") from exc
    try:
        out["redeemed_at"] = pd.to_datetime(out["redeemed_at"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise HistoryError(f"{source}: redeemed_at must be ISO 8601, e.g. 2017-06-30") from exc
    if out["redeemed_at"].isna().any():
        raise HistoryError(f"{source}: {int(out['redeemed_at'].isna().sum())} row(s) have no redeemed_at")
    return out


def no_redemptions() -> pd.DataFrame:
    """An empty redemptions table."""
    return pd.DataFrame({"household_id": pd.Series(dtype="int64"), "campaign_id": pd.Series(dtype="int64"),
                         "redeemed_at": pd.Series(dtype="datetime64[ns, UTC]")})


def response_features(rows: pd.DataFrame, households: np.ndarray, products: np.ndarray, redemptions: pd.DataFrame,
                      propensity: np.ndarray, as_of: pd.Timestamp) -> np.ndarray:
    """Households x RESPONSE_FEATURES from checked lines before as_of and redemptions (any time; only
    those strictly before as_of count)."""
    index = pd.Index(households, name="household_id")

    def per_household(values: pd.Series) -> np.ndarray:
        return values.groupby(level=0).sum().reindex(index, fill_value=0).to_numpy(dtype=np.float64)

    by_hh = rows.set_index("household_id")
    mine = by_hh.loc[by_hh["product_id"].isin(products)]
    recent = mine.loc[mine["timestamp"] >= as_of - pd.Timedelta(weeks=RECENT_WEEKS)]
    price = (by_hh["sales_value"] + by_hh["discount"]).clip(lower=1e-9)
    earlier = redemptions.loc[redemptions["redeemed_at"] < as_of]
    redeemed = earlier.groupby("household_id").size().reindex(index, fill_value=0).to_numpy(dtype=np.float64)
    lines = per_household(pd.Series(1.0, index=by_hh.index))
    return np.stack([
        np.log1p(per_household(recent["sales_value"].clip(lower=0))),
        np.log1p(per_household(mine["sales_value"].clip(lower=0))),
        np.log1p(redeemed),
        (redeemed > 0).astype(np.float64),
        np.log1p(per_household((by_hh["discount"] >= DEAL_SHARE * price).astype(np.float64))),
        per_household((by_hh["discount"] > 0).astype(np.float64)) / np.maximum(lines, 1.0),
        np.log(np.maximum(propensity, 1e-6)),
        np.log1p(lines),
    ], axis=1)


def response_score(features: np.ndarray, model: ChannelModel = DEFAULT_RESPONSE) -> np.ndarray:
    """Probability of redeeming, per row of features."""
    return model.probability(features)
