"""SSI packets as pure bytes: worked packets from SCANNERS.md, checksums, stream parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import ChecksumError, FrameError, LineNoise, ReadTooLong, ssi, wire

H = bytes.fromhex

WORKED = [
    ("host CMD_ACK", ssi.ack(), "04 D0 04 00 FF 28"),
    ("START_DECODE", ssi.host(wire.START_DECODE), "04 E4 04 00 FF 14"),
    ("SCAN_ENABLE", ssi.host(wire.SCAN_ENABLE), "04 E9 04 00 FF 0F"),
    ("SCAN_DISABLE", ssi.host(wire.SCAN_DISABLE), "04 EA 04 00 FF 0E"),
    ("BEEP code 0", ssi.beep(0), "05 E6 04 00 00 FF 11"),
    ("LED_ON green", ssi.led_on(wire.LED_GREEN), "05 E7 04 00 01 FF 0F"),
    ("CMD_NAK resend", ssi.nak(wire.NAK_RESEND), "05 D1 04 00 01 FF 25"),
    ("PARAM_SEND packeted decode on, permanent", ssi.packeted_decode_on(permanent=True), "07 C6 04 08 FF EE 01 FD 39"),
    ("DECODE_DATA EAN-13", ssi.decode_data(0x0B, b"5901234123457")[0],
     "12 F3 00 00 0B 35 39 30 31 32 33 34 31 32 33 34 35 37 FC 52"),
]


@pytest.mark.parametrize(("name", "packet", "hex_bytes"), WORKED, ids=[w[0] for w in WORKED])
def test_worked_packet_encodes_to_reference_bytes(name: str, packet: ssi.Packet, hex_bytes: str) -> None:
    assert packet.encode() == H(hex_bytes)


@pytest.mark.parametrize(("name", "packet", "hex_bytes"), WORKED, ids=[w[0] for w in WORKED])
def test_worked_packet_decodes_to_same_packet(name: str, packet: ssi.Packet, hex_bytes: str) -> None:
    assert ssi.decode_packet(H(hex_bytes)) == packet


def test_checksum_is_twos_complement_not_sum_mod_255() -> None:
    body = H("12 F3 00 00 0B 35 39 30 31 32 33 34 31 32 33 34 35 37")
    assert sum(body) > 255  # the case the sum % 255 bug gets wrong
    assert ssi.checksum(body) == 0xFC52
    assert ssi.checksum(body) != sum(body) % 255


def test_checksum_plus_sum_is_zero_mod_65536() -> None:
    body = bytes(range(200))
    assert (sum(body) + ssi.checksum(body)) & 0xFFFF == 0


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        ("04 D0 04 00 FF 29", ChecksumError, "checksum 0xFF29, expected 0xFF28"),
        ("04 D0 04 00 28 FF", ChecksumError, "checksum"),
        ("04 D0 04", FrameError, "too short"),
        ("03 D0 04 00 FF 29", FrameError, "length byte 3"),
        ("05 D0 04 00 FF 28", FrameError, "does not match"),
    ],
)
def test_bad_packet_is_rejected_with_reason(raw: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ssi.decode_packet(H(raw))


def test_packet_over_255_bytes_cannot_be_encoded() -> None:
    with pytest.raises(FrameError, match="too long"):
        ssi.Packet(wire.DECODE_DATA, 0, 0, bytes(252)).encode()


def test_beep_code_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="beep code"):
        ssi.beep(0x1B)


def test_retransmission_sets_bit_zero_and_keeps_identity() -> None:
    packet = ssi.decode_data(0x0B, b"5901234123457")[0]
    again = packet.as_retransmission()
    assert again.status == wire.STATUS_RETRANSMIT and again.retransmit
    assert again.identity() == packet.identity()
    assert again.encode()[3] == 0x01


STREAM = b"".join(H(w[2]) for w in WORKED)


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_parser_splits_stream_at_every_offset(cut: int) -> None:
    parser = ssi.PacketParser()
    got = list(parser.feed(STREAM[:cut])) + list(parser.feed(STREAM[cut:]))
    assert got == [w[1] for w in WORKED]
    assert parser.pending == 0


def test_parser_byte_by_byte_yields_every_packet() -> None:
    parser = ssi.PacketParser()
    got = [item for b in STREAM for item in parser.feed(bytes([b]))]
    assert got == [w[1] for w in WORKED]


def test_parser_reports_bad_checksum_and_resyncs_on_next_packet() -> None:
    bad = bytearray(H(WORKED[-1][2]))
    bad[6] ^= 0x01  # a flipped data bit
    parser = ssi.PacketParser()
    items = list(parser.feed(bytes(bad) + H("04 D0 04 00 FF 28")))
    assert isinstance(items[0], ChecksumError) and items[0].packet == bytes(bad)
    assert items[1] == ssi.ack()


def test_parser_drops_noise_bytes_that_cannot_be_a_length() -> None:
    parser = ssi.PacketParser()
    items = list(parser.feed(b"\x00\x01\x02\x03" + H("04 D0 04 00 FF 28")))
    assert [type(i) for i in items] == [LineNoise, ssi.Packet]
    assert isinstance(items[0], LineNoise) and items[0].count == 4


def test_parser_reports_a_run_of_noise_once_with_its_length() -> None:
    parser = ssi.PacketParser()
    items = list(parser.feed(bytes(5000) + H("04 D0 04 00 FF 28") + b"\x01\x02"))
    assert [(type(i), getattr(i, "count", None)) for i in items] == [(LineNoise, 5000), (ssi.Packet, None),
                                                                     (LineNoise, 2)]
    assert parser.pending == 0


def test_parser_reset_forgets_partial_packet() -> None:
    parser = ssi.PacketParser()
    assert list(parser.feed(H("12 F3 00 00 0B 35"))) == []
    parser.reset()
    assert list(parser.feed(H("04 D0 04 00 FF 28"))) == [ssi.ack()]


packets = st.builds(
    ssi.Packet,
    opcode=st.sampled_from(sorted(wire.OPCODE_NAMES)),
    source=st.sampled_from([wire.SOURCE_DECODER, wire.SOURCE_HOST]),
    status=st.integers(0, 0x0F),
    data=st.binary(max_size=60),
)


@settings(deadline=None, max_examples=200)
@given(items=st.lists(packets, max_size=8), cuts=st.lists(st.integers(0, 600), max_size=6),
       noise=st.binary(max_size=6).map(lambda b: bytes(x & 0x03 for x in b)))
def test_generated_streams_split_anywhere_give_back_every_packet(
    items: list[ssi.Packet], cuts: list[int], noise: bytes
) -> None:
    stream = noise + b"".join(p.encode() for p in items)
    parser = ssi.PacketParser()
    got: list[ssi.Packet] = []
    last = 0
    for cut in sorted(c for c in cuts if c <= len(stream)) + [len(stream)]:
        got += [i for i in parser.feed(stream[last:cut]) if isinstance(i, ssi.Packet)]
        last = cut
    assert got == items


@settings(deadline=None, max_examples=200)
@given(garbage=st.lists(st.binary(max_size=300), max_size=5))
def test_arbitrary_bytes_never_crash_and_memory_stays_bounded(garbage: list[bytes]) -> None:
    parser = ssi.PacketParser()
    for chunk in garbage:
        for _ in parser.feed(chunk):
            pass
        assert parser.pending <= wire.SSI_MAX_LENGTH + wire.SSI_CHECKSUM_LEN


def test_multi_packet_decode_is_reassembled() -> None:
    data = b"0105901234123457" + b"10" + b"B" * 40
    parts = ssi.decode_data(0x0F, data, max_data=10)
    assert len(parts) == 6
    assert all(p.continuation for p in parts[:-1]) and not parts[-1].continuation
    assembler = ssi.DecodeAssembler()
    results = [assembler.add(p) for p in parts]
    assert results[:-1] == [None] * 5
    assert results[-1] == (0x0F, data)


def test_interrupted_multi_packet_read_is_dropped_and_new_read_kept() -> None:
    assembler = ssi.DecodeAssembler()
    first = ssi.decode_data(0x0F, b"A" * 30, max_data=10)
    assert assembler.add(first[0]) is None
    assert assembler.add(ssi.decode_data(0x0B, b"5901234123457")[0]) == (0x0B, b"5901234123457")
    assert assembler.dropped == 1


def test_multi_packet_read_over_bound_is_dropped() -> None:
    assembler = ssi.DecodeAssembler(max_bytes=20)
    parts = ssi.decode_data(0x0F, b"A" * 30, max_data=10)
    assert assembler.add(parts[0]) is None
    assert assembler.add(parts[1]) is None
    with pytest.raises(FrameError, match="over 20 bytes"):
        assembler.add(parts[2])


def test_over_long_read_is_refused_to_its_last_packet_and_its_tail_never_returned() -> None:
    assembler = ssi.DecodeAssembler(max_bytes=20)
    parts = ssi.decode_data(0x0F, b"A" * 25 + b"TAIL" * 5, max_data=10)  # 5 packets; the third passes 20
    outcomes = []
    for part in parts:
        try:
            outcomes.append(assembler.add(part))
        except ReadTooLong as exc:
            outcomes.append("first" if exc.first else "rest")
    assert outcomes == [None, None, "first", "rest", "rest"]
    assert not assembler.refusing
    # The next read of the same type is new and whole.
    assert [assembler.add(p) for p in ssi.decode_data(0x0F, b"B" * 15, max_data=10)] == [None, (0x0F, b"B" * 15)]


def test_one_packet_read_over_bound_is_refused_without_refusing_the_next() -> None:
    assembler = ssi.DecodeAssembler(max_bytes=20)
    with pytest.raises(ReadTooLong) as refused:
        assembler.add(ssi.decode_data(0x0F, b"A" * 21)[0])
    assert refused.value.first and not assembler.refusing
    assert assembler.add(ssi.decode_data(0x0F, b"B" * 20)[0]) == (0x0F, b"B" * 20)


def test_read_of_another_type_ends_the_refusal_of_an_unfinished_over_long_read() -> None:
    assembler = ssi.DecodeAssembler(max_bytes=20)
    parts = ssi.decode_data(0x0F, b"A" * 50, max_data=10)
    for part in parts[:2]:
        assembler.add(part)
    with pytest.raises(ReadTooLong):
        assembler.add(parts[2])
    assert assembler.refusing  # parts[3:] never come: the scanner gave the read up
    assert assembler.add(ssi.decode_data(0x0B, b"5901234123457")[0]) == (0x0B, b"5901234123457")
    assert not assembler.refusing


def test_decode_data_without_type_byte_is_a_frame_error() -> None:
    with pytest.raises(FrameError, match="barcode type"):
        ssi.DecodeAssembler().add(ssi.Packet(wire.DECODE_DATA, 0, 0, b""))
