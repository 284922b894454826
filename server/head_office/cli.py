"""`shopgo head-office ...`: keys, store links, campaigns, pulls and the demo campaign."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from server.cli.base import Ctx, engine, pass_ctx, session


@click.group("head-office")
def head_office() -> None:
    """Head-office campaigns, signed packs and their results."""


@head_office.command("keygen")
@click.option("--force", is_flag=True, help="Replace an existing key (stores must get the new public key).")
@pass_ctx
def keygen(ctx: Ctx, force: bool) -> None:
    """Create head office's Ed25519 key under var/ (0600) and print the public key for stores."""
    from server.head_office.signing import SignatureError, generate_key, key_path, public_key_b64

    path = key_path(ctx.cfg)
    try:
        key = generate_key(path, overwrite=force)
    except SignatureError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"private key written to {path} (mode 0600); put this in each store's config.toml:", err=True)
    click.echo(f"head_office_public_key = \"{public_key_b64(key)}\"", err=True)
    click.echo(public_key_b64(key))


@head_office.command("pubkey")
@pass_ctx
def pubkey(ctx: Ctx) -> None:
    """Print the public key stores configure as server.head_office_public_key."""
    from server.head_office.signing import SignatureError, key_path, load_private_key, public_key_b64

    try:
        click.echo(public_key_b64(load_private_key(key_path(ctx.cfg))))
    except SignatureError as exc:
        raise click.ClickException(str(exc)) from None


@head_office.command("store-add")
@click.argument("store_id")
@click.option("--name", help="Store name (default: the store id).")
@click.option("--url", default="", help="The store server's base URL, for notifications.")
@click.option("--rotate", is_flag=True, help="Give an already linked store a new token.")
@click.option("--database")
@pass_ctx
def store_add(ctx: Ctx, store_id: str, name: str | None, url: str, rotate: bool, database: str | None) -> None:
    """Link a store to head office and print its token once (keep it there with `shopgo head-office link`)."""
    from server.head_office.compiler import add_store, rotate_token
    from server.head_office.definition import CampaignError

    with session(ctx, database) as sess:
        try:
            token = rotate_token(sess, store_id) if rotate else add_store(sess, store_id, name or store_id, url)[1]
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
    click.echo(token)


TOKEN_ENV = "SHOPGO_HEAD_OFFICE_TOKEN"


def _interactive() -> bool:
    return sys.stdin.isatty()


def read_link_token(token_file: TextIO | None) -> str:
    """The store's head-office token from --token-file (- for standard input), SHOPGO_HEAD_OFFICE_TOKEN
    or a hidden prompt: never from the command line, where `ps` shows it to everyone."""
    if token_file is not None:
        token, source = token_file.read(4096), f"--token-file {token_file.name}"
    elif os.environ.get(TOKEN_ENV, "").strip():
        token, source = os.environ[TOKEN_ENV], TOKEN_ENV
    elif _interactive():
        token, source = click.prompt("Head-office token (not shown)", hide_input=True, default="",
                                     show_default=False), "the prompt"
    else:
        raise click.UsageError(f"give the token `shopgo head-office store-add` printed at head office with "
                               f"--token-file PATH (- reads standard input) or the environment variable {TOKEN_ENV}, "
                               f"or run this in a terminal to type it; never on the command line")
    token = token.strip()
    if not token:
        raise click.UsageError(f"{source} holds no token")
    return token


@head_office.command("link")
@click.argument("stray", nargs=-1, required=False, metavar="")
@click.option("--token-file", type=click.File("r"),
              help="A file holding the token head office printed for this store (- for standard input).")
@click.option("--database")
@pass_ctx
def link(ctx: Ctx, stray: tuple[str, ...], token_file: TextIO | None, database: str | None) -> None:
    """On a store: keep the token head office printed for it (encrypted), read from --token-file,
    SHOPGO_HEAD_OFFICE_TOKEN or a hidden prompt, and queue the store's history for head office
    (resumable: run it again after a crash; nothing is queued twice)."""
    from server.head_office.link_secret import LinkTokenError
    from server.store.packs import set_head_office_token

    if stray:
        raise click.UsageError("the token is no longer taken on the command line, where `ps` shows it to everyone: "
                               f"put it in a file and pass --token-file PATH, or set {TOKEN_ENV}")
    token = read_link_token(token_file)
    with session(ctx, database) as sess:
        try:
            set_head_office_token(sess, token, ctx.cfg)
        except LinkTokenError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo("head-office token kept (encrypted); packs will be pulled from server.head_office_url")
        from server.store.chain_feed import backfill, backfill_total

        members, purchases = backfill_total(sess)  # a first link back-fills the store's history through its feed
        if members or purchases:
            with click.progressbar(length=members + purchases, label="queueing this store's history for head office",
                                   show_pos=True, show_percent=True) as bar:
                done = backfill(sess, progress=lambda n, _: bar.update(n - bar.pos))
            click.echo(f"queued {done[0]:,} members and {done[1]:,} purchases; the scheduler's chain-feed job (or "
                       "`shopgo chain ship`) sends them")


def _load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    return data if isinstance(data, dict) else {}


@head_office.command("create")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False))
@click.option("--database")
@pass_ctx
def create(ctx: Ctx, definition: str, database: str | None) -> None:
    """Create a draft campaign from a JSON definition file; prints its id."""
    from server.head_office.campaigns import create_campaign
    from server.head_office.definition import CampaignError

    with session(ctx, database) as sess:
        try:
            campaign = create_campaign(sess, _load(definition), actor="cli")
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(campaign.id)


def _act(ctx: Ctx, campaign_id: int, action: str, notify: bool, database: str | None) -> None:
    from server.head_office import campaigns
    from server.head_office.definition import CampaignError
    from server.head_office.notify import notify_stores, signing_key
    from server.head_office.signing import SignatureError

    with session(ctx, database) as sess:
        try:
            fn = campaigns.publish if action == "publish" else campaigns.withdraw
            result = fn(sess, campaign_id, signing_key(ctx.cfg), actor="cli")
        except (CampaignError, SignatureError) as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
    for store, seq in sorted(result.packs.items()):
        click.echo(f"{store}: pack {seq} {json.dumps(result.audience.get(store, {}))}")
    if notify and result.packs:
        eng = engine(ctx, database)
        try:
            notify_stores(eng, result.packs, wait=True)
        finally:
            eng.dispose()


@head_office.command("publish")
@click.argument("campaign_id", type=int)
@click.option("--no-notify", is_flag=True, help="Do not notify stores; they pull on their schedule.")
@click.option("--database")
@pass_ctx
def publish(ctx: Ctx, campaign_id: int, no_notify: bool, database: str | None) -> None:
    """Publish a campaign: a new version and a signed pack per store."""
    _act(ctx, campaign_id, "publish", not no_notify, database)


@head_office.command("withdraw")
@click.argument("campaign_id", type=int)
@click.option("--no-notify", is_flag=True)
@click.option("--database")
@pass_ctx
def withdraw(ctx: Ctx, campaign_id: int, no_notify: bool, database: str | None) -> None:
    """Withdraw a campaign from every store holding it."""
    _act(ctx, campaign_id, "withdraw", not no_notify, database)


@head_office.command("erase")
@click.argument("member_id", type=click.IntRange(min=1))
@click.option("--no-notify", is_flag=True, help="Do not notify stores; they pull on their schedule.")
@click.option("--database")
@pass_ctx
def erase(ctx: Ctx, member_id: int, no_notify: bool, database: str | None) -> None:
    """Erase a member across the chain: head office's records, its history lake and every store."""
    from server.head_office.feed import erase_everywhere
    from server.head_office.lake import open_lake
    from server.head_office.notify import notify_stores, signing_key
    from server.head_office.signing import SignatureError

    with session(ctx, database) as sess:
        try:
            stores = erase_everywhere(sess, open_lake(ctx.cfg), signing_key(ctx.cfg), member_id, "cli")
        except SignatureError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
    click.echo(f"member {member_id} erased at head office and in its history lake; roster packs for "
               f"{', '.join(stores) or 'no linked store'}")
    if stores and not no_notify:
        eng = engine(ctx, database)
        try:
            notify_stores(eng, stores, wait=True)
        finally:
            eng.dispose()


@head_office.command("preview")
@click.argument("campaign_id", type=int)
@click.option("--database")
@pass_ctx
def preview(ctx: Ctx, campaign_id: int, database: str | None) -> None:
    """Audience size per store, before publishing."""
    from server.head_office.campaigns import preview as preview_fn
    from server.head_office.definition import CampaignError

    with session(ctx, database) as sess:
        try:
            click.echo(json.dumps(preview_fn(sess, campaign_id), indent=2))
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None


@head_office.command("pull")
@pass_ctx
def pull(ctx: Ctx) -> None:
    """On a store: fetch, verify and apply new packs now, then send results (the pack-pull job)."""
    from server.store.packs import pull as pull_fn

    eng = engine(ctx)
    try:
        report = pull_fn(eng, ctx.cfg)
    finally:
        eng.dispose()
    click.echo(json.dumps(report.as_json()))
    if report.error:
        raise click.ClickException(report.error)


@head_office.command("report")
@click.argument("campaign_id", type=int)
@click.option("--database")
@pass_ctx
def report(ctx: Ctx, campaign_id: int, database: str | None) -> None:
    """Audience, redemptions, budget used and lift with its interval, per store."""
    from server.head_office.definition import CampaignError
    from server.head_office.report_text import format_report
    from server.head_office.results import campaign_report

    with session(ctx, database) as sess:
        try:
            click.echo(format_report(campaign_report(sess, campaign_id)))
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None


@head_office.command("demo-campaign")
@click.option("--campaign", "cj_campaign", type=int, default=8, show_default=True,
              help="Complete Journey campaign whose coupon products and window to use.")
@click.option("--households", type=click.IntRange(min=20), default=300, show_default=True)
def demo_campaign(cj_campaign: int, households: int) -> None:
    """Run a campaign on the Complete Journey end to end (in memory) and print its report."""
    from server.head_office.demo import run_demo
    from server.head_office.report_text import format_report

    click.echo(format_report(run_demo(cj_campaign, households, echo=click.echo)))
