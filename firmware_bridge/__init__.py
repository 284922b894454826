"""ShopGo firmware_bridge: barcode scanners on a serial port, turned into `Scan` values.

Public API (stable; the handheld, the CLI and the store-day simulation rely on it):

    from firmware_bridge import ScannerBridge, Scan, interpret, default_settings

    settings = default_settings()            # or Settings.from_dict(parsed_config_toml)
    bridge = ScannerBridge(
        port="/dev/ttyACM0",                 # device path or pyserial URL (loop://, socket://)
        protocol="ssi",                      # "raw" | "ssi"
        profile=settings.scanner.profiles["zebra"],
        barcodes=settings.barcodes,
        on_scan=lambda scan: scan.kind != "invalid",   # True good read, False bad read, None no feedback
        on_status=print,                     # optional: "connected ...", "scanner gone ...; retrying"
    )
    bridge.start(); ...; bridge.stop()       # also a context manager; `bridge.connected` is a bool

- `ScannerBridge.from_settings(settings, on_scan, on_status=None)` uses the `[scanner]` port,
  protocol and profile. `bridge.feedback(good)` sends feedback later; `bridge.command(name)`
  sends scan_enable / scan_disable / start_decode / stop_decode (SSI).
- `on_scan` and `on_status` run on the bridge's reader thread; keep them short.
- The bridge reopens a port that vanished, with back-off, by itself. A scan that arrived
  whole is delivered exactly once: a frame cut off by an unplug is dropped, and an SSI
  packet retransmitted because our ACK was lost is ACKed again but not delivered again.
- `interpret(data, symbology, barcodes) -> Scan` and `interpret_frame(frame, barcodes,
  symbology="unknown", aim=True) -> Scan` are pure and never raise.
- `Scan` fields: data, symbology, kind ("product", "weighed", "priced", "loyalty_card",
  "coupon", "gs1", "invalid"), gtin (GTIN-13; for a price/weight label the item's lookup
  key with the value zeroed; a GS1 element string with a GTIN-14 not starting 0 keeps
  all 14 digits), price_minor (pence), weight_g, batch, expiry, error.
- `VirtualScanner` (firmware_bridge.virtual) is a scanner on a pseudo-terminal.
- Exceptions: ScannerError -> FrameError -> ChecksumError, LineNoise, ReadTooLong; PortGone;
  BarcodeError.
- CLI: `firmware_bridge.cli.scanner` is a click group (listen, virtual) for `shopgo scanner`.

Imports no other ShopGo package.
"""

from __future__ import annotations

from .bridge import ScannerBridge
from .errors import BarcodeError, ChecksumError, FrameError, LineNoise, PortGone, ReadTooLong, ScannerError
from .interpret import KINDS, Scan, interpret, interpret_frame
from .settings import (
    BarcodeSettings,
    LabelRule,
    ScannerProfile,
    ScannerSettings,
    Settings,
    default_settings,
)
from .virtual import VirtualScanner

__all__ = [
    "KINDS",
    "BarcodeError",
    "BarcodeSettings",
    "ChecksumError",
    "FrameError",
    "LabelRule",
    "LineNoise",
    "PortGone",
    "ReadTooLong",
    "Scan",
    "ScannerBridge",
    "ScannerError",
    "ScannerProfile",
    "ScannerSettings",
    "Settings",
    "VirtualScanner",
    "default_settings",
    "interpret",
    "interpret_frame",
]
