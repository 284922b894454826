"""Campaign targeting: past redemptions count, future ones never do, and real campaigns are ranked well."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from server.offers.cli import offers
from server.offers.engine import target_households

AS_OF = pd.Timestamp("2024-03-25", tz="UTC")


def redemptions(*rows: tuple[int, int, str]) -> pd.DataFrame:
    return pd.DataFrame({"household_id": [r[0] for r in rows], "campaign_id": [r[1] for r in rows],
                         "redeemed_at": [r[2] for r in rows]})


def test_a_household_that_redeemed_before_ranks_above_one_that_did_not(milk_shop: pd.DataFrame) -> None:
    plain = target_households(milk_shop, [300], AS_OF).set_index("household_id")["score"]
    past = target_households(milk_shop, [300], AS_OF, redemptions=redemptions((3, 7, "2024-02-01"))) \
        .set_index("household_id")["score"]
    assert past[3] > plain[3]
    assert past.drop(3).equals(plain.drop(3))


def test_a_redemption_at_or_after_the_as_of_time_changes_nothing(milk_shop: pd.DataFrame) -> None:
    plain = target_households(milk_shop, [300], AS_OF)
    planted = redemptions((3, 7, "2024-03-25T00:00:00Z"), (2, 8, "2024-04-02"), (4, 8, "2025-01-01"))
    assert target_households(milk_shop, [300], AS_OF, redemptions=planted).equals(plain)


def test_discounts_tell_deal_buyers_apart(milk_shop: pd.DataFrame) -> None:
    plain = target_households(milk_shop, [300], AS_OF).set_index("household_id")["score"]
    on_deal = milk_shop.assign(discount=(milk_shop["household_id"] == 4) * 1.5)  # half price for household 4
    dealt = target_households(on_deal, [300], AS_OF).set_index("household_id")["score"]
    assert dealt[4] > plain[4] and dealt[2] == plain[2]


def test_target_cli_reads_redemptions_and_refuses_a_bad_file(milk_shop: pd.DataFrame, tmp_path: Path) -> None:
    history, products, out = tmp_path / "h.parquet", tmp_path / "p.csv", tmp_path / "out.csv"
    milk_shop.to_parquet(history)
    pd.DataFrame({"product_id": [300]}).to_csv(products, index=False)
    good, bad = tmp_path / "r.csv", tmp_path / "bad.csv"
    redemptions((3, 7, "2024-02-01")).to_csv(good, index=False)
    redemptions((3, 7, "2024-02-01")).drop(columns="redeemed_at").to_csv(bad, index=False)
    args = ["target", "--history", str(history), "--products", str(products), "--as-of", "2024-03-25"]
    result = CliRunner().invoke(offers, [*args, "--redemptions", str(bad), "--out", str(out)])
    assert result.exit_code != 0 and "lacks column(s) redeemed_at" in result.output
    assert not out.exists()
    result = CliRunner().invoke(offers, [*args, "--redemptions", str(good), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out).set_index("household_id")["score"]
    assert scores.idxmax() == 3


@pytest.mark.slow
def test_targeting_beats_both_baselines_on_the_complete_journey_campaigns() -> None:
    from server.offers.campaign_eval import campaign_cases, evaluate

    cases = campaign_cases()
    rows = {r["method"]: r for r in evaluate(cases)}
    ours = rows.pop("ShopGo targeting")
    assert len(cases) == 24
    for half in ("odd", "even"):
        assert ours[half] >= 0.75, (half, ours)
        assert all(ours[half] > baseline[half] for baseline in rows.values()), rows
