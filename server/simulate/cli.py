"""`shopgo simulate store-day`: a store day on loopback under faults, checked end to end; `shopgo simulate
shoppers`: a few shoppers keeping a store alive (the demo's)."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

import click


@click.group("simulate")
def simulate() -> None:
    """Simulations of the whole system on this machine."""


@simulate.command("store-day")
@click.option("--handhelds", type=click.IntRange(1, 1000), default=200, show_default=True,
              help="Handheld processes, each with its own virtual scanner.")
@click.option("--minutes", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              help="Wall-clock length of the compressed 14-hour day.")
@click.option("--database", help="PostgreSQL URL to use (default: a throw-away database, dropped at the end).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for baskets, pacing and fault targets.")
@click.option("--no-faults", is_flag=True, help="A quiet day: no restarts, cuts, kills or unplugs.")
@click.option("--workers", type=click.IntRange(1, 16), default=3, show_default=True, help="gunicorn workers.")
@click.option("--max-scan-rate", type=click.FloatRange(1, 10_000), default=10.0, show_default=True,
              help="Scans per second the whole store may make (bounds the load on a small machine).")
@click.option("--keep", is_flag=True, help="Keep the work folder (logs, handheld files) and the database.")
@click.pass_context
def store_day(ctx: click.Context, handhelds: int, minutes: float, database: str | None, seed: int, no_faults: bool,
              workers: int, max_scan_rate: float, keep: bool) -> None:
    """Run a store day: gunicorn on PostgreSQL, N handhelds replaying real baskets, faults; then check it."""
    from server.simulate.report import format_report
    from server.simulate.run import StoreDayOptions, run_store_day

    if database is not None and not database.startswith("postgresql"):
        raise click.BadParameter("the store day runs on PostgreSQL: give a postgresql+psycopg://... URL",
                                 param_hint="--database")
    options = StoreDayOptions(handhelds=handhelds, minutes=minutes, database=database, seed=seed,
                              faults=not no_faults, workers=workers, max_scan_rate=max_scan_rate, keep=keep,
                              config_path=getattr(ctx.obj, "config_path", None))
    report = run_store_day(options, log=lambda text: click.echo(text))
    click.echo("")
    click.echo(format_report(report))
    if not report.ok:
        ctx.exit(1)


@simulate.command("shoppers")
@click.option("--store-url", default="http://127.0.0.1:8000", show_default=True, help="The store server.")
@click.option("--shoppers", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Shoppers, each on a handheld of their own (one device token each).")
@click.option("--data-dir", type=click.Path(file_okay=False), default="var/shoppers", show_default=True,
              help="The handhelds' logs and catalogue caches, kept between runs.")
@click.option("--staff-user", required=True, help="The till's staff member (a staff account of the store).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for baskets, pacing and mishaps.")
@click.option("--speed", type=click.FloatRange(0.1, 1000), default=1.0, show_default=True,
              help="Every wait is divided by this (1: a scan every few seconds).")
@click.pass_obj
def shoppers(obj: Any, store_url: str, shoppers: int, data_dir: str, staff_user: str, seed: int,
             speed: float) -> None:
    """Shoppers replaying real members' baskets in a store until stopped: scans, the till, rescans, payment.

    The secrets come from the environment, never the command line: SHOPGO_SHOPPERS_TOKENS (handheld
    tokens, comma-separated), SHOPGO_SHOPPERS_TILL_TOKEN and SHOPGO_SHOPPERS_STAFF_PASSWORD.
    """
    from server import config as config_mod
    from server.simulate.shoppers import ShoppersOptions, run_shoppers

    tokens = [t for t in os.environ.get("SHOPGO_SHOPPERS_TOKENS", "").split(",") if t.strip()]
    till, password = os.environ.get("SHOPGO_SHOPPERS_TILL_TOKEN"), os.environ.get("SHOPGO_SHOPPERS_STAFF_PASSWORD")
    if len(tokens) < shoppers or not till or not password:
        raise click.ClickException(f"{shoppers} shoppers need SHOPGO_SHOPPERS_TOKENS ({shoppers} handheld tokens from "
                                   "`shopgo device add`), SHOPGO_SHOPPERS_TILL_TOKEN (a till's) and "
                                   "SHOPGO_SHOPPERS_STAFF_PASSWORD")
    cfg = obj.cfg
    options = ShoppersOptions(store_url=store_url, tokens=tuple(t.strip() for t in tokens[:shoppers]), till_token=till,
                              staff=(staff_user, password), data_dir=config_mod.resolve_path(cfg, data_dir),
                              database_url=config_mod.database_url(cfg), seed=seed, speed=speed)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_shoppers(cfg, options, _stop_on_signals())


def _stop_on_signals() -> threading.Event:
    """An event set once SIGINT or SIGTERM arrives. The handler only notes the signal: setting the event
    there takes its lock, and a second signal (Ctrl-C, then the demo's TERM) landing inside that first
    handler would wait for the lock forever."""
    stop, arrived = threading.Event(), []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: arrived.append(signum))

    def watch() -> None:
        while not arrived:
            time.sleep(0.1)
        stop.set()

    threading.Thread(target=watch, name="signals", daemon=True).start()
    return stop
