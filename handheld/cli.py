"""`shopgo handheld`: run the shopper's device (scanner, trip, sync, display) until stopped."""
from __future__ import annotations

import json
import logging
import re
import signal
import time
from pathlib import Path
from typing import Any

import click

from shop import config as config_mod


@click.command("handheld")
@click.option("--scanner", "scanner_port", help="Scanner port: device path or pyserial URL (default: [scanner] port).")
@click.option("--protocol", type=click.Choice(["raw", "ssi"]), help="Scanner protocol (default: [scanner] protocol).")
@click.option("--profile", help="Scanner profile name (default: [scanner] profile).")
@click.option("--server", "server_url", help="Store server URL (default: [handheld] server_url).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="A file holding the device token from `shopgo "
              "device add` (default: SHOPGO_HANDHELD_TOKEN or [handheld] token; never the command line, which `ps` shows).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Local event log and caches (default: [handheld] data_dir).")
@click.option("--http", help="HOST:PORT of the shopper display (default: [handheld] http; port 0 picks one).")
@click.option("--no-scanner", is_flag=True, help="Run without a scanner (screen and sync only).")
@click.option("--backoff-max", type=click.FloatRange(0.05, 3600), help="Longest wait between failed syncs, seconds.")
@click.option("--demo-samples", type=click.Path(dir_okay=False, exists=True),
              help="A JSON file of sample cards and products ({\"cards\": [...], \"products\": [[gtin, name], ...]}): "
                   "the display then also takes scans typed or clicked in the browser (the demo).")
@click.pass_context
def handheld(ctx: click.Context, no_scanner: bool, **options: Any) -> None:
    """Run a handheld: scan, keep the trip on disk, sync with the store server, serve the display."""
    from handheld.runtime import HandheldConfig, HandheldRuntime

    config_path = getattr(ctx.find_root().obj, "config_path", None)  # `shopgo --config`; else SHOPGO_CONFIG
    samples_file = options.pop("demo_samples", None)
    if samples_file is not None:
        try:
            options["demo_samples"] = json.loads(Path(samples_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {samples_file}: {exc}", param_hint="--demo-samples") from None
    token_file = options.pop("token_file", None)
    if token_file is not None:
        try:
            options["token"] = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {token_file}: {exc.strerror}", param_hint="--token-file") from None
    try:
        cfg = config_mod.load(config_path)  # its scanner sections are checked as the runtime reads them
        http = options.get("http")
        if http is not None and not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", http):
            raise click.BadParameter(f"{http!r} is not HOST:PORT", param_hint="--http")
        config = HandheldConfig.from_config(cfg, **options)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    if no_scanner:
        config = HandheldConfig(**{**config.__dict__, "scanner_port": None})
    if not config.token:
        raise click.ClickException("no device token: give --token-file, SHOPGO_HANDHELD_TOKEN or [handheld] token "
                                   "(from `shopgo device add`)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The handler only notes the signal: an Event's set() takes a lock, and a second signal (Ctrl-C, then a TERM)
    # landing inside the first handler's set() would wait on that lock for ever.
    signalled: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: signalled.append(signum))
    try:
        runtime = HandheldRuntime(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    runtime.start()
    click.echo(f"handheld display on {runtime.display.url} (data in {config.data_dir}; "
               f"scanner {config.scanner_port or 'none'} {config.protocol}; server {config.server_url})", nl=True)
    try:
        while not signalled:
            time.sleep(0.2)
    finally:
        runtime.stop()
