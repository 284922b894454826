"""`shopgo`: the group, the store's own commands (database, import, users, devices, cards, the till's
bill, serve, backup, scheduler, purge, offers-build) and the other parts' groups attached. Thin click over
service functions."""
from __future__ import annotations

import datetime as dt
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from server import config as config_mod
from server.cli.base import Ctx, engine, pass_ctx, session


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SHOPGO_CONFIG",
              help="Path of config.toml (default: ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """ShopGo: self-scanning and loyalty for grocery stores."""
    ctx.obj = Ctx(config_path)


# --- database -----------------------------------------------------------------------------
@main.group("db")
def db_group() -> None:
    """Create and migrate the database."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@click.option("--database", help="Database URL (default: database.url from the config).")
@pass_ctx
def db_upgrade(ctx: Ctx, revision: str, database: str | None) -> None:
    """Apply migrations up to REVISION."""
    from db.migrate import upgrade

    upgrade(ctx.url(database), revision)
    click.echo(f"database at {revision}: {ctx.url(database)}")


@db_group.command("downgrade")
@click.argument("revision")
@click.option("--database")
@pass_ctx
def db_downgrade(ctx: Ctx, revision: str, database: str | None) -> None:
    """Undo migrations down to REVISION ('base' empties the schema)."""
    from db.migrate import downgrade

    downgrade(ctx.url(database), revision)
    click.echo(f"database at {revision}")


# --- data import --------------------------------------------------------------------------
@main.group("import")
def import_group() -> None:
    """Load real data into the database."""


@import_group.command("completejourney")
@click.option("--households", type=click.IntRange(min=1), help="Import only the first N households.")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.option("--store", "store_id", help="Store id the history belongs to (default: site.store_id).")
@click.option("--part", default="1/1", show_default=True,
              help="I/N: every N-th household from the I-th, to split the households between N stores.")
@pass_ctx
def import_cj(ctx: Ctx, households: int | None, database: str | None, store_id: str | None, part: str) -> None:
    """Import dunnhumby's Complete Journey: catalogue, members and their year of history (shifted to end yesterday)."""
    try:
        index, count = (int(x) for x in part.split("/"))
    except ValueError:
        raise click.BadParameter(f"{part!r} is not I/N, such as 1/2", param_hint="--part") from None
    from db.migrate import upgrade
    from server.importer.completejourney import import_completejourney

    url = ctx.url(database)
    upgrade(url)
    cfg = ctx.cfg
    click.echo("reading the Complete Journey data ...")
    with click.progressbar(length=1, label="purchase lines", show_pos=True, show_percent=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        eng = engine(ctx, database)
        try:
            report = import_completejourney(
                eng, store_id=store_id or cfg["site"]["store_id"],
                store_name=cfg["site"]["store_name"], households=households,
                points_per_unit=cfg["loyalty"]["points_per_unit"], tiers=cfg["loyalty"]["tiers"], progress=progress,
                part=(index, count))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--part") from None
        finally:
            eng.dispose()
    click.echo(f"products added {report.products_added:,}; members added {report.members_added:,}; "
               f"households imported {report.households_imported:,} (already there {report.households_skipped:,}); "
               f"baskets {report.purchases_added:,}; lines {report.lines_added:,}; "
               f"history shifted by {report.shift_days} days so the newest basket is yesterday")


@import_group.command("completejourney-campaigns")
@click.option("--database", help="Head office's database URL (default: database.url from the config).")
@pass_ctx
def import_cj_campaigns(ctx: Ctx, database: str | None) -> None:
    """At head office: the Complete Journey's coupon campaigns, audiences and redemptions as past campaigns."""
    from db.migrate import upgrade
    from server.importer.campaigns import import_campaigns

    url = ctx.url(database)
    upgrade(url)
    eng = engine(ctx, database)
    try:
        added, redeemed = import_campaigns(eng)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        eng.dispose()
    click.echo(f"{added} past campaigns added with {redeemed:,} redemptions (campaigns already there are kept); "
               "members head office does not know are left out")


# --- people and devices -------------------------------------------------------------------
@main.group("user")
def user_group() -> None:
    """Console users."""


@user_group.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["staff", "manager", "head_office"]), required=True)
@click.option("--store", "store_id", help="The user's store (required for staff and managers).")
@click.password_option("--password", help="Password (prompted when not given).")
@click.option("--database")
@pass_ctx
def user_add(ctx: Ctx, username: str, role: str, store_id: str | None, password: str, database: str | None) -> None:
    """Create a staff, manager or head-office user."""
    from server.auth.accounts import AccountError, add_user

    with session(ctx, database) as sess:
        try:
            user = add_user(sess, username, password, role, store_id)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(f"user {user.username} ({user.role}) created")


@main.group("device")
def device_group() -> None:
    """Handheld scanners and tills."""


@device_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["handheld", "till"]), default="handheld", show_default=True,
              help="A handheld acts on its own trips; a till checks out and audits its store's trips.")
@click.option("--store", "store_id", help="Store the device belongs to (default: site.store_id).")
@click.option("--database")
@pass_ctx
def device_add(ctx: Ctx, name: str, role: str, store_id: str | None, database: str | None) -> None:
    """Register a device and print its token once (it is stored hashed)."""
    from server.auth.accounts import AccountError, add_device, ensure_store

    with session(ctx, database) as sess:
        try:
            ensure_store(sess, store_id or ctx.cfg["site"]["store_id"], ctx.cfg["site"]["store_name"])
            device, token = add_device(sess, store_id or ctx.cfg["site"]["store_id"], name, role)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(f"{device.role} {device.id} ({device.name}) registered; token (shown once, keep it safe):")
        click.echo(token)


@device_group.command("list")
@click.option("--store", "store_id", help="Store whose devices to list (default: site.store_id).")
@click.option("--database")
@pass_ctx
def device_list(ctx: Ctx, store_id: str | None, database: str | None) -> None:
    """List the store's devices: id, name, role, last seen, revoked."""
    from server.auth.accounts import find_devices

    with session(ctx, database) as sess:
        devices = find_devices(sess, store_id or ctx.cfg["site"]["store_id"])
        click.echo(f"{'id':>5}  {'name':<24} {'role':<8} {'last seen (UTC)':<17} revoked")
        for d in devices:
            seen = d.last_seen_at.strftime("%Y-%m-%d %H:%M") if d.last_seen_at else "never"
            gone = d.revoked_at.strftime("%Y-%m-%d %H:%M") if d.revoked_at else "-"
            click.echo(f"{d.id:>5}  {d.name:<24} {d.role:<8} {seen:<17} {gone}")


@device_group.command("revoke")
@click.argument("name")
@click.option("--store", "store_id", help="Store the device belongs to (default: site.store_id).")
@click.option("--database")
@pass_ctx
def device_revoke(ctx: Ctx, name: str, store_id: str | None, database: str | None) -> None:
    """Revoke a device (by name or id): its token is refused from its next request on."""
    from server.auth.accounts import AccountError, revoke_named_device

    with session(ctx, database) as sess:
        try:
            device = revoke_named_device(sess, store_id or ctx.cfg["site"]["store_id"], name)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        sess.commit()
        click.echo(f"{device.role} {device.id} ({device.name}) revoked; its token is refused from now on")


@main.group("card")
def card_group() -> None:
    """Loyalty cards."""


@card_group.command("print")
@click.argument("member")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="var/cards", show_default=True)
@click.option("--database")
@pass_ctx
def card_print(ctx: Ctx, member: str, out_dir: str, database: str | None) -> None:
    """Write MEMBER's card barcode (id or card number) as SVG and PNG."""
    from server.store.cards import CardError, find_member, write_card

    with session(ctx, database) as sess:
        try:
            m = find_member(sess, member)
        except CardError as exc:
            raise click.ClickException(str(exc)) from None
        for path in write_card(m.card_number, Path(out_dir)):
            click.echo(str(path))


@main.group("till")
def till_group() -> None:
    """The till, from a shell (a POS calls GET /api/v1/till/<code> instead)."""


@till_group.command("bill")
@click.argument("code")
@click.option("--database")
@pass_ctx
def till_bill(ctx: Ctx, code: str, database: str | None) -> None:
    """The bill for exit CODE: lines, differences from the handheld and why, what waits before payment."""
    from server.auth.actors import Actor
    from server.errors import ApiError
    from server.store.till import till_bill as bill_of
    from shop.money import format_money

    site = ctx.cfg["site"]

    def money(minor: int | None) -> str:
        return format_money(minor, site["currency"], int(site["currency_exponent"]))

    with session(ctx, database) as sess:
        try:
            bill = bill_of(sess, code, Actor(str(site["store_id"])), ctx.cfg)
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
    if bill.get("receipt"):
        click.echo(f"trip {bill['trip_id']}: paid {money(bill['receipt']['total_minor'])}")
        return
    for line in bill["lines"]:
        amount = f"{line['weight_g'] / 1000:.3f} kg" if line["weight_g"] else f"{line['quantity']} x"
        click.echo(f"{line['name'][:40]:40} {amount:>10} {money(line['net_minor']):>10}")
    click.echo(f"{'TOTAL':40} {'':>10} {money(bill['total_minor']):>10}")
    if bill["handheld_total_minor"] is not None:
        click.echo(f"the handheld showed {money(bill['handheld_total_minor'])}")
    for d in bill["differences"]:
        click.echo(f"  differs: {d['name']}: {d['why']}")
    click.echo("ready to pay" if bill["ready"] else f"before payment: {' and '.join(bill['waiting_for'])}")


# --- running ------------------------------------------------------------------------------
@main.command("server")
@click.option("--bind", help="HOST:PORT (default: server.bind).")
@pass_ctx
def server_cmd(ctx: Ctx, bind: str | None) -> None:
    """Run the development server (production: gunicorn server.wsgi:app)."""
    from server.app import create_app

    host, port = (bind or ctx.cfg["server"]["bind"]).rsplit(":", 1)
    app = create_app(config_path=ctx.config_path)
    click.echo(f"ShopGo {ctx.cfg['site']['role']} server on http://{host}:{port}/  (health: /healthz)")
    app.run(host=host, port=int(port), threaded=True, use_reloader=False)


@main.command("backup")
@click.option("--out", "out", type=click.Path(), default="var/backups", show_default=True,
              help="A folder (a timestamped file is made in it) or a file path.")
@click.option("--database")
@pass_ctx
def backup_cmd(ctx: Ctx, out: str, database: str | None) -> None:
    """Back up the live SQLite database, online and consistent."""
    from server.store.backup import BackupError, backup

    with click.progressbar(length=1, label="copying pages") as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        try:
            report = backup(ctx.url(database), Path(out), progress)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"backup {report.path} ({report.bytes:,} bytes, sha256 {report.sha256[:16]}...)")


@main.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing database (stop the servers first).")
@click.option("--database")
@pass_ctx
def restore_cmd(ctx: Ctx, backup_file: str, force: bool, database: str | None) -> None:
    """Restore the SQLite database from a backup made by `shopgo backup`."""
    from server.store.backup import BackupError, restore

    try:
        counts = restore(Path(backup_file), ctx.url(database), force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {sum(counts.values()):,} rows in {len(counts)} tables")


# --- operations -----------------------------------------------------------------------------
def _cfg(ctx: click.Context, database: str | None = None) -> dict[str, Any]:
    """The configuration `shopgo --config` loaded, with --database applied."""
    root = ctx.find_root().obj
    try:
        cfg = dict(root.cfg) if root is not None else config_mod.load()
    except config_mod.ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    if database:
        cfg["database"] = {**cfg["database"], "url": database}
    return cfg


@main.command("scheduler")
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


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.pass_context
def purge(ctx: click.Context, dry_run: bool, database: str | None) -> None:
    """Remove purchase history older than retention.days (Ctrl-C stops safely; run again to finish)."""
    from db.base import utcnow
    from db.session import make_engine
    from server.config import database_url
    from server.store.retention import purge as purge_history

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


@main.command("offers-build")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Build as of this UTC date, YYYY-MM-DD (default: today).")
@click.option("--database", help="Database URL (default: database.url from the config).")
@click.pass_context
def offers_build_cmd(ctx: click.Context, as_of: dt.datetime | None, database: str | None) -> None:
    """Build personal offers now, as the nightly job does (same date twice: same offers).

    A store builds its own from its history, unless it is linked to head office, which then sends
    them; head office runs the engine over the chain's lake on Dask, keeps campaign scores and
    profiles for targeting, and signs each store an offers pack."""
    from db.session import make_engine, make_session_factory
    from server.config import database_url
    from server.offers.build import build_store_offers
    from server.store.personal_offers import as_of_for

    cfg = _cfg(ctx, database)
    day = as_of.date() if as_of else dt.datetime.now(dt.timezone.utc).date()
    head_office = cfg["site"]["role"] == "head_office"
    if not head_office and cfg["server"]["head_office_url"]:
        click.echo("this store is linked to head office (server.head_office_url), which sends its members' "
                   "personal offers in offers packs; nothing built here")
        return
    eng = make_engine(database_url(cfg))
    try:
        with make_session_factory(eng)() as sess:
            if head_office:
                from server.head_office.notify import signing_key
                from server.head_office.scoring import run_configured

                result = run_configured(sess, cfg, signing_key(cfg), as_of_for(day),
                                        progress=lambda step: click.echo(f"... {step}", err=True))
                sess.commit()
                click.echo(f"chain offers as of {day}: {result.summary()}")
                return
            report = build_store_offers(sess, cfg, as_of_for(day))
            sess.commit()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        eng.dispose()
    click.echo(f"offers as of {day}: {report.members:,} members ({report.consenting:,} consenting), "
               f"{report.history_lines:,} history lines; {report.offers_written:,} offers written, "
               f"{report.offers_replaced:,} replaced, {report.skipped:,} proposals skipped")


# --- the other parts' commands ----------------------------------------------------------------
def _attach_commands() -> None:
    """The server's own command groups, and those other packages declare under the entry point
    group `shopgo.commands` (pyproject.toml): `shopgo handheld` is the handheld's, and the server
    names it nowhere."""
    from firmware_bridge.cli import scanner
    from server.cli.chain import chain
    from server.demo import demo
    from server.head_office.cli import head_office
    from server.offers.cli import offers
    from server.simulate.cli import simulate

    for command in (scanner, offers, demo, simulate, head_office, chain):
        main.add_command(command)
    for entry in entry_points(group="shopgo.commands"):
        main.add_command(entry.load())


_attach_commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
