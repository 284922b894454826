"""`shopgo simulate store-day`: a store day on loopback under faults, checked end to end."""
from __future__ import annotations

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
