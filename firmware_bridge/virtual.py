"""A virtual barcode scanner on a pseudo-terminal, for demos, tests and the store-day simulation.

Raw mode writes `[prefix][AIM id]data suffix` per read and records Honeywell ESC n
host acknowledgements. SSI mode behaves as a Zebra scanner: it sends DECODE_DATA
packets one at a time, waits for the host's ACK, retransmits (retransmission bit
set) on NAK resend or timeout, abandons a read the host NAKs for another cause,
ACKs/NAKs host commands and obeys SCAN_DISABLE.
`unplug()` and `replug()` make the device vanish and return, as a USB scanner does.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import gs1, raw, ssi, wire
from .errors import ChecksumError, FrameError

log = logging.getLogger(__name__)


def guess_symbology(data: str) -> str:
    """Return the symbology a scanner would most likely report for `data`."""
    if data.isdigit():
        return {13: "EAN-13", 12: "UPC-A", 8: "EAN-8", 14: "ITF"}.get(len(data), "Code 128")
    if data.startswith("01") and data[2:16].isdigit():
        return "GS1-128"
    return "QR" if data.startswith(("http://", "https://")) else "Code 128"


class VirtualScanner:
    """A scanner on a pty: `.path` is what the bridge opens; `.scan(data)` is a trigger pull."""

    def __init__(
        self,
        protocol: str = "raw",
        *,
        aim: bool = False,
        suffix: bytes = wire.CR,
        prefix: bytes = b"",
        link: str | Path | None = None,
        ack_timeout: float = 2.0,
        retries: int = 3,
        max_packet_data: int = 250,
    ) -> None:
        if protocol not in ("raw", "ssi"):
            raise ValueError(f"protocol must be 'raw' or 'ssi', got {protocol!r}")
        self.protocol = protocol
        self.aim, self.suffix, self.prefix = aim, suffix, prefix
        self.link = Path(link) if link is not None else None
        self.ack_timeout, self.retries, self.max_packet_data = ack_timeout, retries, max_packet_data
        self.scan_enabled = True
        self.feedback: list[tuple[str, Any]] = []  # ("beep", 0), ("led_on", 1), ("esc", "7"), ...
        self.host_packets: list[ssi.Packet] = []
        self.params: dict[int, int] = {}
        self.acks_received = self.naks_received = self.retransmissions = 0
        self.reads_sent = 0
        self._pending = 0  # SSI reads queued or in flight
        self._host_seen = False  # heard a valid packet from the host since the last plug-in
        self._changed = threading.Condition()
        self._master: int | None = None
        self._slave: int | None = None
        self._pts = ""
        self._reader: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._closed = False
        self._write_lock = threading.Lock()
        self._answer: ssi.Packet | None = None
        self._ignore_acks = 0
        self._corrupt = 0
        self._reads: queue.Queue[list[ssi.Packet] | None] = queue.Queue()
        self._sender: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------
    def open(self) -> str:
        """Plug the scanner in and return the device path to open."""
        self._plug()
        if self.protocol == "ssi" and self._sender is None:
            self._sender = threading.Thread(target=self._send_loop, name="virtual-scanner-send", daemon=True)
            self._sender.start()
        return self.path

    @property
    def path(self) -> str:
        """The link path if one was given (stable across replugs), else the /dev/pts/N name."""
        return str(self.link) if self.link is not None else self._pts

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def unplug(self) -> None:
        """Make the device vanish: the link goes and the host's reads fail."""
        if self.link is not None:
            self.link.unlink(missing_ok=True)  # first, so the host cannot reopen the dying pty
        master, slave, reader = self._master, self._slave, self._reader
        with self._changed:
            self._master = self._slave = None
            self._changed.notify_all()
        os.write(self._wake_w, b"x")
        if reader is not None:
            reader.join(2)
        os.read(self._wake_r, 64)
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)

    def replug(self) -> str:
        """Bring the device back (a new pty behind the same link); return its path."""
        self._plug()
        return self.path

    def close(self) -> None:
        """Unplug for good and stop the threads."""
        if self._closed:
            return
        if self.plugged:
            self.unplug()
        self._closed = True
        self._reads.put(None)
        with self._changed:
            self._changed.notify_all()
        if self._sender is not None:
            self._sender.join(2)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> VirtualScanner:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # binary wire: no echo, no CR -> LF translation
        self._pts = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self._pts)
            os.replace(tmp, self.link)  # atomic: the host never sees a half-made link
        with self._changed:
            self._master, self._slave = master, slave
            self._host_seen = False
            self._changed.notify_all()
        self._reader = threading.Thread(target=self._read_loop, args=(master,), name="virtual-scanner-read", daemon=True)
        self._reader.start()

    # --- scanning ---------------------------------------------------------------
    def scan(self, data: str, symbology: str | None = None) -> bool:
        """Read a barcode: send its frame (raw) or queue its packets (SSI). False if disabled or unplugged."""
        symbology = symbology or guess_symbology(data)
        if self.protocol == "raw":
            if not self.plugged:
                return False
            self.write_bytes(self.encode_raw(data, symbology))
            self.reads_sent += 1
            return True
        if not self.scan_enabled or not self.plugged:
            return False  # a disabled scanner does not decode; the trigger does nothing
        barcode_type = wire.SSI_TYPE_FOR_SYMBOLOGY.get(symbology, 0x0B)
        with self._changed:
            self._pending += 1
        self._reads.put(ssi.decode_data(barcode_type, data.encode("latin-1"), self.max_packet_data))
        self.reads_sent += 1
        return True

    def encode_raw(self, data: str, symbology: str) -> bytes:
        """Return the raw-mode bytes for one read, as a scanner with these settings sends them."""
        aim = wire.AIM_FOR_SYMBOLOGY.get(symbology, "]C0") if self.aim else None
        if aim == "]E0" and symbology == "UPC-A":
            data = "0" + data  # ]E0 always carries 13 digits
        elif aim == "]E0" and symbology == "UPC-E":
            data = "0" + gs1.expand_upc_e(data)
        return raw.encode_line(data, self.suffix, self.prefix, aim)

    def write_bytes(self, data: bytes) -> int:
        """Write bytes to the wire as they are; return time.perf_counter_ns() after the last byte."""
        with self._write_lock:
            master = self._master
            if master is None:
                raise OSError("virtual scanner is unplugged")
            view = memoryview(data)
            while view:
                n = os.write(master, view)
                view = view[n:]
            return time.perf_counter_ns()

    # --- fault injection for tests ------------------------------------------------
    def ignore_acks(self, count: int = 1) -> None:
        """Act as if the next `count` ACKs from the host were lost on the wire."""
        self._ignore_acks += count

    def corrupt_next(self, count: int = 1) -> None:
        """Send the next `count` packets with a wrong checksum."""
        self._corrupt += count

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued SSI read has been ACKed (or given up); True if so."""
        return self.wait_for(lambda: self._pending == 0, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until `predicate()` holds (checked whenever the scanner hears something)."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # --- threads ----------------------------------------------------------------
    def _read_loop(self, master: int) -> None:
        parser = ssi.PacketParser()
        while True:
            try:
                ready, _, _ = select.select([master, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            if self._wake_r in ready or self._master != master:
                return
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return  # no host has the slave open right now; nothing to hear
            if self.protocol == "raw":
                self._heard_raw(data)
            else:
                for item in parser.feed(data):
                    self._heard_packet(item)

    def _heard_raw(self, data: bytes) -> None:
        with self._changed:
            for i in range(len(data) - 1):
                if data[i] == wire.ESC:
                    self.feedback.append(("esc", chr(data[i + 1])))
            self._changed.notify_all()

    def _heard_packet(self, item: ssi.Packet | FrameError) -> None:
        if isinstance(item, ChecksumError):  # ask the host to send it again
            self._write_packet(ssi.nak(wire.NAK_RESEND, wire.SOURCE_DECODER))
            return
        if isinstance(item, FrameError):
            return
        if item.source != wire.SOURCE_HOST:
            return
        with self._changed:
            self._host_seen = True
            if item.opcode in (wire.CMD_ACK, wire.CMD_NAK):
                if item.opcode == wire.CMD_ACK and self._ignore_acks:
                    self._ignore_acks -= 1
                else:
                    self._answer = item
            else:
                self.host_packets.append(item)
                self._obey(item)
            self._changed.notify_all()
        if item.opcode not in (wire.CMD_ACK, wire.CMD_NAK):
            self._write_packet(ssi.ack(wire.SOURCE_DECODER))

    def _obey(self, packet: ssi.Packet) -> None:
        op, data = packet.opcode, packet.data
        if op == wire.SCAN_DISABLE:
            self.scan_enabled = False
        elif op == wire.SCAN_ENABLE:
            self.scan_enabled = True
        elif op == wire.PARAM_SEND:
            pairs = data[1:]
            self.params.update({pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2)})
        elif op in (wire.BEEP, wire.LED_ON, wire.LED_OFF) and data:
            self.feedback.append((packet.name.lower(), data[0]))
        elif op in (wire.START_DECODE, wire.STOP_DECODE):
            self.feedback.append((packet.name.lower(), None))

    def _write_packet(self, packet: ssi.Packet) -> None:
        raw_bytes = packet.encode()
        if self._corrupt and packet.opcode == wire.DECODE_DATA:
            self._corrupt -= 1
            raw_bytes = raw_bytes[:-1] + bytes(((raw_bytes[-1] + 1) & 0xFF,))
        try:
            self.write_bytes(raw_bytes)
        except OSError:
            pass  # unplugged mid-send: the retransmission after replug covers it

    def _send_loop(self) -> None:
        while True:
            packets = self._reads.get()
            if packets is None:
                return
            for packet in packets:
                outcome = self._send_until_acked(packet)
                if outcome == "refused":
                    log.info("host refused a DECODE_DATA packet; read abandoned")
                    break
                if outcome != "acked":
                    log.error("virtual scanner gave up on a DECODE_DATA packet")
                    break
            with self._changed:
                self._pending -= 1
                self._changed.notify_all()

    def _send_until_acked(self, packet: ssi.Packet) -> str:
        """Send until ACKed: "acked", "refused" (a NAK not asking to resend) or "gave up"."""
        attempt, tries = packet, 0
        while tries <= self.retries:
            with self._changed:
                # Unplugged: hold the packet (a cable glitch, not a power loss) until replugged
                # and the host has spoken, as a USB scanner waits for the host to open the port
                # (bytes sent before the host opens it are flushed by the open).
                self._changed.wait_for(lambda: (self.plugged and self._host_seen) or self._closed)
                if self._closed:
                    return "gave up"
                self._answer = None
            self._write_packet(attempt)
            with self._changed:
                self._changed.wait_for(lambda: self._answer is not None or not self.plugged, self.ack_timeout)
                answer = self._answer
                if answer is not None and answer.opcode == wire.CMD_ACK:
                    self.acks_received += 1
                    return "acked"
                if answer is not None:
                    self.naks_received += 1
                    if answer.data[:1] != bytes((wire.NAK_RESEND,)):
                        return "refused"  # only NAK resend asks for the packet again
                if self.plugged:
                    tries += 1  # time spent unplugged is not a failed try
                self.retransmissions += 1
            attempt = packet.as_retransmission()
        return "gave up"
