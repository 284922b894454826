"""Protocol objects: bytes in from a reader, Scans out to the handheld, feedback back to the scanner.

In the style of `serial.threaded.Protocol`: `connection_made(transport)`,
`data_received(data)`, `connection_lost(exc)`, plus `tick(now)` for SSI timeouts.
One protocol object lives as long as its bridge, across reconnects, so the
"already delivered" memory that stops a retransmitted scan counting twice survives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol as TypingProtocol

from . import ssi, wire
from .errors import ChecksumError, FrameError, LineNoise, ReadTooLong
from .interpret import Scan, interpret, interpret_frame
from .raw import LineFramer
from .settings import BarcodeSettings, ScannerProfile

log = logging.getLogger(__name__)

OnScan = Callable[[Scan], "bool | None"]
# A scanner that stops answering must not make queued feedback (or the record of what it
# refused) grow for as long as reads keep coming: keep the newest few, stale beeps are useless.
MAX_QUEUED_COMMANDS = 64
# A noisy line is reported at most once per this many seconds (a summary, not a line per byte).
NOISE_REPORT_SECONDS = 10.0


class Transport(TypingProtocol):
    """What a protocol needs from the port: somewhere to write."""

    def write(self, data: bytes) -> None: ...


def ssi_feedback(actions: tuple[str, ...]) -> list[ssi.Packet]:
    """Return the SSI packets for feedback actions (beep:N, led_on:COLOUR, led_off:COLOUR)."""
    packets = []
    for action in actions:
        verb, _, arg = action.partition(":")
        if verb == "beep":
            packets.append(ssi.beep(int(arg)))
        elif verb == "led_on":
            packets.append(ssi.led_on(wire.LED_MASKS[arg]))
        elif verb == "led_off":
            packets.append(ssi.led_off(wire.LED_MASKS[arg]))
    return packets


def honeywell_feedback(actions: tuple[str, ...]) -> bytes:
    """Return the Honeywell host-acknowledgement bytes (ESC n) for esc:N actions."""
    return b"".join(bytes((wire.ESC,)) + a[4:].encode() for a in actions if a.startswith("esc:"))


class NoiseReport:
    """Counts the bytes a noisy line made us drop; logs at most one summary line per interval.

    One ERROR line per noise byte would let a loose cable or a bad ground flood the log
    (and the disk): the first noise after a quiet interval is reported at once, what
    follows within the interval is counted and reported as one line when it is over.
    """

    def __init__(self, interval: float = NOISE_REPORT_SECONDS) -> None:
        self.interval = interval
        self.bytes_total = 0  # every noise byte since start, reported or not
        self.bad_packets_total = 0
        self._bytes = 0  # not yet reported
        self._bad_packets = 0
        self._since = 0.0  # when the first unreported noise came
        self._reported_at: float | None = None

    def add(self, now: float, count: int, bad_packet: bool = False) -> None:
        """Count `count` dropped bytes (a whole packet with a bad checksum if `bad_packet`)."""
        if not self._bytes:
            self._since = now
        self._bytes += count
        self.bytes_total += count
        if bad_packet:
            self._bad_packets += 1
            self.bad_packets_total += 1
        self.tick(now)

    def tick(self, now: float) -> None:
        """Report what is counted if the last report is at least an interval old."""
        if self._bytes and (self._reported_at is None or now - self._reported_at >= self.interval):
            self.report(now)

    def report(self, now: float) -> None:
        """Log the unreported count now (if any)."""
        if not self._bytes:
            return
        among = f" ({self._bad_packets} packets with a bad checksum among them, NAKed)" if self._bad_packets else ""
        log.error("scanner line noise: discarded %d noise bytes in the last %.1f s%s",
                  self._bytes, max(now - self._since, 0.0), among)
        self._reported_at = now
        self._bytes = self._bad_packets = 0


class ScannerProtocol:
    """Common part: deliver a Scan, send the feedback the handheld's answer asks for."""

    def __init__(self, profile: ScannerProfile, barcodes: BarcodeSettings, on_scan: OnScan) -> None:
        self.profile = profile
        self.barcodes = barcodes
        self.on_scan = on_scan
        self.transport: Transport | None = None
        self.scans = 0
        self.frame_errors = 0

    def connection_made(self, transport: Transport) -> None:
        """Start talking over a freshly opened port."""
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Handle bytes read from the port."""
        raise NotImplementedError

    def connection_lost(self, exc: BaseException | None) -> None:
        """Forget partial frames; the port is closed (exc says why, None if stopped)."""
        self.transport = None

    def tick(self, now: float) -> None:
        """Called after each read (or read timeout) so timers can fire."""

    def send_feedback(self, good: bool) -> None:
        """Send the profile's good-read or bad-read feedback."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Write raw bytes to the scanner if connected (dropped, as on a dead wire, if not)."""
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def _frame_error(self, exc: FrameError) -> None:
        self.frame_errors += 1
        log.error("scanner frame dropped: %s", exc)

    def _deliver(self, scan: Scan) -> None:
        self.scans += 1
        try:
            verdict = self.on_scan(scan)
        except Exception:
            # A bug in the handheld must not stop the reader; the shopper sees no beep and rescans.
            log.exception("on_scan callback failed for %r", scan.data)
            return
        if verdict is not None:
            self.send_feedback(bool(verdict))


class RawLineProtocol(ScannerProtocol):
    """Raw mode: one read per line, ended by the profile's suffix."""

    def __init__(self, profile: ScannerProfile, barcodes: BarcodeSettings, on_scan: OnScan) -> None:
        super().__init__(profile, barcodes, on_scan)
        self.framer = LineFramer(profile.suffix_bytes, profile.prefix_bytes, profile.max_frame)

    def data_received(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if isinstance(item, FrameError):
                self._frame_error(item)
            else:
                self._deliver(interpret_frame(item, self.barcodes, aim=self.profile.aim))

    def connection_lost(self, exc: BaseException | None) -> None:
        # A frame cut off by the unplug never arrived whole; its head must not join the next one.
        self.framer.reset()
        super().connection_lost(exc)

    def send_feedback(self, good: bool) -> None:
        if self.profile.host_ack == "honeywell":
            self.write(honeywell_feedback(self.profile.good_read if good else self.profile.bad_read))


class SsiProtocol(ScannerProtocol):
    """Zebra SSI: ACK/NAK every packet, reassemble DECODE_DATA, one host command in flight."""

    def __init__(self, profile: ScannerProfile, barcodes: BarcodeSettings, on_scan: OnScan) -> None:
        super().__init__(profile, barcodes, on_scan)
        self.parser = ssi.PacketParser()
        self.assembler = ssi.DecodeAssembler(max_bytes=profile.max_frame)
        self._lock = threading.RLock()  # send() may come from the handheld's threads
        self._outbox: deque[ssi.Packet] = deque(maxlen=MAX_QUEUED_COMMANDS)
        self._in_flight: ssi.Packet | None = None
        self._sent_at = 0.0
        self._tries = 0
        # The last decoder packet answered and the answer's bytes: a retransmission of it
        # (our answer was lost) gets the same answer again and is not counted twice.
        # Forgotten when we NAK a packet we could not read (see _nak_unreadable).
        self._last_answer: tuple[tuple[int, int, int, bytes], bytes] | None = None
        self.duplicates = 0
        self.naks_sent = 0
        self.reads_refused = 0
        self.noise = NoiseReport()
        self.failed_commands: list[ssi.Packet] = []

    def connection_made(self, transport: Transport) -> None:
        super().connection_made(transport)
        # Temporary (not permanent) so a reconnect loop never wears the scanner's flash;
        # it is sent again on every connect anyway.
        self.send(ssi.packeted_decode_on(permanent=False))
        self.send(ssi.host(wire.SCAN_ENABLE))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.noise.report(time.monotonic())
        with self._lock:
            self.parser.reset()
            self.assembler.reset()
            self._outbox.clear()  # stale beeps are worse than none
            self._in_flight = None
        super().connection_lost(exc)

    def send(self, packet: ssi.Packet) -> None:
        """Queue a host command; it goes out once the previous one is ACKed."""
        with self._lock:
            self._outbox.append(packet)
            if self._in_flight is None:
                self._send_next()

    def send_feedback(self, good: bool) -> None:
        for packet in ssi_feedback(self.profile.good_read if good else self.profile.bad_read):
            self.send(packet)

    @property
    def noise_bytes(self) -> int:
        """Bytes dropped as line noise since start (bad-checksum packets included)."""
        return self.noise.bytes_total

    def data_received(self, data: bytes) -> None:
        for item in self.parser.feed(data):
            if isinstance(item, LineNoise):
                self.noise.add(time.monotonic(), item.count)
            elif isinstance(item, ChecksumError):
                # Counted with the noise, not logged one by one: garbage on the line mostly
                # arrives as "packets" whose checksum fails.
                self.frame_errors += 1
                self.noise.add(time.monotonic(), len(item.packet), bad_packet=True)
                self._nak_unreadable()
            elif isinstance(item, FrameError):
                self._frame_error(item)
            elif item.source == wire.SOURCE_DECODER:
                self._packet(item)
            # Anything from the host source is our own echo (loop://) or a second host; ignore it.

    def tick(self, now: float) -> None:
        self.noise.tick(now)
        with self._lock:
            if self._in_flight is None or now - self._sent_at < self.profile.response_timeout:
                return
            if self._tries <= self.profile.retries:
                self._transmit(self._in_flight.as_retransmission())
                return
            log.error("scanner did not ACK %s after %d tries; dropped", self._in_flight.name, self._tries)
            self._failed(self._in_flight)
            self._in_flight = None
            self._send_next()

    def _packet(self, packet: ssi.Packet) -> None:
        if packet.opcode in (wire.CMD_ACK, wire.CMD_NAK):
            self._answer(packet)
            return
        last = self._last_answer
        if packet.retransmit and last is not None and packet.identity() == last[0]:
            # Our answer was lost (or late); the scanner sent it again. Answer the same,
            # but do not count it twice.
            self.duplicates += 1
            self.write(last[1])
            return
        if packet.opcode != wire.DECODE_DATA:
            self._reply(packet, ssi.ack())
            log.info("scanner sent %s %s", packet.name, packet.data.hex(" "))
            return
        try:
            read = self.assembler.add(packet)
        except ReadTooLong as exc:
            self._refuse(packet, exc)
            return
        except FrameError as exc:
            self._reply(packet, ssi.ack())
            self._frame_error(exc)
            return
        self._reply(packet, ssi.ack())
        if read is not None:
            barcode_type, data = read
            symbology = wire.SSI_BARCODE_TYPES.get(barcode_type, "unknown")
            self._deliver(interpret(data.decode("latin-1"), symbology, self.barcodes))

    def _nak_unreadable(self) -> None:
        """Ask the scanner to resend a packet we could not read, and take the resend as new."""
        # The resend carries the retransmission bit, so a second identical tin resent after
        # a bad checksum looks exactly like a retransmission of the first; remembered, it
        # would be dropped as a duplicate and the tin lost. SSI has no sequence number to
        # tell the two apart, so after a NAK the next packet is always taken as new. The
        # cost is the rarer double fault (our ACK lost AND the scanner's retransmission
        # then hit on the wire), which counts a read twice: a line the shopper sees on the
        # display and can remove, where a lost tin goes unpaid and unseen.
        self._last_answer = None
        self.naks_sent += 1
        self.write(ssi.nak(wire.NAK_RESEND).encode())

    def _reply(self, packet: ssi.Packet, answer: ssi.Packet) -> None:
        """Answer a decoder packet, remembering the answer for its retransmission."""
        data = answer.encode()
        self._last_answer = (packet.identity(), data)
        self.write(data)

    def _refuse(self, packet: ssi.Packet, exc: ReadTooLong) -> None:
        """Answer a packet of an over-long read: nothing of the read is delivered."""
        if exc.first:
            self._frame_error(exc)  # one line per refused read, not one per packet
        if packet.continuation:
            # ACKed, so the scanner sends the read to its end and the next packet of this
            # type after that end is surely a new read; the last packet carries the refusal.
            self._reply(packet, ssi.ack())
            return
        # Undesired message, not resend: sent again, the read would be just as long.
        self.reads_refused += 1
        self.naks_sent += 1
        self._reply(packet, ssi.nak(wire.NAK_UNDESIRED))

    def _answer(self, packet: ssi.Packet) -> None:
        with self._lock:
            if self._in_flight is None:
                return
            if packet.opcode == wire.CMD_NAK:
                cause = packet.data[0] if packet.data else None
                if cause == wire.NAK_RESEND and self._tries <= self.profile.retries:
                    self._transmit(self._in_flight.as_retransmission())
                    return
                log.error("scanner refused %s (NAK cause %s)", self._in_flight.name, cause)
                self._failed(self._in_flight)
            self._in_flight = None
            self._send_next()

    def _failed(self, packet: ssi.Packet) -> None:
        self.failed_commands.append(packet)
        del self.failed_commands[:-MAX_QUEUED_COMMANDS]

    def _send_next(self) -> None:
        if self._outbox and self.transport is not None:
            self._in_flight = self._outbox.popleft()
            self._tries = 0
            self._transmit(self._in_flight)

    def _transmit(self, packet: ssi.Packet) -> None:
        self._tries += 1
        self._sent_at = time.monotonic()
        self.write(packet.encode())


def make_protocol(name: str, profile: ScannerProfile, barcodes: BarcodeSettings, on_scan: OnScan) -> ScannerProtocol:
    """Return the protocol object for "raw" or "ssi"."""
    if name == "raw":
        return RawLineProtocol(profile, barcodes, on_scan)
    if name == "ssi":
        return SsiProtocol(profile, barcodes, on_scan)
    raise ValueError(f"scanner.protocol: must be 'raw' or 'ssi', got {name!r}")
