"""Zebra SSI packets as pure functions over bytes: checksum, build, incremental parse."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from . import wire
from .errors import ChecksumError, FrameError, LineNoise, ReadTooLong

log = logging.getLogger(__name__)


def checksum(body: bytes) -> int:
    """Return the SSI checksum of `body`: the 16-bit two's complement of its byte sum."""
    # Not sum % 255: that variant (seen in open drivers) breaks once the sum passes 255.
    return (0x10000 - sum(body)) & 0xFFFF


@dataclass(frozen=True, slots=True)
class Packet:
    """One SSI packet, without its length byte and checksum."""

    opcode: int
    source: int
    status: int = 0
    data: bytes = b""

    @property
    def retransmit(self) -> bool:
        return bool(self.status & wire.STATUS_RETRANSMIT)

    @property
    def continuation(self) -> bool:
        return bool(self.status & wire.STATUS_CONTINUATION)

    @property
    def name(self) -> str:
        return wire.OPCODE_NAMES.get(self.opcode, f"0x{self.opcode:02X}")

    def identity(self) -> tuple[int, int, int, bytes]:
        """Return what stays equal when the same packet is retransmitted."""
        return (self.opcode, self.source, self.status & ~wire.STATUS_RETRANSMIT, self.data)

    def encode(self) -> bytes:
        """Return the packet as wire bytes, length and checksum included."""
        length = wire.SSI_HEADER_LEN + len(self.data)
        if length > wire.SSI_MAX_LENGTH:
            raise FrameError(f"SSI packet data too long: {len(self.data)} bytes")
        body = bytes((length, self.opcode, self.source, self.status)) + self.data
        return body + checksum(body).to_bytes(2, "big")

    def as_retransmission(self) -> Packet:
        """Return the same packet with the retransmission status bit set."""
        return Packet(self.opcode, self.source, self.status | wire.STATUS_RETRANSMIT, self.data)


def decode_packet(raw: bytes) -> Packet:
    """Parse exactly one whole packet; raise FrameError or ChecksumError if it is not one."""
    if len(raw) < wire.SSI_HEADER_LEN + wire.SSI_CHECKSUM_LEN:
        raise FrameError(f"SSI packet too short: {raw.hex(' ')}")
    length = raw[0]
    if length < wire.SSI_HEADER_LEN or len(raw) != length + wire.SSI_CHECKSUM_LEN:
        raise FrameError(f"SSI length byte {length} does not match {len(raw)} bytes")
    body, got = raw[:length], int.from_bytes(raw[length:], "big")
    want = checksum(body)
    if got != want:
        raise ChecksumError(f"SSI checksum 0x{got:04X}, expected 0x{want:04X}", raw)
    return Packet(opcode=body[1], source=body[2], status=body[3], data=bytes(body[4:]))


# --- host commands ----------------------------------------------------------------

def host(opcode: int, data: bytes = b"", status: int = 0) -> Packet:
    """Return a host-to-scanner packet."""
    return Packet(opcode, wire.SOURCE_HOST, status, data)


def ack(source: int = wire.SOURCE_HOST) -> Packet:
    """Return CMD_ACK from `source`."""
    return Packet(wire.CMD_ACK, source)


def nak(cause: int = wire.NAK_RESEND, source: int = wire.SOURCE_HOST) -> Packet:
    """Return CMD_NAK with a cause byte (default: resend)."""
    return Packet(wire.CMD_NAK, source, 0, bytes((cause,)))


def beep(code: int) -> Packet:
    """Return BEEP with a beep code (0x00 one short high ... 0x1A)."""
    if not 0 <= code <= wire.BEEP_MAX:
        raise ValueError(f"beep code must be 0..{wire.BEEP_MAX}, got {code}")
    return host(wire.BEEP, bytes((code,)))


def led_on(mask: int) -> Packet:
    """Return LED_ON for a bit mask (0x01 green, 0x02 red)."""
    return host(wire.LED_ON, bytes((mask,)))


def led_off(mask: int) -> Packet:
    """Return LED_OFF for a bit mask."""
    return host(wire.LED_OFF, bytes((mask,)))


def param_send(params: dict[int, int], permanent: bool = False, beep_code: int = wire.PARAM_BEEP_NONE) -> Packet:
    """Return PARAM_SEND setting each parameter number to its (one-byte) value."""
    data = bytes([beep_code]) + b"".join(bytes((num, value)) for num, value in params.items())
    return host(wire.PARAM_SEND, data, wire.STATUS_PERMANENT if permanent else 0)


def packeted_decode_on(permanent: bool = False) -> Packet:
    """Return PARAM_SEND switching DECODE_DATA to packeted format (parameter 0xEE = 1)."""
    return param_send({wire.PARAM_DECODE_DATA_PACKET_FORMAT: 1}, permanent=permanent)


def decode_data(barcode_type: int, data: bytes, max_data: int = 250) -> list[Packet]:
    """Return the DECODE_DATA packet(s) a scanner sends for one read, split at `max_data`."""
    # Each packet repeats the barcode type byte; all but the last carry the continuation bit.
    chunk = max(1, min(max_data, wire.SSI_MAX_LENGTH - wire.SSI_HEADER_LEN - 1))
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return [
        Packet(
            wire.DECODE_DATA,
            wire.SOURCE_DECODER,
            wire.STATUS_CONTINUATION if i < len(pieces) - 1 else 0,
            bytes((barcode_type,)) + piece,
        )
        for i, piece in enumerate(pieces)
    ]


# --- incremental stream parsing ----------------------------------------------------

class PacketParser:
    """Turns a byte stream into packets; bounded memory, re-synchronises after noise."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[Packet | FrameError]:
        """Yield each whole packet (or the error that replaced it) that `data` completes."""
        self._buf += data
        buf = self._buf
        while buf:
            length = buf[0]
            if length < wire.SSI_HEADER_LEN:
                # Cannot be a length byte (wake-up 0x00, line noise): drop the whole run of
                # such bytes as one item, so a noisy line costs one report, not one per byte.
                run = 1
                while run < len(buf) and buf[run] < wire.SSI_HEADER_LEN:
                    run += 1
                del buf[:run]
                yield LineNoise(f"{run} SSI noise byte(s) dropped", run)
                continue
            end = length + wire.SSI_CHECKSUM_LEN
            if len(buf) < end:
                return
            raw = bytes(buf[:end])
            try:
                packet = decode_packet(raw)
            except ChecksumError as exc:
                # Skip the whole claimed packet: the caller NAKs and the scanner resends.
                del buf[:end]
                yield exc
                continue
            del buf[:end]
            yield packet

    def reset(self) -> None:
        """Forget a partial packet (the port went away mid-packet)."""
        self._buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a packet (never more than 257)."""
        return len(self._buf)


class DecodeAssembler:
    """Reassembles multi-packet DECODE_DATA (continuation bit) into one read.

    A read that passes `max_bytes` is refused whole: the packet that takes it over the
    bound and every later packet of the same read, up to and including its last (the
    one without the continuation bit), raise ReadTooLong, and no part of it is ever
    returned. SSI packets carry no read number, so "the same read" means "the same
    barcode type byte"; a packet of another type starts a new read.
    """

    def __init__(self, max_bytes: int = 4096) -> None:
        self._parts: list[bytes] = []
        self._type: int | None = None
        self._size = 0
        self._max = max_bytes
        self._refusing: int | None = None  # barcode type of a refused read still arriving
        self.dropped = 0

    @property
    def refusing(self) -> bool:
        """True while the rest of a refused (over-long) read is still expected."""
        return self._refusing is not None

    def add(self, packet: Packet) -> tuple[int, bytes] | None:
        """Add one DECODE_DATA packet; return (barcode type, data) when the read is complete.

        Raises FrameError for a packet without a type byte, ReadTooLong for each packet
        of a read that passed the bound.
        """
        if not packet.data:
            raise FrameError("DECODE_DATA without a barcode type byte")
        barcode_type, chunk = packet.data[0], packet.data[1:]
        if self._refusing is not None:
            if barcode_type == self._refusing:
                if not packet.continuation:
                    self._refusing = None  # its last packet: the next packet starts a new read
                raise ReadTooLong("rest of an over-long multi-packet DECODE_DATA dropped", first=False)
            # Another type: the refused read ended without its last packet; this one is new.
            self._refusing = None
        if self._type is not None and barcode_type != self._type:
            # A new read began before the old one finished: the old one never arrived whole.
            log.error("multi-packet DECODE_DATA interrupted by a new read; partial read dropped")
            self.dropped += 1
            self.reset()
        self._type = barcode_type
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size > self._max:
            # Refuse the whole read: its tail must never be taken for a read of its own.
            self.reset()
            self.dropped += 1
            if packet.continuation:
                self._refusing = barcode_type
            raise ReadTooLong(f"multi-packet DECODE_DATA over {self._max} bytes dropped")
        if packet.continuation:
            return None
        result = (barcode_type, b"".join(self._parts))
        self.reset()
        return result

    def reset(self) -> None:
        """Drop any partial read.

        A refused read's remaining packets stay refused, across a reconnect too: losing
        the next read of the same type (the shopper rescans) is better than taking the
        refused read's tail for a read.
        """
        self._parts, self._type, self._size = [], None, 0
