"""Transport: a reader thread owns the serial port, feeds a protocol, and reconnects with back-off."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from .errors import PortGone
from .protocol import ScannerProtocol
from .settings import ScannerProfile

log = logging.getLogger(__name__)

# Short enough that SSI retransmit timers and stop() react promptly; a read returns
# as soon as a byte arrives, so this adds nothing to scan latency.
READ_TIMEOUT = 0.05

Opener = Callable[[], serial.SerialBase]


def open_port(port: str, profile: ScannerProfile, timeout: float = READ_TIMEOUT) -> serial.SerialBase:
    """Open a device path or pyserial URL (loop://, socket://) with the profile's line settings."""
    try:
        return serial.serial_for_url(port, timeout=timeout, **profile.serial_kwargs())
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PortGone(f"cannot open {port}: {exc}") from exc


class SerialTransport:
    """Writes to the port for the protocol; a lock keeps writes from different threads whole."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        """Write all of `data`; if the port is gone, log it (the reader will notice and reconnect)."""
        if not data:
            return
        with self._lock:
            try:
                self.port.write(data)
            except (serial.SerialException, OSError) as exc:
                log.warning("write to scanner failed: %s", exc)


class PortReader(threading.Thread):
    """Owns the port: open, read into the protocol, and on loss retry with back-off until stopped."""

    def __init__(
        self,
        port: str,
        profile: ScannerProfile,
        protocol: ScannerProtocol,
        on_status: Callable[[str], None] | None = None,
        reconnect_initial: float = 0.05,
        reconnect_max: float = 2.0,
        opener: Opener | None = None,
        transport_factory: Callable[[serial.SerialBase], SerialTransport] = SerialTransport,
    ) -> None:
        super().__init__(name=f"scanner-reader {port}", daemon=True)
        self.port_name = port
        self.profile = profile
        self.protocol = protocol
        self.on_status = on_status
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.opener = opener or (lambda: open_port(port, profile))
        self.transport_factory = transport_factory
        self.transport: SerialTransport | None = None
        self.connected = threading.Event()
        self.connects = 0
        self._stopping = threading.Event()
        self._serial: serial.SerialBase | None = None

    def run(self) -> None:
        delay = self.reconnect_initial
        reported_gone = False
        while not self._stopping.is_set():
            try:
                ser = self.opener()
            except (PortGone, serial.SerialException, OSError) as exc:
                if not reported_gone:
                    self._status(f"waiting for scanner on {self.port_name}: {exc}")
                    reported_gone = True
                self._stopping.wait(delay)
                delay = min(delay * 2, self.reconnect_max)
                continue
            delay, reported_gone = self.reconnect_initial, False
            self._serve(ser)

    def _serve(self, ser: serial.SerialBase) -> None:
        self._serial = ser
        self.transport = self.transport_factory(ser)
        self.connects += 1
        self.connected.set()
        self._status(f"connected to {self.port_name}" + (" (reconnected)" if self.connects > 1 else ""))
        lost: BaseException | None = None
        try:
            self.protocol.connection_made(self.transport)
            while not self._stopping.is_set():
                data = ser.read(ser.in_waiting or 1)
                if data:
                    self._feed(data)
                self.protocol.tick(time.monotonic())
        except (serial.SerialException, OSError) as exc:
            if not self._stopping.is_set():
                lost = PortGone(f"{self.port_name}: {exc}")
        finally:
            self.transport = None
            self._serial = None
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass
            self.protocol.connection_lost(lost)
            if lost is not None:
                self._status(f"scanner gone from {self.port_name}: {lost}; retrying")
            # Last, so whoever sees `connected` go false also sees the status report.
            self.connected.clear()

    def _feed(self, data: bytes) -> None:
        try:
            self.protocol.data_received(data)
        except (serial.SerialException, OSError):
            raise
        except Exception:
            # A parser bug must cost one read, not the scanner: keep reading.
            log.exception("scanner protocol failed on %r", data[:64])

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading, close the port and wait for the thread to end."""
        self._stopping.set()
        ser = self._serial
        if ser is not None and hasattr(ser, "cancel_read"):
            try:
                ser.cancel_read()
            except (serial.SerialException, OSError, AttributeError):
                pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def _status(self, message: str) -> None:
        log.info("%s", message)
        if self.on_status is not None:
            try:
                self.on_status(message)
            except Exception:
                log.exception("on_status callback failed")
