"""Protocols with a recording transport (exact ACK/NAK/BEEP bytes), then through a reader over loop://."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
import serial

from firmware_bridge import ScannerBridge, Settings, ssi, wire
from firmware_bridge.protocol import RawLineProtocol, SsiProtocol, honeywell_feedback, ssi_feedback

H = bytes.fromhex
ACK = H("04 D0 04 00 FF 28")
NAK_RESEND = H("05 D1 04 00 01 FF 25")
NAK_UNDESIRED = H("05 D1 04 00 0A FF 1C")  # cause 10: an over-long read, not to be sent again
EAN13_PACKET = H("12 F3 00 00 0B 35 39 30 31 32 33 34 31 32 33 34 35 37 FC 52")
SCANNER_ACK = ssi.ack(wire.SOURCE_DECODER).encode()


def decode_packet(data: str, barcode_type: int = 0x0B) -> bytes:
    return ssi.decode_data(barcode_type, data.encode())[0].encode()


@pytest.fixture
def ssi_protocol(settings: Settings, make_recorder: Any, recording_transport: Any) -> tuple[SsiProtocol, Any, Any]:
    recorder = make_recorder(verdict=lambda scan: scan.kind != "invalid")
    proto = SsiProtocol(settings.scanner.profiles["zebra"], settings.barcodes, recorder.on_scan)
    proto.connection_made(recording_transport)
    # Start-up: PARAM_SEND 0xEE=1 (temporary) goes first, SCAN_ENABLE waits for its ACK.
    assert recording_transport.writes == [ssi.packeted_decode_on().encode()]
    proto.data_received(SCANNER_ACK)
    assert recording_transport.writes[-1] == ssi.host(wire.SCAN_ENABLE).encode()
    proto.data_received(SCANNER_ACK)
    recording_transport.writes.clear()
    return proto, recording_transport, recorder


def test_startup_switches_packeted_decode_on_then_enables_scanning(ssi_protocol: Any) -> None:
    proto, transport, _ = ssi_protocol
    assert proto._in_flight is None and transport.writes == []


def test_decode_data_is_acked_with_exact_bytes_and_delivered(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    proto.data_received(EAN13_PACKET)
    assert transport.writes[0] == ACK
    assert [(s.data, s.symbology, s.kind) for s in recorder.scans] == [("5901234123457", "EAN-13", "product")]


def test_good_read_sends_profile_feedback_one_command_at_a_time(ssi_protocol: Any) -> None:
    proto, transport, _ = ssi_protocol
    proto.data_received(EAN13_PACKET)
    # zebra profile: good_read = led_off:red, beep:0 -> ACK, LED_OFF red; BEEP waits for the LED_OFF ACK.
    assert transport.writes == [ACK, H("05 E8 04 00 02 FF 0D")]
    proto.data_received(SCANNER_ACK)
    assert transport.writes[-1] == H("05 E6 04 00 00 FF 11")


def test_bad_read_sends_bad_read_feedback(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    proto.data_received(decode_packet("5901234123458"))
    assert recorder.scans[0].kind == "invalid"
    assert transport.writes == [ACK, ssi.beep(wire.BEEP_SHORT_LOW).encode()]
    proto.data_received(SCANNER_ACK)
    assert transport.writes[-1] == ssi.led_on(wire.LED_RED).encode()


def test_bad_checksum_is_nakked_and_resent_packet_accepted(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    proto.data_received(EAN13_PACKET[:-1] + b"\x53")
    assert transport.writes == [NAK_RESEND] and recorder.scans == []
    # The scanner resends the same packet with the retransmission bit set.
    proto.data_received(ssi.decode_data(0x0B, b"5901234123457")[0].as_retransmission().encode())
    assert transport.writes[1] == ACK
    assert [s.data for s in recorder.scans] == ["5901234123457"]


def test_retransmission_after_lost_ack_is_acked_but_not_delivered_twice(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    packet = ssi.decode_data(0x0B, b"5901234123457")[0]
    proto.data_received(packet.encode())
    proto.data_received(packet.as_retransmission().encode())
    assert transport.writes.count(ACK) == 2
    assert len(recorder.scans) == 1 and proto.duplicates == 1


def test_second_identical_read_resent_after_bad_checksum_is_delivered(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    packet = ssi.decode_data(0x0B, b"5901234123457")[0]
    proto.data_received(packet.encode())  # the first tin: ACKed and remembered
    proto.data_received(EAN13_PACKET[:-1] + b"\x53")  # the second tin, hit on the wire
    assert NAK_RESEND in transport.writes
    # The scanner resends the second tin with the retransmission bit set: byte for byte what
    # a retransmission of the first would be, but the NAK said "send it again", so it is new.
    proto.data_received(packet.as_retransmission().encode())
    assert transport.writes.count(ACK) == 2
    assert [s.data for s in recorder.scans] == ["5901234123457"] * 2 and proto.duplicates == 0


def test_lost_ack_of_a_resent_read_is_answered_but_not_delivered_twice(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    packet = ssi.decode_data(0x0B, b"5901234123457")[0]
    proto.data_received(packet.encode())
    proto.data_received(EAN13_PACKET[:-1] + b"\x53")
    proto.data_received(packet.as_retransmission().encode())  # the resend: the second tin
    proto.data_received(packet.as_retransmission().encode())  # its ACK was lost: sent once more
    assert transport.writes.count(ACK) == 3
    assert len(recorder.scans) == 2 and proto.duplicates == 1


def test_identical_packets_of_one_read_survive_a_bad_checksum(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    parts = ssi.decode_data(0x1C, b"A" * 250, max_data=100)
    assert parts[0] == parts[1]  # two full packets of "A": the same bytes
    proto.data_received(parts[0].encode())
    bad = parts[1].encode()
    proto.data_received(bad[:-1] + bytes(((bad[-1] + 1) & 0xFF,)))
    proto.data_received(parts[1].as_retransmission().encode())
    proto.data_received(parts[2].encode())
    assert NAK_RESEND in transport.writes
    assert [s.data for s in recorder.scans] == ["A" * 250]


def test_same_barcode_read_twice_is_two_scans(ssi_protocol: Any) -> None:
    proto, _, recorder = ssi_protocol
    proto.data_received(EAN13_PACKET + EAN13_PACKET)  # two tins of beans: no retransmit bit
    assert len(recorder.scans) == 2


def test_multi_packet_decode_data_is_reassembled_and_each_packet_acked(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    data = b"0105901234123457" + b"10BATCH42\x1d" + b"17261130"
    parts = ssi.decode_data(0x0F, data, max_data=8)
    for part in parts:
        proto.data_received(part.encode())
    assert transport.writes[: len(parts)] == [ACK] * len(parts)
    scan = recorder.scans[0]
    assert (scan.symbology, scan.kind, scan.gtin, scan.batch, str(scan.expiry)) == (
        "GS1-128", "gs1", "5901234123457", "BATCH42", "2026-11-30")


@pytest.mark.parametrize(("type_byte", "symbology"), sorted(wire.SSI_BARCODE_TYPES.items()))
def test_barcode_type_byte_maps_to_symbology(ssi_protocol: Any, type_byte: int, symbology: str) -> None:
    proto, _, recorder = ssi_protocol
    proto.data_received(decode_packet("X", type_byte))
    assert recorder.scans[0].symbology == symbology


def over_long_read(barcode_type: int = 0x1C) -> list[ssi.Packet]:
    """A QR read of 1,500 bytes in 15 packets: the zebra profile's 1,024-byte bound is passed in the 11th."""
    parts = ssi.decode_data(barcode_type, b"A" * 1000 + b"TAIL" * 125, max_data=100)
    assert len(parts) == 15
    return parts


def test_over_long_read_is_refused_whole_with_one_nak_and_next_read_delivered(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    for part in over_long_read():
        proto.data_received(part.encode())
    # Every packet but the last is ACKed (so the scanner sends the read to its end); the
    # last carries the refusal. Nothing of the read, its tail included, becomes a scan.
    assert transport.writes == [ACK] * 14 + [NAK_UNDESIRED]
    assert recorder.scans == [] and proto.reads_refused == 1
    # The next read of the same type is a read of its own, delivered normally.
    good = b"https://example.com/" + b"x" * 280
    for part in ssi.decode_data(0x1C, good, max_data=100):
        proto.data_received(part.encode())
    assert transport.writes[15:18] == [ACK] * 3
    assert [(s.data, s.symbology) for s in recorder.scans] == [(good.decode(), "QR")]


def test_over_long_read_followed_by_a_one_packet_read_delivers_only_that_read(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    stream = b"".join(p.encode() for p in over_long_read(0x0B)) + EAN13_PACKET
    proto.data_received(stream)
    assert NAK_UNDESIRED in transport.writes
    assert [s.data for s in recorder.scans] == ["5901234123457"]


def test_refusal_sent_again_when_the_scanner_retransmits_the_refused_packet(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    parts = over_long_read()
    for part in parts:
        proto.data_received(part.encode())
    proto.data_received(parts[-1].as_retransmission().encode())  # our NAK was lost on the wire
    assert transport.writes[-2:] == [NAK_UNDESIRED, NAK_UNDESIRED]
    assert recorder.scans == [] and proto.duplicates == 1 and proto.reads_refused == 1


def test_over_long_read_is_logged_once_not_per_packet(ssi_protocol: Any, caplog: pytest.LogCaptureFixture) -> None:
    proto, _, _ = ssi_protocol
    with caplog.at_level(logging.ERROR, logger="firmware_bridge"):
        for part in over_long_read():
            proto.data_received(part.encode())
    assert [r.getMessage() for r in caplog.records] == [
        "scanner frame dropped: multi-packet DECODE_DATA over 1024 bytes dropped"]


def noise_counts(records: list[logging.LogRecord]) -> list[int]:
    """The byte counts of the noise summary lines among `records`."""
    found = [re.search(r"discarded (\d+) noise bytes in the last [\d.]+ s", r.getMessage()) for r in records]
    return [int(m.group(1)) for m in found if m]


def test_noise_bytes_are_logged_as_a_summary_not_one_line_each(ssi_protocol: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    proto, transport, recorder = ssi_protocol
    proto.noise.interval = 3600.0  # nothing in this test waits for it: tick() is told the time
    with caplog.at_level(logging.ERROR, logger="firmware_bridge"):
        for _ in range(2500):
            proto.data_received(b"\x00\x01\x02\x03")  # bytes that cannot start a packet, 10,000 of them
        assert len(caplog.records) == 1  # the first noise after a quiet spell, at once
        proto.tick(time.monotonic() + 7200.0)  # the interval is over: the rest in one line
        proto.tick(time.monotonic() + 7200.0)  # nothing new: nothing more
    assert len(caplog.records) == 2
    assert sum(noise_counts(caplog.records)) == 10_000 == proto.noise_bytes
    assert transport.writes == [] and recorder.scans == []
    proto.data_received(EAN13_PACKET)  # the line is clean again
    assert [s.data for s in recorder.scans] == ["5901234123457"]


def test_random_garbage_is_counted_and_logged_in_bounded_lines(ssi_protocol: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    proto, transport, recorder = ssi_protocol
    proto.noise.interval = 3600.0
    garbage = random.Random(23).randbytes(20_000)
    with caplog.at_level(logging.ERROR, logger="firmware_bridge"):
        for i in range(0, len(garbage), 7):
            proto.data_received(garbage[i : i + 7])
        proto.connection_lost(None)  # what was counted is reported, not lost with the port
    assert len(caplog.records) == 2
    # Every byte is accounted for: dropped as noise or held as the start of a claimed packet
    # when the port closed. Bad-checksum "packets" are NAKed for resending, as on a real line.
    held = len(garbage) - proto.noise_bytes
    assert 0 <= held <= wire.SSI_MAX_LENGTH + wire.SSI_CHECKSUM_LEN
    assert sum(noise_counts(caplog.records)) == proto.noise_bytes
    assert recorder.scans == [] and set(transport.writes) == {NAK_RESEND}
    assert proto.naks_sent == proto.noise.bad_packets_total == len(transport.writes) > 50


def test_scanner_nak_resend_makes_host_resend_command_with_retransmit_bit(ssi_protocol: Any) -> None:
    proto, transport, _ = ssi_protocol
    proto.send(ssi.beep(0))
    proto.data_received(ssi.nak(wire.NAK_RESEND, wire.SOURCE_DECODER).encode())
    assert transport.writes == [ssi.beep(0).encode(), ssi.beep(0).as_retransmission().encode()]


def test_scanner_nak_denied_drops_command_and_moves_on(ssi_protocol: Any) -> None:
    proto, transport, _ = ssi_protocol
    proto.send(ssi.beep(0))
    proto.send(ssi.host(wire.SCAN_DISABLE))
    proto.data_received(ssi.nak(wire.NAK_DENIED, wire.SOURCE_DECODER).encode())
    assert proto.failed_commands == [ssi.beep(0)]
    assert transport.writes[-1] == H("04 EA 04 00 FF 0E")


def test_unanswered_command_is_resent_after_timeout_then_given_up(ssi_protocol: Any) -> None:
    proto, transport, _ = ssi_protocol
    proto.send(ssi.host(wire.START_DECODE))
    start = proto._sent_at
    proto.tick(start + 0.1)  # inside the response timeout: nothing happens
    assert transport.writes == [H("04 E4 04 00 FF 14")]
    for n in range(1, proto.profile.retries + 2):
        proto.tick(start + 10.0 * n)
    assert transport.writes[1:] == [ssi.host(wire.START_DECODE).as_retransmission().encode()] * proto.profile.retries
    assert proto.failed_commands == [ssi.host(wire.START_DECODE)]


def test_host_sourced_packets_are_ignored(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    proto.data_received(ssi.Packet(wire.DECODE_DATA, wire.SOURCE_HOST, 0, b"\x0b5901234123457").encode())
    assert transport.writes == [] and recorder.scans == []


def test_connection_lost_drops_partial_packet_and_queued_feedback(ssi_protocol: Any) -> None:
    proto, transport, recorder = ssi_protocol
    proto.send(ssi.beep(0))
    proto.send(ssi.beep(1))
    proto.data_received(EAN13_PACKET[:7])
    proto.connection_lost(None)
    proto.connection_made(transport)
    proto.data_received(EAN13_PACKET)
    assert [s.data for s in recorder.scans] == ["5901234123457"]
    assert ssi.beep(1).encode() not in transport.writes


def test_callback_exception_does_not_stop_the_protocol(settings: Settings, recording_transport: Any) -> None:
    def boom(scan: Any) -> bool:
        raise RuntimeError("handheld bug")

    proto = RawLineProtocol(settings.scanner.profiles["default"], settings.barcodes, boom)
    proto.connection_made(recording_transport)
    proto.data_received(b"5901234123457\r4006381333931\r")
    assert proto.scans == 2


@pytest.mark.parametrize(("verdict", "expected"), [(True, b"\x1b7"), (False, b"\x1b8"), (None, b"")])
def test_honeywell_raw_profile_answers_each_read(settings: Settings, make_recorder: Any,
                                                 recording_transport: Any, verdict: bool | None, expected: bytes) -> None:
    recorder = make_recorder(verdict=verdict)
    proto = RawLineProtocol(settings.scanner.profiles["honeywell"], settings.barcodes, recorder.on_scan)
    proto.connection_made(recording_transport)
    proto.data_received(b"]E05901234123457\r")
    assert recorder.scans[0].symbology == "EAN-13"
    assert recording_transport.written == expected


def test_raw_profile_without_host_ack_sends_nothing(settings: Settings, make_recorder: Any, recording_transport: Any) -> None:
    recorder = make_recorder(verdict=True)
    proto = RawLineProtocol(settings.scanner.profiles["default"], settings.barcodes, recorder.on_scan)
    proto.connection_made(recording_transport)
    proto.data_received(b"5901234123457\r")
    assert recording_transport.written == b"" and len(recorder.scans) == 1


def test_raw_noise_is_counted_not_delivered(settings: Settings, make_recorder: Any, recording_transport: Any) -> None:
    recorder = make_recorder()
    proto = RawLineProtocol(settings.scanner.profiles["default"], settings.barcodes, recorder.on_scan)
    proto.connection_made(recording_transport)
    proto.data_received(b"\x00\x01\r59\x0701\r5901234123457\r")
    assert proto.frame_errors == 2 and [s.data for s in recorder.scans] == ["5901234123457"]


def test_feedback_actions_encode_to_wire_bytes() -> None:
    assert [p.encode() for p in ssi_feedback(("beep:0", "led_on:green"))] == [
        H("05 E6 04 00 00 FF 11"), H("05 E7 04 00 01 FF 0F")]
    assert honeywell_feedback(("esc:7", "esc:1")) == b"\x1b7\x1b1"


# --- through the reader thread over loop:// ----------------------------------------

def loop_bridge(loop_port: serial.SerialBase, protocol: str, profile: str, recorder: Any, settings: Settings,
                transports: list[Any], factory: Callable[..., Any]) -> ScannerBridge:
    def make_transport(port: serial.SerialBase) -> Any:
        transports.append(factory(port))
        return transports[-1]

    return ScannerBridge("loop://", protocol, settings.scanner.profiles[profile], settings.barcodes,
                         recorder.on_scan, recorder.on_status, opener=lambda: loop_port,
                         transport_factory=make_transport)


def test_raw_frames_written_into_loop_port_become_scans(loop_port: serial.SerialBase, settings: Settings,
                                                       recorder: Any, recording_transport: Any) -> None:
    transports: list[Any] = []
    with loop_bridge(loop_port, "raw", "default", recorder, settings, transports, type(recording_transport)) as bridge:
        assert bridge.wait_connected(5)
        loop_port.write(b"5901234" + b"123457\r" + b"]E0" + b"\r" + b"4006381333931\r")
        assert recorder.wait(3) == ["5901234123457", "]E0", "4006381333931"]
    assert bridge.connected is False


def test_ssi_over_loop_acks_with_exact_bytes(loop_port: serial.SerialBase, settings: Settings,
                                             recorder: Any, wait: Any, recording_transport: Any) -> None:
    transports: list[Any] = []
    with loop_bridge(loop_port, "ssi", "zebra", recorder, settings, transports, type(recording_transport)) as bridge:
        assert bridge.wait_connected(5)
        loop_port.write(SCANNER_ACK + SCANNER_ACK)  # answers to PARAM_SEND and SCAN_ENABLE
        assert wait(lambda: len(transports[0].writes) >= 2)
        loop_port.write(EAN13_PACKET)
        assert recorder.wait(1) == ["5901234123457"]
        assert wait(lambda: ACK in transports[0].writes)
        bridge.command("scan_disable")
        loop_port.write(SCANNER_ACK + SCANNER_ACK)  # for the LED_OFF and BEEP feedback
        assert wait(lambda: H("04 EA 04 00 FF 0E") in transports[0].writes)
    writes = transports[0].writes
    assert writes[:3] == [ssi.packeted_decode_on().encode(), H("04 E9 04 00 FF 0F"), ACK]


def test_command_needs_ssi(settings: Settings, recorder: Any) -> None:
    bridge = ScannerBridge("loop://", "raw", settings.scanner.profiles["default"], settings.barcodes, recorder.on_scan)
    with pytest.raises(Exception, match="needs the ssi protocol"):
        bridge.command("scan_disable")


def test_bridge_refuses_profile_feedback_the_protocol_cannot_send(settings: Settings, recorder: Any) -> None:
    with pytest.raises(ValueError, match="Honeywell raw-mode command"):
        ScannerBridge("loop://", "ssi", settings.scanner.profiles["honeywell"], settings.barcodes, recorder.on_scan)


@pytest.mark.parametrize(("name", "expected"), [("start_decode", b"\x16T\r"), ("stop_decode", b"\x16U\r")])
def test_honeywell_trigger_commands_are_sent_on_raw_profile(loop_port: serial.SerialBase, settings: Settings,
                                                            recorder: Any, wait: Any, recording_transport: Any,
                                                            name: str, expected: bytes) -> None:
    transports: list[Any] = []
    with loop_bridge(loop_port, "raw", "honeywell", recorder, settings, transports, type(recording_transport)) as bridge:
        assert bridge.wait_connected(5)
        bridge.command(name)
        assert transports[0].written == expected
        with pytest.raises(Exception, match="needs the ssi protocol"):
            bridge.command("scan_disable")


def test_unknown_command_is_refused(settings: Settings, recorder: Any) -> None:
    bridge = ScannerBridge("loop://", "ssi", settings.scanner.profiles["zebra"], settings.barcodes, recorder.on_scan)
    with pytest.raises(ValueError, match="unknown scanner command 'explode'"):
        bridge.command("explode")
