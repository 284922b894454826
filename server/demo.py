"""`shopgo demo`: the whole system on one machine with the real Complete Journey data.

Migrates the SQLite database, imports the demo store (idempotent: a second run skips what is
there), makes a demo manager and a handheld token, then starts the store server, the
head-office server, and a handheld whose scanner is a virtual one on a pseudo-terminal fed by
what you type here.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from server import config as config_mod

STORE_BIND = "127.0.0.1:8000"
HEAD_OFFICE_BIND = "127.0.0.1:8001"
HANDHELD_BIND = "127.0.0.1:8080"


def _shopgo() -> list[str]:
    exe = Path(sys.executable).parent / "shopgo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli.main"]


def _tag(url: str) -> str:
    """A short tag of the database, so demo files of different databases never mix."""
    import hashlib

    return hashlib.sha256(url.encode()).hexdigest()[:8]


def demo_credentials(cfg: dict[str, Any], url: str) -> dict[str, str]:
    """The demo manager's password and a handheld token, made once and kept under var/."""
    from db.models import User
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_device, add_user, device_for_token, ensure_store

    path = config_mod.resolve_path(cfg, f"var/demo-credentials-{_tag(url)}.json")
    creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    eng = make_engine(url)
    with make_session_factory(eng)() as sess:
        store_id = cfg["site"]["store_id"]
        if "device_token" in creds and device_for_token(sess, creds["device_token"]) is None:
            del creds["device_token"]
        ensure_store(sess, store_id, cfg["site"]["store_name"])
        if sess.scalar(select(User).where(User.username == "manager")) is None:
            creds["manager_password"] = secrets.token_urlsafe(9)
            add_user(sess, "manager", creds["manager_password"], "manager", store_id)
        if sess.scalar(select(User).where(User.username == "headoffice")) is None:
            creds["headoffice_password"] = secrets.token_urlsafe(9)
            add_user(sess, "headoffice", creds["headoffice_password"], "head_office", None)
        if "device_token" not in creds:
            _, creds["device_token"] = add_device(sess, store_id, "demo-handheld")
        sess.commit()
    eng.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(creds, indent=2))
    path.chmod(0o600)
    return creds


def sample_barcodes(url: str, limit: int = 5) -> dict[str, list[str]]:
    """A member card and some popular products to type into the virtual scanner."""
    from sqlalchemy import func

    from db.models import Member, Product, PurchaseLine
    from db.session import make_engine, make_session_factory

    eng = make_engine(url)
    with make_session_factory(eng)() as sess:
        cards = list(sess.scalars(select(Member.card_number).where(Member.consent_personalisation.is_(True))
                                  .order_by(Member.id).limit(2)))
        # Popular shelf items (not fuel or store services) a shopper would pick up.
        popular = select(PurchaseLine.product_id, func.count().label("n")) \
            .join(Product, Product.id == PurchaseLine.product_id) \
            .where(Product.department.in_(("GROCERY", "PRODUCE", "MEAT-PCKGD", "PASTRY", "DELI"))) \
            .group_by(PurchaseLine.product_id).order_by(func.count().desc()).limit(limit).subquery()
        products = [f"{gtin}  {name}" for gtin, name in sess.execute(
            select(Product.gtin, Product.name).join(popular, popular.c.product_id == Product.id))]
        products = products[:limit]
    eng.dispose()
    return {"cards": cards, "products": products}


def _wait_http(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


@click.command("demo")
@click.option("--households", type=click.IntRange(min=1), help="Import only the first N households (quicker).")
@click.option("--handheld/--no-handheld", default=True, help="Also start a handheld with a virtual scanner.")
@click.option("--head-office/--no-head-office", default=True, help="Also run the head-office role.")
@click.option("--store-bind", default=STORE_BIND, show_default=True, help="HOST:PORT of the store server.")
@click.option("--head-office-bind", default=HEAD_OFFICE_BIND, show_default=True, help="HOST:PORT of head office.")
@click.option("--handheld-bind", default=HANDHELD_BIND, show_default=True, help="HOST:PORT of the handheld display.")
@click.pass_obj
def demo(ctx: Any, households: int | None, handheld: bool, head_office: bool, store_bind: str,
         head_office_bind: str, handheld_bind: str) -> None:
    """Run the demo: real data, store server, head office and a handheld with a virtual scanner."""
    from db.migrate import upgrade
    from db.session import make_engine
    from server.importer.completejourney import import_completejourney

    cfg = ctx.cfg
    url = config_mod.database_url(cfg)
    click.echo(f"database: {url}")
    upgrade(url)
    eng = make_engine(url)
    with click.progressbar(length=1, label="importing the Complete Journey", show_percent=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        report = import_completejourney(eng, store_id=cfg["site"]["store_id"], store_name=cfg["site"]["store_name"],
                                        households=households, points_per_unit=cfg["loyalty"]["points_per_unit"],
                                        tiers=cfg["loyalty"]["tiers"], progress=progress)
    eng.dispose()
    click.echo(f"history: {report.lines_added:,} lines added, {report.households_skipped:,} households already there")
    creds = demo_credentials(cfg, url)
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    children: list[subprocess.Popen[bytes]] = []
    ho_env = _head_office_site(cfg, url, store_bind) if head_office else None
    if ho_env is not None:
        env.update(SHOPGO_SERVER_HEAD_OFFICE_URL=f"http://{head_office_bind}",
                   SHOPGO_SERVER_HEAD_OFFICE_PUBLIC_KEY=ho_env.pop("_public_key"))
        children.append(subprocess.Popen([*_shopgo(), "server", "--bind", head_office_bind], env=ho_env))
    children.append(subprocess.Popen([*_shopgo(), "server", "--bind", store_bind], env=env))
    if not _wait_http(f"http://{store_bind}/healthz"):
        click.echo("the store server did not come up; see its log above", err=True)
    scanner = None
    if handheld:
        scanner = _start_handheld(creds["device_token"], children, env,
                                  str(config_mod.resolve_path(cfg, f"var/handheld-demo-{_tag(url)}")),
                                  store_bind, handheld_bind)
    if ho_env is not None and not _wait_http(f"http://{head_office_bind}/healthz"):
        click.echo("the head-office server did not come up; see its log above", err=True)
    _print_welcome(creds, sample_barcodes(url), scanner is not None, store_bind, handheld_bind,
                   head_office_bind if ho_env is not None else None)
    try:
        _feed_scanner(scanner)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if scanner is not None:
            scanner.close()


def _head_office_site(cfg: dict[str, Any], url: str, store_bind: str) -> dict[str, str] | None:
    """Head office on its own database (a chain-wide copy of the store's), linked to the store.

    Returns the head-office process environment (and the public key the store must trust),
    or None when the store database is not SQLite.
    """
    from server.head_office.compiler import add_store, rotate_token
    from server.head_office.signing import generate_key, load_private_key, public_key_b64
    from server.store.packs import set_head_office_token

    if not url.startswith("sqlite:///"):
        click.echo("(head office in the demo needs the embedded SQLite database; skipped)")
        return None
    from db.migrate import upgrade
    from db.models import StoreLink
    from db.session import make_engine, make_session_factory
    from server.store.backup import backup

    tag = _tag(url)
    ho_file = config_mod.resolve_path(cfg, f"var/head-office-demo-{tag}.db")
    key_file = config_mod.resolve_path(cfg, f"var/head-office-demo-{tag}.pem")
    if not ho_file.exists():
        backup(url, ho_file)  # head office holds a chain-wide copy of members and history
    ho_url = f"sqlite:///{ho_file}"
    upgrade(ho_url)
    key = load_private_key(key_file) if key_file.exists() else generate_key(key_file)
    store_id = cfg["site"]["store_id"]
    ho_eng, store_eng = make_engine(ho_url), make_engine(url)
    with make_session_factory(ho_eng)() as ho, make_session_factory(store_eng)() as store:
        if ho.get(StoreLink, store_id) is None:
            _, token = add_store(ho, store_id, cfg["site"]["store_name"], f"http://{store_bind}")
        else:
            token = rotate_token(ho, store_id)
        link = ho.get(StoreLink, store_id)
        assert link is not None
        link.url = f"http://{store_bind}"
        set_head_office_token(store, token, cfg)
        ho.commit()
        store.commit()
    ho_eng.dispose()
    store_eng.dispose()
    return {**os.environ, "SHOPGO_SITE_ROLE": "head_office", "SHOPGO_SITE_STORE_ID": "HQ",
            "SHOPGO_DATABASE_URL": ho_url, "SHOPGO_HEAD_OFFICE_KEY_FILE": str(key_file), "PYTHONUNBUFFERED": "1",
            "_public_key": public_key_b64(key)}


def _start_handheld(token: str, children: list[subprocess.Popen[bytes]], env: dict[str, str], data_dir: str,
                    store_bind: str, handheld_bind: str) -> Any:
    from firmware_bridge.virtual import VirtualScanner

    scanner = VirtualScanner(protocol="raw", aim=False)  # as the default scanner profile expects
    device_path = scanner.open()
    children.append(subprocess.Popen([*_shopgo(), "handheld", "--scanner", device_path, "--protocol", "raw",
                                      "--server", f"http://{store_bind}", "--data-dir", data_dir,
                                      "--http", handheld_bind],
                                     env={**env, "SHOPGO_HANDHELD_TOKEN": token}))  # not the command line `ps` shows
    _wait_http(f"http://{handheld_bind}/api/state")
    return scanner


def _print_welcome(creds: dict[str, str], samples: dict[str, list[str]], with_handheld: bool,
                   store_bind: str, handheld_bind: str, head_office_bind: str | None) -> None:
    click.echo("\nShopGo demo is running:")
    click.echo(f"  store server + staff console  http://{store_bind}/   (manager / {creds.get('manager_password', '?')})")
    click.echo(f"  health                        http://{store_bind}/healthz")
    if head_office_bind:
        click.echo(f"  head-office console           http://{head_office_bind}/head-office/campaigns   "
                   f"(headoffice / {creds.get('headoffice_password', '?')})")
    if with_handheld:
        click.echo(f"  handheld display              http://{handheld_bind}/")
        click.echo("\nType a barcode and Enter to scan it with the virtual scanner. Try a card first:")
        for card in samples["cards"]:
            click.echo(f"  card     {card}")
        for line in samples["products"]:
            click.echo(f"  product  {line}")
    click.echo("\nCtrl-C stops everything.")


def _feed_scanner(scanner: Any) -> None:
    """Send each line typed (or piped) to the virtual scanner; after end of input keep running."""
    if scanner is not None:
        for line in sys.stdin:
            code = line.strip().split()[0] if line.strip() else ""
            if code:
                scanner.scan(code)
    while True:
        time.sleep(3600)
