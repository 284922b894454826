"""`shopgo demo`: a small chain on one machine with the real Complete Journey data.

Migrates the SQLite database and imports the demo store (half the households; idempotent: a
second run skips what is there), makes a demo manager and a handheld token, then starts the
store server, a second store (the other half of the households, its own database and server),
head office linked to both, each store's scheduler (its feed ships every few seconds, after
queueing the store's history once), a handheld whose scanner is a virtual one on a
pseudo-terminal fed by what you type here, and a few simulated shoppers in the first store
(`shopgo simulate shoppers`: real members' baskets, gently paced, paid at a simulated till), so
its live trips, audit queue and dashboard have something today.
"""
from __future__ import annotations

import contextlib
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
STORE_TWO_BIND = "127.0.0.1:8002"
HANDHELD_BIND = "127.0.0.1:8080"
STORE_TWO = "S002"
FEED_SECONDS = "5"  # the demo's stores ship their feed this often (config default: 30)
SHOPPERS = 3
TILL_STAFF = "demo-till-staff"  # the simulated shoppers' colleague at the till (a staff account)


def _shopgo() -> list[str]:
    exe = Path(sys.executable).parent / "shopgo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli.main"]


def demo_tag(url: str) -> str:
    """A short tag of the database, so demo files of different databases never mix."""
    import hashlib

    return hashlib.sha256(url.encode()).hexdigest()[:8]


def demo_credentials(cfg: dict[str, Any], url: str, shoppers: int = 0) -> dict[str, Any]:
    """The demo manager's password and a handheld token, made once and kept under var/; with `shoppers`,
    also a handheld token per simulated shopper, a till's token and its staff member's password."""
    from db.models import User
    from db.session import make_engine, make_session_factory
    from server.auth.accounts import add_device, add_user, device_for_token, ensure_store

    path = config_mod.resolve_path(cfg, f"var/demo-credentials-{demo_tag(url)}.json")
    creds: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
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
        if shoppers:
            _shopper_credentials(sess, creds, store_id, shoppers)
        sess.commit()
    eng.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(creds, indent=2))
    path.chmod(0o600)
    return creds


def _shopper_credentials(sess: Any, creds: dict[str, Any], store_id: str, shoppers: int) -> None:
    """A handheld per simulated shopper, a till and its staff member, kept in `creds` (made once)."""
    from werkzeug.security import generate_password_hash

    from db.models import User
    from server.auth.accounts import add_device, add_user, device_for_token

    tokens = [t for t in creds.get("shopper_tokens", []) if device_for_token(sess, t) is not None]
    while len(tokens) < shoppers:
        tokens.append(add_device(sess, store_id, f"demo-shopper-{len(tokens) + 1}")[1])
    creds["shopper_tokens"] = tokens
    if "till_token" not in creds or device_for_token(sess, creds["till_token"]) is None:
        _, creds["till_token"] = add_device(sess, store_id, "demo-till", "till")
    staff = sess.scalar(select(User).where(User.username == TILL_STAFF))
    if staff is None or "till_staff_password" not in creds:  # new, or its password went with an older file
        creds["till_staff_password"] = secrets.token_urlsafe(12)
        if staff is None:
            add_user(sess, TILL_STAFF, creds["till_staff_password"], "staff", store_id)
        else:
            staff.password_hash = generate_password_hash(creds["till_staff_password"])


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


class Children:
    """The demo's processes. Each writes its log to a file of its own under `folder` (the terminal
    keeps the URLs and what to try); their pids are kept in `folder`/pids, so a re-run after a
    crash (or a kill -9 of the demo) stops what was left instead of finding its ports taken."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def stop_stale(self) -> int:
        """Stop the processes an earlier demo left running; how many there were."""
        pids_file = self.folder / "pids"
        try:
            pids = [int(p) for p in pids_file.read_text().split()]
        except (OSError, ValueError):
            return 0
        stopped = 0
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue  # gone already
            if b"shopgo" not in cmdline:
                continue  # the pid was reused by something else: not ours
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                stopped += 1
        deadline = time.monotonic() + 10
        for pid in pids:
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and not _zombie(pid):
                time.sleep(0.1)
            with contextlib.suppress(ProcessLookupError):
                if Path(f"/proc/{pid}").exists() and not _zombie(pid):
                    os.kill(pid, signal.SIGKILL)
        pids_file.unlink(missing_ok=True)
        return stopped

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `cmd` with its output in `folder`/NAME.log."""
        with open(self.folder / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))
        (self.folder / "pids").write_text("\n".join(str(p.pid) for _, p in self.procs))
        return proc

    def log_of(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def stop(self) -> None:
        """Stop every process started (TERM, then KILL after 10 s) and forget their pids."""
        for _, proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        (self.folder / "pids").unlink(missing_ok=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@click.command("demo")
@click.option("--households", type=click.IntRange(min=1), help="Import only the first N households (quicker).")
@click.option("--handheld/--no-handheld", default=True, help="Also start a handheld with a virtual scanner.")
@click.option("--head-office/--no-head-office", default=True, help="Also run the head-office role.")
@click.option("--store-bind", default=STORE_BIND, show_default=True, help="HOST:PORT of the store server.")
@click.option("--head-office-bind", default=HEAD_OFFICE_BIND, show_default=True, help="HOST:PORT of head office.")
@click.option("--store-two-bind", default=STORE_TWO_BIND, show_default=True, help="HOST:PORT of the second store.")
@click.option("--handheld-bind", default=HANDHELD_BIND, show_default=True, help="HOST:PORT of the handheld display.")
@click.option("--shoppers", type=click.IntRange(0, 20), default=SHOPPERS, show_default=True,
              help="Simulated shoppers in the first store (real members' baskets, paid at a simulated till); 0: none.")
@click.pass_obj
def demo(ctx: Any, households: int | None, handheld: bool, head_office: bool, store_bind: str,
         head_office_bind: str, store_two_bind: str, handheld_bind: str, shoppers: int) -> None:
    """Run the demo: real data, two stores and head office linked by their feeds, a handheld with a virtual scanner."""
    from db.migrate import upgrade
    from db.session import make_engine
    from server.importer.completejourney import import_completejourney

    cfg = ctx.cfg
    url = config_mod.database_url(cfg)
    # the Complete Journey is American: its prices are dollars (and its sizes pounds and ounces)
    os.environ.setdefault("SHOPGO_SITE_CURRENCY", "USD")
    children = Children(Path(str(config_mod.resolve_path(cfg, f"var/demo-{demo_tag(url)}-logs"))))
    signal.signal(signal.SIGTERM, _interrupt)  # a TERM stops the children too, as Ctrl-C does
    if stale := children.stop_stale():
        click.echo(f"stopped {stale} process{'es' if stale != 1 else ''} an earlier demo left running")
    click.echo(f"database: {url}")
    upgrade(url)
    eng = make_engine(url)
    with click.progressbar(length=1, label="importing the Complete Journey", show_percent=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        report = import_completejourney(eng, store_id=cfg["site"]["store_id"], store_name=cfg["site"]["store_name"],
                                        households=households, points_per_unit=cfg["loyalty"]["points_per_unit"],
                                        tiers=cfg["loyalty"]["tiers"], progress=progress,
                                        part=(1, 2) if head_office else (1, 1))
    eng.dispose()
    click.echo(f"history: {report.lines_added:,} lines added, {report.households_skipped:,} households already there")
    creds = demo_credentials(cfg, url, shoppers)
    env = {**os.environ, "SHOPGO_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    ho_env = _head_office_site(cfg, url, store_bind) if head_office else None
    stores = [(cfg["site"]["store_id"], env, store_bind)]
    if ho_env is not None:
        public_key = ho_env.pop("_public_key")
        env.update(SHOPGO_SERVER_HEAD_OFFICE_URL=f"http://{head_office_bind}",
                   SHOPGO_SERVER_HEAD_OFFICE_PUBLIC_KEY=public_key, SHOPGO_SCHEDULER_FEED_SECONDS=FEED_SECONDS)
        two_env = _store_two(cfg, url, households, ho_env["SHOPGO_DATABASE_URL"], store_two_bind)
        two_env.update(SHOPGO_SERVER_HEAD_OFFICE_URL=f"http://{head_office_bind}",
                       SHOPGO_SERVER_HEAD_OFFICE_PUBLIC_KEY=public_key, SHOPGO_SCHEDULER_FEED_SECONDS=FEED_SECONDS)
        stores.append((STORE_TWO, two_env, store_two_bind))
        children.start("head-office", [*_shopgo(), "server", "--bind", head_office_bind], ho_env)
        for store_id, store_env, _ in stores:  # each store queues its history once; its scheduler ships it
            queued = _queue_history(store_env["SHOPGO_DATABASE_URL"], store_id)
            click.echo(f"{store_id}: {queued} for head office")
            children.start(f"{store_id}-scheduler", [*_shopgo(), "scheduler"], store_env)
    for store_id, store_env, bind in stores:
        children.start(f"{store_id}-server", [*_shopgo(), "server", "--bind", bind], store_env)
    if not _wait_http(f"http://{store_bind}/healthz"):
        click.echo(f"the store server did not come up; see {children.log_of(cfg['site']['store_id'] + '-server')}",
                   err=True)
    scanner = None
    samples = sample_barcodes(url)
    if handheld:
        scanner = _start_handheld(creds["device_token"], children, env,
                                  str(config_mod.resolve_path(cfg, f"var/handheld-demo-{demo_tag(url)}")),
                                  store_bind, handheld_bind, samples)
    if shoppers:
        _start_shoppers(creds, shoppers, children, env,
                        str(config_mod.resolve_path(cfg, f"var/demo-shoppers-{demo_tag(url)}")), store_bind)
    if ho_env is not None and not _wait_http(f"http://{head_office_bind}/healthz"):
        click.echo(f"the head-office server did not come up; see {children.log_of('head-office')}", err=True)
    _print_welcome(creds, samples, scanner is not None, store_bind, handheld_bind,
                   head_office_bind if ho_env is not None else None, store_two_bind if ho_env is not None else None,
                   shoppers)
    click.echo(f"Logs of every process: {children.folder}/")
    try:
        _feed_scanner(scanner)
    finally:
        children.stop()
        if scanner is not None:
            scanner.close()


def _head_office_site(cfg: dict[str, Any], url: str, store_bind: str) -> dict[str, str] | None:
    """Head office on its own database, linked to the store. It starts as a copy of the store's (its
    members, from before the first feed) with the Complete Journey's coupon campaigns and their
    redemptions as past campaigns; the stores' feeds fill its history lake, which the offers run
    (`shopgo offers-build` at head office) reads, and keep its members current.

    Returns the head-office process environment (and the public key the store must trust),
    or None when the store database is not SQLite.
    """
    from server.head_office.compiler import add_store, rotate_token
    from server.head_office.signing import generate_key, load_private_key, public_key_b64
    from server.importer.campaigns import import_campaigns
    from server.store.packs import set_head_office_token

    if not url.startswith("sqlite:///"):
        click.echo("(head office in the demo needs the embedded SQLite database; skipped)")
        return None
    from db.migrate import upgrade
    from db.models import StoreLink
    from db.session import make_engine, make_session_factory
    from server.store.backup import backup

    tag = demo_tag(url)
    ho_file = config_mod.resolve_path(cfg, f"var/head-office-demo-{tag}.db")
    key_file = config_mod.resolve_path(cfg, f"var/head-office-demo-{tag}.pem")
    if not ho_file.exists():
        backup(url, ho_file)  # head office holds a chain-wide copy of members and history
    ho_url = f"sqlite:///{ho_file}"
    upgrade(ho_url)
    key = load_private_key(key_file) if key_file.exists() else generate_key(key_file)
    store_id = cfg["site"]["store_id"]
    ho_eng, store_eng = make_engine(ho_url), make_engine(url)
    added, redeemed = import_campaigns(ho_eng)
    if added:
        click.echo(f"head office: {added} Complete Journey campaigns with {redeemed:,} redemptions as past campaigns")
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
            "SHOPGO_CHAIN_LAKE": str(config_mod.resolve_path(cfg, f"var/head-office-demo-{tag}-lake")),
            "_public_key": public_key_b64(key)}


def _store_two(cfg: dict[str, Any], url: str, households: int | None, ho_url: str, bind: str) -> dict[str, str]:
    """The chain's second store: its own database (the other half of the households), linked to head office."""
    from db.migrate import upgrade
    from db.models import StoreLink
    from db.session import make_engine, make_session_factory
    from server.head_office.compiler import add_store, rotate_token
    from server.importer.completejourney import import_completejourney
    from server.store.packs import set_head_office_token

    two_url = f"sqlite:///{config_mod.resolve_path(cfg, f'var/store-two-demo-{demo_tag(url)}.db')}"
    upgrade(two_url)
    two_eng, ho_eng = make_engine(two_url), make_engine(ho_url)
    with click.progressbar(length=1, label=f"importing store {STORE_TWO}'s households", show_percent=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        import_completejourney(two_eng, store_id=STORE_TWO, store_name="ShopGo Demo Store Two", households=households,
                               points_per_unit=cfg["loyalty"]["points_per_unit"], tiers=cfg["loyalty"]["tiers"],
                               progress=progress, part=(2, 2))
    with make_session_factory(ho_eng)() as ho, make_session_factory(two_eng)() as two:
        token = rotate_token(ho, STORE_TWO) if ho.get(StoreLink, STORE_TWO) else \
            add_store(ho, STORE_TWO, "ShopGo Demo Store Two", f"http://{bind}")[1]
        set_head_office_token(two, token, cfg)
        ho.commit()
        two.commit()
    two_eng.dispose()
    ho_eng.dispose()
    return {**os.environ, "SHOPGO_DATABASE_URL": two_url, "SHOPGO_SITE_STORE_ID": STORE_TWO,
            "SHOPGO_SITE_STORE_NAME": "ShopGo Demo Store Two", "PYTHONUNBUFFERED": "1"}


def _queue_history(url: str, store_id: str) -> str:
    """Queue the store's history and members for head office once (`shopgo chain backfill --no-ship`)."""
    from db.session import make_engine, make_session_factory
    from server.store.chain_feed import backfill, backfill_total

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as sess:
            members, purchases = backfill_total(sess)
            with click.progressbar(length=max(members + purchases, 1), label=f"{store_id}: queueing its history",
                                   show_percent=True) as bar:
                done = backfill(sess, progress=lambda n, _: bar.update(n - bar.pos))
    finally:
        eng.dispose()
    return f"{done[0]:,} members and {done[1]:,} purchases queued" if any(done) else "history already queued"


def _start_handheld(token: str, children: Children, env: dict[str, str], data_dir: str,
                    store_bind: str, handheld_bind: str, samples: dict[str, list[str]]) -> Any:
    from firmware_bridge.virtual import VirtualScanner

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    samples_file = Path(data_dir) / "demo-samples.json"  # the page's demo scanner shows these as buttons
    samples_file.write_text(json.dumps({"cards": samples["cards"], "products": [
        line.split(None, 1) for line in samples["products"]]}), encoding="utf-8")

    scanner = VirtualScanner(protocol="raw", aim=False)  # as the default scanner profile expects
    device_path = scanner.open()
    children.start("handheld", [*_shopgo(), "handheld", "--scanner", device_path, "--protocol", "raw",
                                "--server", f"http://{store_bind}", "--data-dir", data_dir, "--http", handheld_bind,
                                "--demo-samples", str(samples_file)],
                   {**env, "SHOPGO_HANDHELD_TOKEN": token})  # not the command line `ps` shows
    _wait_http(f"http://{handheld_bind}/api/state")
    return scanner


def _start_shoppers(creds: dict[str, Any], shoppers: int, children: Children, env: dict[str, str], data_dir: str,
                    store_bind: str) -> None:
    """`shopgo simulate shoppers` in the first store; its tokens and password travel in the environment."""
    children.start("shoppers", [*_shopgo(), "simulate", "shoppers", "--store-url", f"http://{store_bind}",
                                "--shoppers", str(shoppers), "--data-dir", data_dir, "--staff-user", TILL_STAFF,
                                "--seed", str(secrets.randbelow(10**6))],  # other members each run
                   {**env, "SHOPGO_SHOPPERS_TOKENS": ",".join(creds["shopper_tokens"][:shoppers]),
                    "SHOPGO_SHOPPERS_TILL_TOKEN": creds["till_token"],
                    "SHOPGO_SHOPPERS_STAFF_PASSWORD": creds["till_staff_password"]})


def _print_welcome(creds: dict[str, Any], samples: dict[str, list[str]], with_handheld: bool,
                   store_bind: str, handheld_bind: str, head_office_bind: str | None,
                   store_two_bind: str | None = None, shoppers: int = 0) -> None:
    click.echo("\nShopGo demo is running:")
    click.echo(f"  store server + staff console  http://{store_bind}/   (manager / {creds.get('manager_password', '?')})")
    click.echo(f"  health (with its feed's lag)  http://{store_bind}/healthz")
    if head_office_bind:
        click.echo(f"  head-office console           http://{head_office_bind}/head-office/campaigns   "
                   f"(headoffice / {creds.get('headoffice_password', '?')})")
        click.echo(f"  the chain: members, sales     http://{head_office_bind}/head-office/chain   "
                   f"(the stores' feeds: /head-office/stores)")
    if store_two_bind:
        click.echo(f"  second store {STORE_TWO}             http://{store_two_bind}/healthz   "
                   "(a card of either store works in both)")
    if with_handheld:
        click.echo(f"  handheld display              http://{handheld_bind}/")
        click.echo("\nScan from the handheld page's demo scanner (buttons for the samples below), or type a barcode")
        click.echo("here and press Enter: it goes through the virtual scanner. Try a card first:")
        for card in samples["cards"]:
            click.echo(f"  card     {card}")
        for line in samples["products"]:
            click.echo(f"  product  {line}")
        click.echo(f"\nThen press Finish on the handheld page and pay at the till: sign in to the staff console, open "
                   f"Till (http://{store_bind}/staff/till) and paste the code printed under the QR code.")
    if shoppers:
        click.echo(f"\n{shoppers} simulated shopper{'s are' if shoppers != 1 else ' is'} in the store: real members' "
                   "baskets, a scan every few seconds, then the till\n(rescans, age checks, payment). Watch them in "
                   f"the staff console: Live trips http://{store_bind}/staff/trips,\nthe audit queue /staff/audits, "
                   "the dashboard /staff/. `shopgo demo --shoppers 0` runs the demo without them.")
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
