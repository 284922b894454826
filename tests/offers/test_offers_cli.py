"""The analyst CLI: output formats, the as-of cut, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from server.offers.cli import offers


def run(*args: str) -> tuple[int, str]:
    """Invoke the offers group; exit code and all output."""
    result = CliRunner().invoke(offers, list(args))
    return result.exit_code, result.output


@pytest.fixture
def shop_csv(milk_shop: pd.DataFrame, tmp_path: Path) -> Path:
    """The milk shop as CSV with ISO 8601 timestamps, plus lines after the as-of date."""
    late = pd.DataFrame({"household_id": [1, 9], "basket_id": [7001, 9001], "product_id": [777, 888],
                         "quantity": [1, 1], "sales_value": [5.0, 5.0],
                         "timestamp": pd.to_datetime(["2024-03-25T00:00:00Z", "2024-04-01T10:00:00Z"])})
    path = tmp_path / "history.csv"
    frame = pd.concat([milk_shop, late], ignore_index=True)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(path, index=False)
    return path


def test_score_writes_exact_header_and_k_rows_per_household(shop_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    code, output = run("score", "--history", str(shop_csv), "--as-of", "2024-03-25", "--k", "4", "--out", str(out))
    assert code == 0, output
    assert out.read_text().splitlines()[0] == "household_id,rank,product_id,kind,score"
    table = pd.read_csv(out)
    assert table.groupby("household_id")["rank"].apply(list).to_dict() == {h: [1, 2, 3, 4] for h in (1, 2, 3, 4)}
    assert set(table["kind"]) <= {"replenish", "discover"}
    assert table.groupby("household_id")["product_id"].nunique().eq(4).all()


def test_score_uses_only_rows_strictly_before_as_of(shop_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    code, output = run("score", "--history", str(shop_csv), "--as-of", "2024-03-25T00:00:00Z", "--k", "20",
                       "--out", str(out))
    table = pd.read_csv(out)
    assert code == 0, output
    assert 9 not in set(table["household_id"])  # its only trip is after as-of
    assert not {777, 888} & set(table["product_id"])  # 777 is bought exactly at as-of


def test_score_reads_parquet(milk_shop: pd.DataFrame, tmp_path: Path) -> None:
    path, out = tmp_path / "history.parquet", tmp_path / "scores.csv"
    milk_shop.to_parquet(path)
    code, output = run("score", "--history", str(path), "--as-of", "2024-03-25", "--k", "2", "--out", str(out))
    assert code == 0, output
    assert len(pd.read_csv(out)) == 8


def test_target_scores_every_household_in_the_history(shop_csv: Path, tmp_path: Path) -> None:
    products, out = tmp_path / "campaign.csv", tmp_path / "target.csv"
    pd.DataFrame({"product_id": [100]}).to_csv(products, index=False)
    code, output = run("target", "--history", str(shop_csv), "--products", str(products),
                       "--as-of", "2024-03-25", "--out", str(out))
    assert code == 0, output
    assert out.read_text().splitlines()[0] == "household_id,score,propensity"
    table = pd.read_csv(out).set_index("household_id")
    assert sorted(table.index) == [1, 2, 3, 4, 9]
    assert table.loc[1, "score"] > table.loc[3, "score"] and table.loc[9, "propensity"] == 0.0
    assert table["score"].idxmin() == 9  # no history before the as-of time: nothing speaks for it


@pytest.mark.parametrize("change, message", [
    ("drop_column", "lacks column(s) sales_value"),
    ("bad_timestamp", "timestamp must be ISO 8601"),
    ("missing_file", "does not exist"),
    ("bad_ids", "whole-number ids"),
])
def test_bad_history_gives_a_clear_error(milk_shop: pd.DataFrame, tmp_path: Path, change: str,
                                         message: str) -> None:
    path = tmp_path / "history.csv"
    frame = milk_shop.copy()
    if change == "drop_column":
        frame = frame.drop(columns="sales_value")
    if change == "bad_timestamp":
        frame["timestamp"] = "last tuesday"
    if change == "bad_ids":
        frame["product_id"] = "milk"
    if change != "missing_file":
        frame.to_csv(path, index=False)
    code, output = run("score", "--history", str(path), "--as-of", "2024-03-25", "--out", str(tmp_path / "o.csv"))
    assert code != 0
    assert message in output
    assert "Traceback" not in output


def test_bad_as_of_date_is_refused(shop_csv: Path, tmp_path: Path) -> None:
    code, output = run("score", "--history", str(shop_csv), "--as-of", "31/12/2024", "--out", str(tmp_path / "o.csv"))
    assert code == 2
    assert "ISO 8601" in output


def test_target_without_product_id_column_is_refused(shop_csv: Path, tmp_path: Path) -> None:
    products = tmp_path / "campaign.csv"
    pd.DataFrame({"sku": [100]}).to_csv(products, index=False)
    code, output = run("target", "--history", str(shop_csv), "--products", str(products),
                       "--as-of", "2024-03-25", "--out", str(tmp_path / "o.csv"))
    assert code != 0 and "product_id" in output
