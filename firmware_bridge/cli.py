"""`shopgo scanner ...`: a click group over plain functions (listen to a scanner, be a scanner).

The main CLI adds it with `cli.add_command(scanner)`. Settings come from the click
context object (see `settings_from`): a `Settings`, or the parsed config.toml the
shopgo CLI keeps as `ctx.obj.cfg`; otherwise `default_settings()`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

import click

from .bridge import ScannerBridge
from .interpret import Scan
from .settings import PROTOCOLS, Settings, default_settings
from .virtual import VirtualScanner

JSON_FIELDS = ("data", "symbology", "kind", "gtin", "price_minor", "weight_g", "error")


def settings_from(obj: Any) -> Settings:
    """Find firmware_bridge Settings in a click context object, else the defaults.

    Accepted: a Settings; a mapping or object holding one as "settings"; a parsed
    config.toml as a mapping or as the object's `cfg` (the shopgo CLI's context).
    """
    if isinstance(obj, Settings):
        return obj
    candidate = obj.get("settings") if isinstance(obj, Mapping) else getattr(obj, "settings", None)
    if isinstance(candidate, Settings):
        return candidate
    cfg = obj if isinstance(obj, Mapping) else getattr(obj, "cfg", None)
    if isinstance(cfg, Mapping) and ("scanner" in cfg or "barcodes" in cfg):
        try:
            return Settings.from_dict(cfg)
        except ValueError as exc:
            raise click.ClickException(f"configuration: {exc}") from None
    return default_settings()


def scan_json(scan: Scan) -> str:
    """Return the one-line JSON a technician (or a script) reads for a scan."""
    return json.dumps({k: getattr(scan, k) for k in JSON_FIELDS}, ensure_ascii=False)


def scan_text(scan: Scan) -> str:
    """Return a short human-readable line for a scan."""
    extra = []
    if scan.gtin:
        extra.append(f"gtin {scan.gtin}")
    if scan.price_minor is not None:
        extra.append(f"price {scan.price_minor}p")
    if scan.weight_g is not None:
        extra.append(f"weight {scan.weight_g} g")
    if scan.error:
        extra.append(f"error: {scan.error}")
    return f"{scan.kind:<12} {scan.symbology:<12} {scan.data!r} " + ", ".join(extra)


def listen(
    settings: Settings,
    port: str,
    protocol: str,
    profile_name: str,
    as_json: bool,
    out: TextIO,
    stop: threading.Event,
    max_scans: int | None = None,
) -> int:
    """Print every scan from `port` until `stop` is set (or `max_scans` arrive); return the count."""
    profile = settings.scanner.profiles[profile_name]
    count = 0
    lock = threading.Lock()

    def on_scan(scan: Scan) -> bool:
        nonlocal count
        with lock:
            out.write((scan_json(scan) if as_json else scan_text(scan)) + "\n")
            out.flush()
            count += 1
            if max_scans is not None and count >= max_scans:
                stop.set()
        return scan.kind != "invalid"  # good-read beep for anything readable

    def on_status(message: str) -> None:
        click.echo(message, err=True)

    bridge = ScannerBridge(port, protocol, profile, settings.barcodes, on_scan, on_status,
                           reconnect_initial=settings.scanner.reconnect_initial,
                           reconnect_max=settings.scanner.reconnect_max)
    with bridge:
        while not stop.wait(0.2):
            pass
    return count


def replay_lines(lines: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """Yield (barcode, symbology or None) from replay/stdin lines.

    A line is `DATA` or `DATA<TAB>SYMBOLOGY`; `<GS>` stands for the GS1 separator;
    blank lines and `#` comments are skipped; `!unplug`, `!replug`, `!sleep SECONDS`
    are passed through as commands (symbology "!").
    """
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("!"):
            yield line[1:].strip(), "!"
            continue
        data, _, symbology = line.partition("\t")
        yield data.strip().replace("<GS>", "\x1d"), (symbology.strip() or None)


def run_virtual(
    scanner_: VirtualScanner, lines: Iterable[str], delay: float, out: TextIO
) -> int:
    """Emit a read for every replay line on an open virtual scanner; return reads sent."""
    sent = 0
    for data, symbology in replay_lines(lines):
        if symbology == "!":
            verb, _, arg = data.partition(" ")
            if verb == "unplug":
                scanner_.unplug()
            elif verb == "replug":
                out.write(f"device: {scanner_.replug()}\n")
            elif verb == "sleep":
                time.sleep(float(arg or 1))
            continue
        ok = scanner_.scan(data, symbology)
        sent += ok
        out.write(("sent " if ok else "not sent (scanning disabled or unplugged) ") + repr(data) + "\n")
        out.flush()
        if delay:
            time.sleep(delay)
    return sent


@click.group(name="scanner")
def scanner() -> None:
    """Barcode scanner tools: listen to a scanner, or be a virtual one."""


@scanner.command("listen")
@click.option("--port", help="Device path or pyserial URL (default: [scanner] port).")
@click.option("--protocol", type=click.Choice(PROTOCOLS), help="Default: [scanner] protocol.")
@click.option("--profile", "profile_name", help="A [scanner.profiles.NAME] (default: [scanner] profile).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per scan.")
@click.option("--count", type=int, default=None, help="Stop after this many scans.")
@click.pass_context
def listen_command(ctx: click.Context, port: str | None, protocol: str | None,
                   profile_name: str | None, as_json: bool, count: int | None) -> None:
    """Print every scan a scanner sends (and acknowledge it); Ctrl-C to stop."""
    settings = settings_from(ctx.obj)
    sc = settings.scanner
    profile_name = profile_name or sc.profile
    if profile_name not in sc.profiles:
        raise click.BadParameter(f"no profile {profile_name!r}; known: {', '.join(sorted(sc.profiles))}", param_hint="--profile")
    try:
        listen(settings, port or sc.port, protocol or sc.protocol, profile_name, as_json,
               sys.stdout, threading.Event(), count)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except KeyboardInterrupt:
        pass


@scanner.command("virtual")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="raw", show_default=True)
@click.option("--aim", is_flag=True, help="Put an AIM symbology identifier before each read (raw).")
@click.option("--replay", type=click.File("r"), help="Barcodes to send, one a line (default: stdin).")
@click.option("--delay", type=float, default=0.0, show_default=True, help="Seconds between reads.")
@click.option("--link", type=click.Path(dir_okay=False), help="Symlink to the device, stable across replugs.")
@click.option("--hold", is_flag=True, help="Keep the device open after the input ends (Ctrl-C to stop).")
def virtual_command(protocol: str, aim: bool, replay: TextIO | None, delay: float,
                    link: str | None, hold: bool) -> None:
    """Open a pseudo-terminal scanner, print its device path and send a read per barcode line."""
    with VirtualScanner(protocol, aim=aim, link=link) as vs:
        click.echo(f"device: {vs.path}")
        sys.stdout.flush()
        try:
            run_virtual(vs, replay if replay is not None else sys.stdin, delay, sys.stdout)
            if protocol == "ssi":
                vs.wait_idle()
            while hold:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
