"""`shopgo`: the one command a person runs. Thin click functions over service functions."""
from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import click

from server import config as config_mod

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class Ctx:
    """What every command shares: the configuration, loaded once."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._cfg: dict[str, Any] | None = None

    @property
    def cfg(self) -> dict[str, Any]:
        if self._cfg is None:
            try:
                self._cfg = config_mod.load(self.config_path)
            except config_mod.ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}. Fix config.toml or the SHOPGO_... variable.") from None
        return self._cfg

    def url(self, override: str | None = None) -> str:
        return override or config_mod.database_url(self.cfg)


pass_ctx = click.make_pass_decorator(Ctx)


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="SHOPGO_CONFIG",
              help="Path of config.toml (default: ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """ShopGo: self-scanning and loyalty for grocery stores."""
    ctx.obj = Ctx(config_path)


def _engine(ctx: Ctx, database: str | None = None):  # type: ignore[no-untyped-def]
    from db.session import make_engine

    return make_engine(ctx.url(database))


@contextmanager
def _session(ctx: Ctx, database: str | None = None) -> Iterator[Session]:
    """A session whose engine is disposed when the command is done with it."""
    from db.session import make_session_factory

    eng = _engine(ctx, database)
    try:
        with make_session_factory(eng)() as sess:
            yield sess
    finally:
        eng.dispose()


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
@pass_ctx
def import_cj(ctx: Ctx, households: int | None, database: str | None, store_id: str | None) -> None:
    """Import dunnhumby's Complete Journey: catalogue, members and two years of history."""
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

        eng = _engine(ctx, database)
        try:
            report = import_completejourney(
                eng, store_id=store_id or cfg["site"]["store_id"],
                store_name=cfg["site"]["store_name"], households=households,
                points_per_unit=cfg["loyalty"]["points_per_unit"], tiers=cfg["loyalty"]["tiers"], progress=progress)
        finally:
            eng.dispose()
    click.echo(f"products added {report.products_added:,}; members added {report.members_added:,}; "
               f"households imported {report.households_imported:,} (already there {report.households_skipped:,}); "
               f"baskets {report.purchases_added:,}; lines {report.lines_added:,}; "
               f"history shifted by {report.shift_days} days so the newest basket is yesterday")


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
    from server.accounts import AccountError, add_user

    with _session(ctx, database) as sess:
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
    from server.accounts import AccountError, add_device, ensure_store

    with _session(ctx, database) as sess:
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
    from server.accounts import find_devices

    with _session(ctx, database) as sess:
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
    from server.accounts import AccountError, revoke_named_device

    with _session(ctx, database) as sess:
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
    from server.cards import CardError, find_member, write_card

    with _session(ctx, database) as sess:
        try:
            m = find_member(sess, member)
        except CardError as exc:
            raise click.ClickException(str(exc)) from None
        for path in write_card(m.card_number, Path(out_dir)):
            click.echo(str(path))


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
    from server.backup import BackupError, backup

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
    from server.backup import BackupError, restore

    try:
        counts = restore(Path(backup_file), ctx.url(database), force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {sum(counts.values()):,} rows in {len(counts)} tables")


def _add_optional(group: click.Group, module: str, attr: str) -> None:
    """Attach a subcommand group from a package when it is present in this build."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return
        raise
    group.add_command(getattr(mod, attr))


for _module, _attr in (("firmware_bridge.cli", "scanner"), ("server.offers.cli", "offers"),
                       ("handheld.cli", "handheld"), ("server.ops_cli", "scheduler"), ("server.ops_cli", "purge"),
                       ("server.demo", "demo"),
                       ("server.ops_cli", "offers_build_cmd"),
                       ("server.simulate.cli", "simulate"),
                       ("server.head_office.cli", "head_office"),):
    _add_optional(main, _module, _attr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
