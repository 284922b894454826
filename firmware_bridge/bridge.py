"""ScannerBridge: the one object the handheld holds to get Scans from a barcode scanner."""

from __future__ import annotations

import threading
from collections.abc import Callable

import serial

from . import ssi, wire
from .errors import ScannerError
from .interpret import Scan
from .protocol import RawLineProtocol, ScannerProtocol, SsiProtocol, make_protocol
from .settings import BarcodeSettings, ScannerProfile, Settings
from .transport import Opener, PortReader, SerialTransport

# Host commands by name for ScannerBridge.command() [SSI opcodes in wire.py].
SSI_COMMANDS = {
    "scan_enable": wire.SCAN_ENABLE,
    "scan_disable": wire.SCAN_DISABLE,
    "start_decode": wire.START_DECODE,
    "stop_decode": wire.STOP_DECODE,
}
HONEYWELL_TRIGGER = {"start_decode": wire.HONEYWELL_TRIGGER_ON, "stop_decode": wire.HONEYWELL_TRIGGER_OFF}


class ScannerBridge:
    """Reads a scanner on `port` in a background thread and calls `on_scan` with each Scan.

    `on_scan` returns True (good read), False (bad read) or None (no feedback);
    the bridge then sends the profile's feedback. `on_status` gets human-readable
    connection news (connected, gone, reconnected). Both run on the reader thread.
    """

    def __init__(
        self,
        port: str,
        protocol: str,
        profile: ScannerProfile,
        barcodes: BarcodeSettings,
        on_scan: Callable[[Scan], bool | None],
        on_status: Callable[[str], None] | None = None,
        *,
        reconnect_initial: float = 0.05,
        reconnect_max: float = 2.0,
        opener: Opener | None = None,
        transport_factory: Callable[[serial.SerialBase], SerialTransport] = SerialTransport,
    ) -> None:
        profile.check_protocol(protocol)
        self.port = port
        self.protocol_name = protocol
        self.profile = profile
        self.protocol: ScannerProtocol = make_protocol(protocol, profile, barcodes, on_scan)
        self._reader_args = dict(
            on_status=on_status,
            reconnect_initial=reconnect_initial,
            reconnect_max=reconnect_max,
            opener=opener,
            transport_factory=transport_factory,
        )
        self._reader: PortReader | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        on_scan: Callable[[Scan], bool | None],
        on_status: Callable[[str], None] | None = None,
    ) -> ScannerBridge:
        """Build a bridge for the `[scanner]` port, protocol and profile in `settings`."""
        sc = settings.scanner
        return cls(
            sc.port, sc.protocol, sc.active_profile, settings.barcodes, on_scan, on_status,
            reconnect_initial=sc.reconnect_initial, reconnect_max=sc.reconnect_max,
        )

    def start(self) -> None:
        """Start the reader thread; it opens the port (and keeps retrying until it can)."""
        with self._lock:
            if self._reader is not None:
                raise ScannerError("bridge already started")
            self._reader = PortReader(self.port, self.profile, self.protocol, **self._reader_args)  # type: ignore[arg-type]
            self._reader.start()

    def stop(self) -> None:
        """Stop reading and close the port."""
        with self._lock:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()

    @property
    def connected(self) -> bool:
        """True while the port is open."""
        reader = self._reader
        return reader is not None and reader.connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the port is open (or `timeout` passes); return whether it is."""
        reader = self._reader
        return reader is not None and reader.connected.wait(timeout)

    @property
    def connects(self) -> int:
        """How many times the port has been opened (1 + reconnects)."""
        return self._reader.connects if self._reader is not None else 0

    def feedback(self, good: bool) -> None:
        """Send good-read or bad-read feedback now (for a verdict reached after on_scan returned)."""
        self.protocol.send_feedback(good)

    def command(self, name: str) -> None:
        """Send a host command: scan_enable, scan_disable, start_decode, stop_decode.

        SSI scanners take all four; a raw Honeywell profile takes start/stop_decode
        (the serial trigger, SYN T CR / SYN U CR).
        """
        if name not in SSI_COMMANDS:
            raise ValueError(f"unknown scanner command {name!r}; known: {', '.join(SSI_COMMANDS)}")
        if isinstance(self.protocol, SsiProtocol):
            self.protocol.send(ssi.host(SSI_COMMANDS[name]))
            return
        trigger = HONEYWELL_TRIGGER.get(name)
        if isinstance(self.protocol, RawLineProtocol) and self.profile.host_ack == "honeywell" and trigger:
            self.protocol.write(trigger)
            return
        raise ScannerError(f"command {name!r} needs the ssi protocol (or start/stop_decode on a honeywell profile)")

    def __enter__(self) -> ScannerBridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
