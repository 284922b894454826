"""Fuzzing the scanner side: random bytes and strings into the raw and SSI parsers, the two
protocol objects that drive them, and barcode interpretation.

tests/firmware_bridge already fuzzes the CR framer without a prefix, the bare SSI packet
parser and `interpret` on short text with the default settings. What is added here:
every suffix, prefix and frame bound of the raw framer; the whole protocol objects
(parser, reassembly, interpretation, feedback queue) fed hostile byte streams; the
multi-packet reassembler; and `interpret`/`interpret_frame` on GS1-shaped input
(element strings, digital links, RCN labels) under every RCN region, where the deep
branches are. The only exception a parser may raise is the documented FrameError, and
only where its docstring says so; every buffer stays within its bound.
"""
from __future__ import annotations

import string
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import ssi, wire
from firmware_bridge.errors import FrameError
from firmware_bridge.interpret import KINDS, Scan, interpret, interpret_frame
from firmware_bridge.protocol import RawLineProtocol, SsiProtocol
from firmware_bridge.raw import LineFramer
from firmware_bridge.settings import RCN_REGIONS, BarcodeSettings, ScannerProfile

FUZZ = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
ALLOWED = frozenset(range(0x20, 0x7F)) | {0x1D, 0x1E, 0x04}
SSI_BOUND = wire.SSI_MAX_LENGTH + wire.SSI_CHECKSUM_LEN  # one whole packet, the most a parser may hold
OUTBOX_BOUND = 64  # host commands queued while the scanner does not answer


class Wire:
    """A transport that keeps what the protocol writes (the feedback bytes)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


def well_formed_scan(scan: Scan) -> None:
    """What every Scan, however odd its input, must satisfy."""
    assert scan.kind in KINDS
    assert (scan.kind == "invalid") == (scan.error is not None), scan
    if scan.kind == "invalid":
        assert scan.gtin is None
    else:
        assert scan.gtin is not None and scan.gtin.isdigit() and len(scan.gtin) in (13, 14), scan
    assert scan.price_minor is None or scan.price_minor >= 0
    assert scan.weight_g is None or scan.weight_g >= 0
    scan.to_dict()  # JSON-ready whatever came in


# --- raw framing -------------------------------------------------------------------

@FUZZ
@given(chunks=st.lists(st.binary(max_size=400), max_size=10), suffix=st.sampled_from(sorted(wire.SUFFIXES)),
       prefix=st.sampled_from([b"", b"\x02", b"]E", b"AB"]), max_frame=st.integers(1, 300))
def test_raw_framer_with_any_suffix_prefix_and_bound_yields_clean_frames_in_bounded_memory(
        chunks: list[bytes], suffix: str, prefix: bytes, max_frame: int) -> None:
    end = wire.SUFFIXES[suffix]
    framer = LineFramer(end, prefix, max_frame)
    for chunk in chunks:
        for item in framer.feed(chunk):
            if isinstance(item, FrameError):
                continue
            assert item and len(item) <= max_frame
            assert all(b in ALLOWED for b in item), item
        assert framer.pending <= max_frame + len(end)


@FUZZ
@given(frames=st.lists(st.one_of(st.binary(max_size=80), st.text(string.digits, min_size=8, max_size=14).map(
           str.encode)), max_size=8),
       profile=st.sampled_from(["default", "honeywell", "prefixed"]), verdict=st.sampled_from([True, False, None]))
def test_raw_protocol_turns_any_byte_stream_into_well_formed_scans(
        frames: list[bytes], profile: str, verdict: bool | None) -> None:
    profiles = {"default": ScannerProfile(max_frame=64),
                "honeywell": ScannerProfile(name="honeywell", aim=True, host_ack="honeywell", suffix="CRLF",
                                            good_read=("esc:7",), bad_read=("esc:8",), max_frame=64),
                "prefixed": ScannerProfile(prefix="\x02", suffix="LF", max_frame=64)}
    scans: list[Scan] = []

    def on_scan(scan: Scan) -> bool | None:
        scans.append(scan)
        return verdict

    proto = RawLineProtocol(profiles[profile], BarcodeSettings(), on_scan)
    link = Wire()
    proto.connection_made(link)
    for frame in frames:
        proto.data_received(frame + proto.framer.suffix)
        assert proto.framer.pending <= 64 + len(proto.framer.suffix)
    for scan in scans:
        well_formed_scan(scan)
    # Feedback is only ever the profile's own Honeywell commands, one per answered scan.
    allowed = {b"\x1b7", b"\x1b8"} if profile == "honeywell" and verdict is not None else set()
    assert set(link.writes) <= allowed
    assert proto.scans == len(scans)


# --- SSI ---------------------------------------------------------------------------

decoder_packets = st.builds(
    ssi.Packet,
    opcode=st.sampled_from([wire.DECODE_DATA, wire.DECODE_DATA, wire.CMD_ACK, wire.CMD_NAK, *sorted(wire.OPCODE_NAMES)]),
    source=st.sampled_from([wire.SOURCE_DECODER, wire.SOURCE_DECODER, wire.SOURCE_HOST]),
    status=st.integers(0, 0x0F),
    data=st.binary(max_size=80))
# A stream of real packets, damaged ones and noise, as a flaky cable would give.
ssi_pieces = st.one_of(
    decoder_packets.map(lambda p: p.encode()),
    decoder_packets.map(lambda p: p.encode()[:-1] + bytes([p.encode()[-1] ^ 0x5A])),
    st.binary(max_size=40))


@FUZZ
@given(pieces=st.lists(ssi_pieces, max_size=25), verdict=st.sampled_from([True, False, None]),
       ticks=st.lists(st.floats(0, 10), max_size=4))
def test_ssi_protocol_survives_any_stream_with_bounded_buffers(
        pieces: list[bytes], verdict: bool | None, ticks: list[float]) -> None:
    scans: list[Scan] = []

    def on_scan(scan: Scan) -> bool | None:
        scans.append(scan)
        return verdict

    profile = ScannerProfile(name="zebra", good_read=("led_off:red", "beep:0"), bad_read=("beep:5", "led_on:red"),
                             max_frame=300)
    proto = SsiProtocol(profile, BarcodeSettings(), on_scan)
    proto.connection_made(Wire())
    clock = 0.0
    for i, piece in enumerate(pieces):
        proto.data_received(piece)
        if i < len(ticks):
            clock += ticks[i]
            proto.tick(clock)
        assert proto.parser.pending <= SSI_BOUND
        assert proto.assembler._size <= profile.max_frame  # noqa: SLF001 (no public view of it)
        assert len(proto._outbox) <= OUTBOX_BOUND  # noqa: SLF001
    for scan in scans:
        well_formed_scan(scan)
    proto.connection_lost(None)
    assert proto.parser.pending == 0 and proto.assembler._size == 0  # noqa: SLF001


@FUZZ
@given(parts=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=120), st.booleans()), max_size=12),
       bound=st.integers(1, 500))
def test_reassembly_never_returns_more_than_its_bound(parts: list[tuple[int, bytes, bool]], bound: int) -> None:
    assembler = ssi.DecodeAssembler(max_bytes=bound)
    for barcode_type, chunk, more in parts:
        packet = ssi.Packet(wire.DECODE_DATA, wire.SOURCE_DECODER, wire.STATUS_CONTINUATION if more else 0,
                            bytes([barcode_type]) + chunk)
        try:
            read = assembler.add(packet)
        except FrameError:
            continue  # the documented refusal of an over-long read
        if read is not None:
            assert read[0] == barcode_type and len(read[1]) <= bound


@FUZZ
@given(reads=st.lists(st.tuples(st.sampled_from(sorted(wire.SSI_BARCODE_TYPES)), st.integers(1, 700),
                                st.integers(1, 250)), max_size=8),
       bound=st.integers(16, 600), noise=st.binary(max_size=30).map(lambda b: bytes(x & 0x03 for x in b)))
def test_only_reads_within_the_bound_are_delivered_and_each_over_long_read_is_nakked_once(
        reads: list[tuple[int, int, int]], bound: int, noise: bytes) -> None:
    # Whatever the packet sizes and however reads of one type follow each other, no part of
    # an over-long read (its tail least of all) is delivered, and the read after it is.
    delivered: list[str] = []

    def on_scan(scan: Scan) -> None:
        delivered.append(scan.data)

    proto = SsiProtocol(ScannerProfile(name="zebra", good_read=(), bad_read=(), max_frame=bound), BarcodeSettings(),
                        on_scan)
    link = Wire()
    proto.connection_made(link)
    proto.data_received(ssi.ack(wire.SOURCE_DECODER).encode() * 2)  # the start-up commands' answers
    link.writes.clear()
    expected = []
    for n, (barcode_type, size, max_data) in enumerate(reads):
        data = bytes([0x41 + n % 26]) * size  # each read its own letter, so a tail cannot pass for another
        proto.data_received(noise + b"".join(p.encode() for p in ssi.decode_data(barcode_type, data, max_data)))
        if size <= bound:
            expected.append(data.decode())
    assert delivered == expected
    refusal = ssi.nak(wire.NAK_UNDESIRED).encode()
    assert link.writes.count(refusal) == proto.reads_refused == len(reads) - len(expected)
    assert proto.noise_bytes == len(noise) * len(reads)


def test_silent_scanner_cannot_grow_the_command_queue_without_bound() -> None:
    # Reads keep coming but the scanner never ACKs our beeps: feedback must not pile up forever.
    proto = SsiProtocol(ScannerProfile(name="zebra", good_read=("led_off:red", "beep:0")), BarcodeSettings(),
                        lambda scan: True)
    proto.connection_made(Wire())
    read = b"".join(p.encode() for p in ssi.decode_data(0x0B, b"5901234123457"))
    for _ in range(500):
        proto.data_received(read)
        proto.data_received(ssi.decode_data(0x0B, b"4006381333931")[0].encode())
    assert proto.scans == 1000
    assert len(proto._outbox) <= OUTBOX_BOUND  # noqa: SLF001
    # Every queued command then times out; the record of refused commands stays bounded too.
    for _ in range(6 * (OUTBOX_BOUND + 2)):
        proto.tick(time.monotonic() + 1000.0)
    assert len(proto._outbox) == 0  # noqa: SLF001
    assert 0 < len(proto.failed_commands) <= OUTBOX_BOUND


# --- interpretation ----------------------------------------------------------------

digits = st.text(string.digits, min_size=0, max_size=20)
ai_value = st.one_of(digits, st.text(string.ascii_letters + string.digits + "-./", max_size=25))
element = st.tuples(st.sampled_from(["01", "02", "10", "11", "15", "17", "21", "30", "37", "3103", "3922", "3932",
                                     "3102", "310", "392", "393", "8008", "99", "00", "7003"]), ai_value)
element_string = st.lists(element, min_size=1, max_size=5).map(
    lambda es: wire.GS.join(ai + value for ai, value in es))
digital_link = st.tuples(st.sampled_from(["https://id.gs1.org", "http://example.com/x", "https://a"]),
                         st.lists(st.tuples(st.sampled_from(["01", "10", "17", "21", "3103", "gtin", ""]), ai_value),
                                  max_size=4),
                         st.sampled_from(["", "?17=251231", "?3103=001500&10=AB", "?", "#x"])).map(
    lambda t: t[0] + "".join(f"/{k}/{v}" for k, v in t[1]) + t[2])
rcn_label = st.tuples(st.sampled_from(["02", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "04", "0490",
                                       "99", "981"]), st.text(string.digits, min_size=6, max_size=12)).map("".join)
aim = st.sampled_from(["", *sorted(wire.AIM_SYMBOLOGIES), "]X9", "]", "]E"])
symbologies = st.sampled_from(sorted({"unknown", "Code 128", "DataMatrix", "EAN add-on", *wire.AIM_SYMBOLOGIES.values(),
                                      *wire.SSI_BARCODE_TYPES.values()}))
barcode_settings = st.builds(BarcodeSettings, rcn_region=st.sampled_from([None, *RCN_REGIONS]))


@FUZZ
@given(text=st.one_of(element_string, digital_link, rcn_label, st.text(max_size=80)), prefix=aim,
       symbology=symbologies, barcodes=barcode_settings)
def test_interpret_reads_gs1_shaped_input_without_raising(text: str, prefix: str, symbology: str,
                                                          barcodes: BarcodeSettings) -> None:
    well_formed_scan(interpret(prefix + text, symbology, barcodes))


@FUZZ
@given(frame=st.one_of(st.binary(max_size=120), element_string.map(lambda s: s.encode("latin-1"))),
       with_aim=st.booleans(), symbology=symbologies, barcodes=barcode_settings)
def test_interpret_frame_takes_any_bytes(frame: bytes, with_aim: bool, symbology: str,
                                         barcodes: BarcodeSettings) -> None:
    well_formed_scan(interpret_frame(frame, barcodes, symbology, aim=with_aim))


def _gtin13(payload: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(payload))
    return payload + str((10 - total % 10) % 10)


@FUZZ
@given(prefix=st.sampled_from(["20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "02"]),
       body=st.text(string.digits, min_size=10, max_size=10), barcodes=barcode_settings)
def test_every_in_store_label_with_a_good_check_digit_reads_or_says_why(prefix: str, body: str,
                                                                       barcodes: BarcodeSettings) -> None:
    scan = interpret(_gtin13(prefix + body), "EAN-13", barcodes)
    well_formed_scan(scan)
    if scan.kind in ("priced", "weighed"):
        assert (scan.price_minor is not None) or (scan.weight_g is not None)
