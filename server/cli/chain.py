"""`shopgo chain`: a store's feed to head office (back-fill, ship now, status) and head office's lake."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from server.cli.base import Ctx, pass_ctx, session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@click.group("chain")
def chain() -> None:
    """The chain data plane: the store's feed to head office and head office's history lake."""


@chain.command("backfill")
@click.option("--ship/--no-ship", default=True, show_default=True,
              help="Send the queued history to head office at once (otherwise the scheduler's chain-feed job does).")
@click.option("--database", help="Database URL (default: database.url from the config).")
@pass_ctx
def backfill_cmd(ctx: Ctx, ship: bool, database: str | None) -> None:
    """Queue this store's whole history (and every member) for head office, then send it.

    Resumable: stopped by a crash or Ctrl-C, it goes on where it stopped and queues nothing twice."""
    from server.store.chain_feed import backfill, backfill_total

    with session(ctx, database) as sess:
        members, purchases = backfill_total(sess)
        with click.progressbar(length=max(members + purchases, 1), label="queueing history",
                               show_pos=True, show_percent=True) as bar:
            queued = backfill(sess, progress=lambda done, total: bar.update(done - bar.pos))
        click.echo(f"queued {queued[0]:,} members and {queued[1]:,} purchases for head office")
        if ship:
            _ship(ctx, sess)


@chain.command("ship")
@click.option("--database", help="Database URL (default: database.url from the config).")
@pass_ctx
def ship_cmd(ctx: Ctx, database: str | None) -> None:
    """Send the outbox to head office now, until it is empty (what the chain-feed job does)."""
    with session(ctx, database) as sess:
        _ship(ctx, sess)


def _ship(ctx: Ctx, sess: Session) -> None:
    from server.store.chain_feed import backlog, ship_configured

    total = backlog(sess).facts
    with click.progressbar(length=max(total, 1), label="shipping to head office", show_pos=True,
                           show_percent=True) as bar:
        report = ship_configured(sess, ctx.cfg, progress=lambda done, _: bar.update(done - bar.pos))
    click.echo(f"{report.batches:,} batches, {report.facts:,} facts, {report.lines:,} lines shipped; "
               f"head office holds batch {report.held}")
    if report.error:
        raise click.ClickException(f"{report.error}. The outbox keeps everything: run `shopgo chain ship` again "
                                   "when head office answers (the scheduler's chain-feed job also retries).")


@chain.command("status")
@click.option("--database", help="Database URL (default: database.url from the config).")
@pass_ctx
def status_cmd(ctx: Ctx, database: str | None) -> None:
    """This store's feed (last batch, backlog, lag) or, at head office, every store's feed, as JSON."""
    from server.head_office.feed import store_feeds
    from server.store.chain_feed import feed_status

    with session(ctx, database) as sess:
        if ctx.cfg["site"]["role"] == "head_office":
            click.echo(json.dumps(store_feeds(sess), indent=2, default=str))
        else:
            click.echo(json.dumps(feed_status(sess, ctx.cfg), indent=2))
