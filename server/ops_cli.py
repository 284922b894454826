"""Operations commands of `shopgo`: scheduler, purge, offers-build. Thin click over service functions."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import click


def _cfg(ctx: click.Context, database: str | None = None) -> dict[str, Any]:
    """The configuration `shopgo --config` loaded, with --database applied."""
    from server import config as config_mod

    root = ctx.find_root().obj
    try:
        cfg = dict(root.cfg) if root is not None else config_mod.load()
    except config_mod.ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    if database:
        cfg["database"] = {**cfg["database"], "url": database}
    return cfg


@click.command("scheduler")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.pass_context
def scheduler(ctx: click.Context, database: str | None) -> None:
    """Run the site's scheduled jobs in this process (one per site; never inside web workers)."""
    from server.scheduler import JOB_IDS, SchedulerBusy, run_scheduler

    cfg = _cfg(ctx, database)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"ShopGo scheduler: jobs {', '.join(JOB_IDS)} (times UTC); Ctrl-C to stop")
    try:
        run_scheduler(cfg)
    except (SchedulerBusy, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, database: str | None) -> None:
    """Remove purchase history older than retention.days (Ctrl-C stops safely; run again to finish)."""
    from db.base import utcnow
    from db.session import make_engine
    from server.config import database_url
    from server.retention import purge as purge_history

    cfg = _cfg(ctx, database)
    eng = make_engine(database_url(cfg))
    try:
        if dry_run:
            report = purge_history(eng, cfg, utcnow(), dry_run=True)
        else:
            with click.progressbar(length=1, label="purging", show_pos=True, show_percent=True) as bar:
                def progress(done: int, total: int) -> None:
                    bar.length = max(total, 1)
                    bar.update(done - bar.pos)

                report = purge_history(eng, cfg, utcnow(), progress=progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        eng.dispose()
    click.echo(report.summary())
    if report.interrupted:
        ctx.exit(130)


@click.command("offers-build")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Build as of this UTC date, YYYY-MM-DD (default: today).")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.pass_context
def offers_build_cmd(ctx: click.Context, as_of: dt.datetime | None, database: str | None) -> None:
    """Build the store's personal offers now, as the nightly job does (same date twice: same offers)."""
    from db.session import make_engine, make_session_factory
    from server.config import database_url
    from server.offers_build import as_of_for, build_store_offers

    cfg = _cfg(ctx, database)
    day = as_of.date() if as_of else dt.datetime.now(dt.timezone.utc).date()
    eng = make_engine(database_url(cfg))
    try:
        with make_session_factory(eng)() as sess:
            report = build_store_offers(sess, cfg, as_of_for(day))
            sess.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        eng.dispose()
    click.echo(f"offers as of {day}: {report.members:,} members ({report.consenting:,} consenting), "
               f"{report.history_lines:,} history lines; {report.offers_written:,} offers written, "
               f"{report.offers_replaced:,} replaced, {report.skipped:,} proposals skipped")
