"""`shopgo offers ...`: thin click commands over the engine's plain functions."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from server.offers.engine import SCORE_COLUMNS, score_households, target_households
from server.offers.history import HistoryError, load_history, parse_as_of, read_table
from server.offers.response import check_redemptions


def _as_of(ctx: click.Context, param: click.Parameter, value: str) -> pd.Timestamp:
    """Click callback: an ISO 8601 date or time, taken as UTC."""
    try:
        return parse_as_of(value)
    except HistoryError as exc:
        raise click.BadParameter(str(exc)) from exc


def _history(path: Path) -> pd.DataFrame:
    """Load a history file or stop with a message that says what to fix."""
    try:
        return load_history(path)
    except HistoryError as exc:
        raise click.ClickException(f"{exc}. Fix the file or pass another --history.") from exc


def _redemptions(path: Path | None) -> pd.DataFrame | None:
    """Load a --redemptions file (None without one) or stop with a message that says what to fix."""
    if path is None:
        return None
    try:
        return check_redemptions(read_table(path), source=str(path))
    except HistoryError as exc:
        raise click.ClickException(f"{exc}. Fix the file or leave out --redemptions.") from exc


HISTORY = click.option("--history", "history_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
                       help="Parquet or CSV: household_id, basket_id, product_id, quantity, sales_value, timestamp.")
AS_OF = click.option("--as-of", "as_of", required=True, callback=_as_of,
                     help="ISO 8601 date or time (UTC); only history strictly before it is used.")
OUT = click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
                   help="CSV file to write.")


@click.group("offers")
def offers() -> None:
    """Offers engine: batch scoring, campaign targeting and the evaluation."""


@offers.command("score")
@HISTORY
@AS_OF
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True, help="Products per household.")
@OUT
def score_command(history_path: Path, as_of: pd.Timestamp, k: int, out: Path) -> None:
    """Write each household's top K next products: household_id,rank,product_id,kind,score."""
    history = _history(history_path)
    ranked = score_households(history, as_of, k)
    ranked[SCORE_COLUMNS].to_csv(out, index=False, float_format="%.6f")
    click.echo(f"wrote {len(ranked)} rows for {ranked['household_id'].nunique()} households to {out}")


@offers.command("target")
@HISTORY
@click.option("--products", "products_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Parquet or CSV with a product_id column: the campaign's products.")
@click.option("--redemptions", "redemptions_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Parquet or CSV of past offer redemptions: household_id, campaign_id, redeemed_at "
                   "(only those before --as-of are read).")
@AS_OF
@OUT
def target_command(history_path: Path, products_path: Path, redemptions_path: Path | None, as_of: pd.Timestamp,
                   out: Path) -> None:
    """Write every household's chance of redeeming a campaign on the products: household_id,score,propensity."""
    history = _history(history_path)
    try:
        products = read_table(products_path)
    except HistoryError as exc:
        raise click.ClickException(f"{exc}. Pass a --products file with a product_id column.") from exc
    if "product_id" not in products.columns:
        raise click.ClickException(f"{products_path} has no product_id column; add one with the campaign's ids.")
    redemptions = _redemptions(redemptions_path)
    ids = pd.to_numeric(products["product_id"], errors="coerce").dropna().astype("int64").unique()
    scores = target_households(history, ids, as_of, redemptions=redemptions)
    if not scores["propensity"].gt(0).any():
        click.echo("warning: no household bought or is likely to buy these products; only past redemptions "
                   "and deal buying rank them", err=True)
    scores[["household_id", "score", "propensity"]].to_csv(out, index=False, float_format="%.6f")
    click.echo(f"wrote {len(scores)} households to {out}")


@offers.command("evaluate-targeting")
@click.option("--write", is_flag=True, help="Refit the response model on odd campaigns and save its weights.")
def evaluate_targeting_command(write: bool) -> None:
    """Targeting vs two baselines on the Complete Journey's coupon campaigns (AUC, odd and even ids)."""
    from server.offers.campaign_eval import campaign_cases, evaluate, fit_response, format_rows, write_weights

    cases = campaign_cases(progress=lambda step: click.echo(f"... {step}", err=True))
    model = None
    if write:
        model, l2 = fit_response(cases)
        write_weights(model, l2)
        click.echo(f"wrote the response model (L2 {l2:g}, fitted on odd campaigns)", err=True)
    rows = evaluate(cases, model) if model is not None else evaluate(cases)
    click.echo(f"{len(cases)} campaigns; AUC per campaign weighted by its redeemers; weights learnt on odd ids only")
    click.echo(format_rows(rows))


@offers.command("evaluate")
@click.option("--households", type=click.IntRange(min=10), default=None,
              help="Use only the first N households (by id); default all 2,469.")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--validation", is_flag=True, help="Hold out the second-to-last basket instead of the last.")
def evaluate_command(households: int | None, k: int, validation: bool) -> None:
    """Engine vs G-TopFreq, P-TopFreq and TIFU-KNN on the Complete Journey (last basket held out)."""
    from server.offers.evaluate import bar_chart, evaluate_complete_journey, format_table

    def progress(step: str) -> None:
        click.echo(f"... {step}", err=True)

    rows = evaluate_complete_journey(households, k, hold_out=2 if validation else 1, progress=progress)
    click.echo(f"{int(rows[0]['households'])} households, "
               f"{'second-to-last' if validation else 'last'} basket held out, K={k}")
    click.echo(format_table(rows, k))
    click.echo(f"\nRecall@{k}")
    click.echo(bar_chart(rows, "recall"))


def _campaign(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[int, list[int]]:
    """Click callback: ID=FILE pairs, each file a Parquet or CSV with the campaign's product_id column."""
    out: dict[int, list[int]] = {}
    for value in values:
        key, _, path = value.partition("=")
        if not key.isdigit() or not path:
            raise click.BadParameter(f"{value!r} is not ID=FILE, such as 18=campaign18.csv")
        try:
            table = read_table(Path(path))
        except HistoryError as exc:
            raise click.BadParameter(str(exc)) from exc
        if "product_id" not in table.columns:
            raise click.BadParameter(f"{path} has no product_id column")
        out[int(key)] = pd.to_numeric(table["product_id"], errors="coerce").dropna().astype("int64").tolist()
    return out


@offers.command("chain")
@click.option("--history", "source",
              help="The chain's lines: head office's Delta table (default: [chain] lake), another Delta table, "
                   "a Parquet folder or file.", default=None)
@AS_OF
@click.option("--campaign", "campaigns", multiple=True, callback=_campaign, metavar="ID=FILE",
              help="A campaign to target: its id and a Parquet or CSV file of its product_id (repeatable).")
@click.option("--redemptions", "redemptions_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Past redemptions: household_id, campaign_id, redeemed_at (only those before --as-of count).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write offers.csv and targets.csv to.")
def chain_command(source: str | None, as_of: pd.Timestamp, campaigns: dict[int, list[int]],
                  redemptions_path: Path | None, out: Path) -> None:
    """Personal offers and campaign targeting for the whole chain, on Dask ([chain] scheduler, or a LocalCluster)."""
    from server.cli.base import Ctx
    from server.offers.chain import ChainSettings, chain_client, run_chain
    from server.offers.policy import OfferPolicy

    cfg = (click.get_current_context().find_object(Ctx) or Ctx(None)).cfg
    settings = ChainSettings.from_config(cfg)
    if source is None:
        from server.head_office.lake import lake_uri

        source = lake_uri(cfg)
    redemptions = _redemptions(redemptions_path)
    where = settings.scheduler or f"a local cluster of {settings.workers or 'one per core'} worker(s)"
    click.echo(f"... running on {where}", err=True)
    try:
        with chain_client(settings) as client:
            result = run_chain(client, source, as_of, exponent=int(cfg["site"]["currency_exponent"]),
                               policy=OfferPolicy.from_config(cfg.get("offers", {})), campaigns=campaigns,
                               redemptions=redemptions, partition_lines=settings.partition_lines,
                               scratch=settings.scratch, progress=lambda step: click.echo(f"... {step}", err=True))
    except HistoryError as exc:
        raise click.ClickException(f"{exc}. Pass another --history.") from exc
    except OSError as exc:
        raise click.ClickException(f"the Dask cluster could not be reached or started: {exc}. "
                                   "Check [chain] scheduler (empty for a local cluster).") from exc
    out.mkdir(parents=True, exist_ok=True)
    result.offers.to_csv(out / "offers.csv", index=False)
    result.targets.to_csv(out / "targets.csv", index=False, float_format="%.6f")
    click.echo(f"{result.households:,} households, {result.lines:,} lines in {result.partitions} partitions: "
               f"{len(result.offers):,} offers, {len(result.targets):,} campaign scores written to {out}")
