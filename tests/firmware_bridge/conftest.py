"""Fixtures for the firmware_bridge tests: settings, recording transports, virtual scanners on ptys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from firmware_bridge import BarcodeSettings, Scan, ScannerBridge, Settings, VirtualScanner, default_settings
from firmware_bridge.transport import SerialTransport


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` passes (a guard against hangs, not a timing check)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


class Recorder:
    """Collects what a bridge delivers; answers on_scan with a fixed verdict."""

    def __init__(self, verdict: bool | None | Callable[[Scan], bool | None] = None) -> None:
        self.scans: list[Scan] = []
        self.statuses: list[str] = []
        self.verdict = verdict
        self._lock = threading.Lock()

    def on_scan(self, scan: Scan) -> bool | None:
        with self._lock:
            self.scans.append(scan)
        return self.verdict(scan) if callable(self.verdict) else self.verdict

    def on_status(self, message: str) -> None:
        with self._lock:
            self.statuses.append(message)

    @property
    def data(self) -> list[str]:
        with self._lock:
            return [s.data for s in self.scans]

    def wait(self, count: int, timeout: float = 5.0) -> list[str]:
        wait_until(lambda: len(self.scans) >= count, timeout)
        return self.data


class RecordingTransport(SerialTransport):
    """A transport that records every write instead of sending it (tests assert exact bytes)."""

    def __init__(self, port: serial.SerialBase | None = None) -> None:
        super().__init__(port)  # type: ignore[arg-type]
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    @property
    def written(self) -> bytes:
        return b"".join(self.writes)


@pytest.fixture
def settings() -> Settings:
    return default_settings()


@pytest.fixture
def barcodes(settings: Settings) -> BarcodeSettings:
    return settings.barcodes


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(verdict=lambda scan: scan.kind != "invalid")


@pytest.fixture
def loop_port() -> Iterator[serial.SerialBase]:
    port = serial.serial_for_url("loop://", timeout=0.05)
    yield port
    port.close()


@pytest.fixture
def make_virtual(tmp_path: Path) -> Iterator[Callable[..., VirtualScanner]]:
    """Open VirtualScanners on ptys (linked under tmp_path) and close them after the test."""
    opened: list[VirtualScanner] = []

    def make(protocol: str = "raw", **kwargs: object) -> VirtualScanner:
        kwargs.setdefault("link", tmp_path / f"scanner{len(opened)}")
        kwargs.setdefault("ack_timeout", 0.2)
        vs = VirtualScanner(protocol, **kwargs)  # type: ignore[arg-type]
        vs.open()
        opened.append(vs)
        return vs

    yield make
    for vs in opened:
        vs.close()


@pytest.fixture
def make_bridge(settings: Settings) -> Iterator[Callable[..., ScannerBridge]]:
    """Start ScannerBridges on a port and stop them after the test."""
    started: list[ScannerBridge] = []

    def make(port: str, protocol: str, recorder: Recorder, profile: str | None = None, **kwargs: object) -> ScannerBridge:
        name = profile or ("zebra" if protocol == "ssi" else "default")
        kwargs.setdefault("reconnect_initial", 0.01)
        kwargs.setdefault("reconnect_max", 0.05)
        bridge = ScannerBridge(port, protocol, settings.scanner.profiles[name], settings.barcodes,
                               recorder.on_scan, recorder.on_status, **kwargs)  # type: ignore[arg-type]
        bridge.start()
        started.append(bridge)
        return bridge

    yield make
    for bridge in started:
        bridge.stop()


@pytest.fixture
def scanner_pty(make_virtual: Callable[..., VirtualScanner], make_bridge: Callable[..., ScannerBridge],
                recorder: Recorder) -> tuple[VirtualScanner, ScannerBridge, Recorder]:
    """A raw virtual scanner on a pty with a connected bridge reading it."""
    vs = make_virtual("raw")
    bridge = make_bridge(vs.path, "raw", recorder)
    assert bridge.wait_connected(5)
    return vs, bridge, recorder


@pytest.fixture
def ssi_pty(make_virtual: Callable[..., VirtualScanner], make_bridge: Callable[..., ScannerBridge],
            recorder: Recorder) -> tuple[VirtualScanner, ScannerBridge, Recorder]:
    """An SSI virtual scanner on a pty with a bridge that has finished its start-up commands."""
    vs = make_virtual("ssi")
    bridge = make_bridge(vs.path, "ssi", recorder)
    assert vs.wait_for(lambda: any(p.opcode == 0xE9 for p in vs.host_packets), 5)
    return vs, bridge, recorder


@pytest.fixture
def wait() -> Callable[..., bool]:
    """The polling helper, for tests (conftest is not importable under importmode=importlib)."""
    return wait_until


@pytest.fixture
def make_recorder() -> type[Recorder]:
    return Recorder


@pytest.fixture
def recording_transport() -> RecordingTransport:
    return RecordingTransport()
