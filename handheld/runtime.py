"""One running handheld: local store, catalogue cache, trip, scanner bridge, sync workers, display."""
from __future__ import annotations

import gc
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from firmware_bridge import BarcodeSettings, ScannerBridge, ScannerProfile, Settings
from handheld.catalogue import Catalogue
from handheld.client import ApiClient
from handheld.device import Handheld
from handheld.store import LocalStore
from handheld.sync import CatalogueSync, EventSync
from handheld.web import DisplayServer
from shop.config import resolve_path
from shop.pricing import PricingRules

log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.0005


@dataclass(frozen=True)
class HandheldConfig:
    """Everything `shopgo handheld` needs, after config.toml and the command line."""

    data_dir: Path
    server_url: str
    token: str
    scanner_port: str | None = None
    protocol: str = "raw"
    profile: ScannerProfile = field(default_factory=lambda: ScannerProfile(name="default"))
    barcodes: BarcodeSettings = field(default_factory=BarcodeSettings)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    sync_interval: float = 1.0
    staff_poll: float = 3.0
    catalogue_refresh: float = 300.0
    backoff_max: float = 15.0
    currency: str = "GBP"
    exponent: int = 2
    pricing: PricingRules = field(default_factory=PricingRules)
    demo_samples: dict[str, Any] | None = None  # the demo's cards and products: the page then takes typed scans

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **overrides: Any) -> HandheldConfig:
        """Build from a loaded config (shop.config.load); None overrides keep the configured value."""
        hh, site, pricing = cfg["handheld"], cfg["site"], cfg["pricing"]
        settings = Settings.from_dict(cfg)
        o = {k: v for k, v in overrides.items() if v is not None}
        protocol = o.pop("protocol", settings.scanner.protocol)
        profile = settings.scanner.profiles[o.pop("profile", settings.scanner.profile)]
        profile.check_protocol(protocol)
        host, port = str(o.pop("http", hh["http"])).rsplit(":", 1)
        data_dir = o.pop("data_dir", None)
        return cls(
            data_dir=Path(data_dir) if data_dir else resolve_path(cfg, hh["data_dir"]),
            server_url=o.pop("server_url", hh["server_url"]), token=o.pop("token", hh["token"]),
            scanner_port=o.pop("scanner_port", settings.scanner.port), protocol=protocol, profile=profile,
            barcodes=settings.barcodes, http_host=host, http_port=int(port),
            sync_interval=float(hh["sync_interval_seconds"]), staff_poll=float(hh["staff_poll_seconds"]),
            catalogue_refresh=float(hh["catalogue_refresh_seconds"]),
            currency=site["currency"], exponent=int(site["currency_exponent"]),
            pricing=PricingRules(pricing["weight_rounding"], int(pricing["max_redemptions_per_trip"])), **o)


class HandheldRuntime:
    """Starts and stops the parts of a handheld in the right order."""

    def __init__(self, config: HandheldConfig) -> None:
        self.config = config
        self.store = LocalStore(config.data_dir)
        self.catalogue = Catalogue(self.store)
        self.handheld = Handheld(self.store, self.catalogue, config.barcodes, currency=config.currency,
                                 exponent=config.exponent, pricing_rules=config.pricing)
        self.sync = EventSync(self.handheld, ApiClient(config.server_url, config.token),
                              interval=config.sync_interval, backoff_max=config.backoff_max,
                              staff_poll=config.staff_poll)
        self.catalogue_sync = CatalogueSync(self.handheld, ApiClient(config.server_url, config.token, timeout=60),
                                            interval=config.catalogue_refresh, backoff_max=config.backoff_max)
        self.handheld.wake_sync = self._wake
        self.display = DisplayServer(self.handheld, config.http_host, config.http_port,
                                     demo=config.demo_samples, barcodes=config.barcodes)
        self.bridge: ScannerBridge | None = None
        if config.scanner_port:
            self.bridge = ScannerBridge(config.scanner_port, config.protocol, config.profile, config.barcodes,
                                        self.handheld.on_scan, on_status=self._scanner_status)

    def _scanner_status(self, message: str) -> None:
        log.info("scanner: %s", message)
        self.handheld.scanner_status(message)

    def _wake(self, reason: str) -> None:
        self.sync.wake()
        if reason == "trip":
            self.catalogue_sync.wake()  # a delta at trip start: the shopper sees today's prices

    def start(self) -> None:
        """Start the display, the workers and the scanner."""
        # A scan wakes the bridge's reader thread, which then waits for the GIL; with
        # CPython's default 5 ms switch interval a busy web or sync thread would make a
        # scan wait that long. The device runs few threads, so switching more often is cheap.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # What exists now (modules, the app) lives for the whole run: keep it out of the
        # cyclic collector's full passes, which would otherwise land inside some scans.
        gc.collect()
        gc.freeze()
        self.display.start()
        self.catalogue_sync.start()
        self.sync.start()
        if self.bridge is not None:
            self.bridge.start()

    def stop(self) -> None:
        """Stop everything and close the local files."""
        if self.bridge is not None:
            self.bridge.stop()
        self.sync.stop()
        self.catalogue_sync.stop()
        self.display.stop()
        self.catalogue.close()
        self.store.close()

    def __enter__(self) -> HandheldRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
