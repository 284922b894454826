"""A handheld run inside this process: the handheld's own event log, catalogue cache, trip (pricing,
events, screen state) and sync workers, without a scanner port or a display; the barcodes go through
the scanner's interpretation straight into the device. The demo's shoppers each hold one."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from firmware_bridge import interpret_frame
from handheld.catalogue import Catalogue
from handheld.client import ApiClient
from handheld.device import Handheld
from handheld.runtime import HandheldConfig
from handheld.store import LocalStore
from handheld.sync import CatalogueSync, EventSync
from shop.money import format_money


class InProcessHandheld:
    """A handheld in this process: its own event log, catalogue cache, trip and sync workers."""

    def __init__(self, cfg: Mapping[str, Any], data_dir: Path, server_url: str, token: str,
                 backoff_max: float) -> None:
        config = HandheldConfig.from_config(cfg, data_dir=str(data_dir), server_url=server_url, token=token,
                                            backoff_max=backoff_max)
        self.barcodes, self.currency, self.exponent = config.barcodes, config.currency, config.exponent
        self.store = LocalStore(config.data_dir)
        self.catalogue = Catalogue(self.store)
        self.device = Handheld(self.store, self.catalogue, config.barcodes, currency=config.currency,
                               exponent=config.exponent, pricing_rules=config.pricing)
        self.sync = EventSync(self.device, ApiClient(server_url, token), interval=config.sync_interval,
                              backoff_max=backoff_max, staff_poll=config.staff_poll)
        self.catalogue_sync = CatalogueSync(self.device, ApiClient(server_url, token, timeout=60),
                                            interval=config.catalogue_refresh, backoff_max=backoff_max)
        self.device.wake_sync = self._wake

    def _wake(self, reason: str) -> None:
        self.sync.wake()
        if reason == "trip":
            self.catalogue_sync.wake()  # as a handheld does: today's prices at trip start

    def scan(self, code: str) -> bool:
        """Scan a barcode; False when the device refused it (its screen says why)."""
        return self.device.on_scan(interpret_frame(code.encode("latin-1"), self.barcodes))

    def money(self, minor: int) -> str:
        return format_money(minor, self.currency, self.exponent)

    def start(self) -> None:
        """Start the catalogue and event sync."""
        self.catalogue_sync.start()
        self.sync.start()

    def stop(self) -> None:
        """Stop the workers, hang up and close the files."""
        self.sync.stop()
        self.catalogue_sync.stop()
        self.sync.client.close()
        self.catalogue_sync.client.close()
        self.catalogue.close()
        self.store.close()
