"""End to end through a real pseudo-terminal: the virtual scanner and the bridge, raw and SSI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import serial

from firmware_bridge import ScannerBridge, Settings, VirtualScanner, ssi, wire

BASKET = ["5901234123457", "4006381333931", "0400000012346", "2012345601239", "2112345012346"]


def test_raw_scans_arrive_in_order_with_interpretation(scanner_pty: Any) -> None:
    vs, _, recorder = scanner_pty
    for code in BASKET:
        assert vs.scan(code)
    assert recorder.wait(len(BASKET)) == BASKET
    kinds = [s.kind for s in recorder.scans]
    assert kinds == ["product", "product", "product", "priced", "weighed"]


def test_raw_aim_identifier_names_the_symbology(make_virtual: Callable[..., VirtualScanner],
                                                make_bridge: Callable[..., ScannerBridge], recorder: Any) -> None:
    vs = make_virtual("raw", aim=True)
    bridge = make_bridge(vs.path, "raw", recorder, profile="honeywell")
    assert bridge.wait_connected(5)
    vs.scan("012345678905", "UPC-A")
    vs.scan("0105901234123457\x1d10ABC", "GS1-128")
    recorder.wait(2)
    assert [(s.symbology, s.gtin) for s in recorder.scans] == [("EAN-13", "0012345678905"), ("GS1-128", "5901234123457")]


def test_a_scanner_sending_aim_identifiers_unannounced_is_understood(
        make_virtual: Callable[..., VirtualScanner], make_bridge: Callable[..., ScannerBridge], recorder: Any) -> None:
    vs = make_virtual("raw", aim=True)
    bridge = make_bridge(vs.path, "raw", recorder)  # the default profile does not say whether it sends them
    assert bridge.wait_connected(5)
    vs.scan("5901234123457", "EAN-13")
    vs.scan("0105901234123457\x1d10ABC", "GS1-128")
    recorder.wait(2)
    assert [(s.kind, s.symbology, s.gtin) for s in recorder.scans] == [
        ("product", "EAN-13", "5901234123457"), ("gs1", "GS1-128", "5901234123457")]


def test_honeywell_host_ack_reaches_the_scanner(make_virtual: Callable[..., VirtualScanner],
                                                make_bridge: Callable[..., ScannerBridge], recorder: Any) -> None:
    vs = make_virtual("raw", aim=True)
    bridge = make_bridge(vs.path, "raw", recorder, profile="honeywell")
    assert bridge.wait_connected(5)
    vs.scan("5901234123457")
    vs.scan("5901234123458")
    assert vs.wait_for(lambda: len(vs.feedback) >= 2)
    assert vs.feedback == [("esc", "7"), ("esc", "8")]


def test_ssi_startup_enables_packeted_decode_and_scanning(ssi_pty: Any) -> None:
    vs, _, _ = ssi_pty
    assert vs.params == {wire.PARAM_DECODE_DATA_PACKET_FORMAT: 1}
    assert vs.scan_enabled


def test_ssi_scans_arrive_and_feedback_is_beeped(ssi_pty: Any) -> None:
    vs, _, recorder = ssi_pty
    vs.scan("5901234123457")
    vs.scan("5901234123458")
    assert recorder.wait(2) == ["5901234123457", "5901234123458"]
    assert vs.wait_for(lambda: len(vs.feedback) >= 4)
    assert vs.feedback == [("led_off", wire.LED_RED), ("beep", 0), ("beep", 5), ("led_on", wire.LED_RED)]
    assert vs.acks_received == 2 and vs.retransmissions == 0


def test_bad_checksum_is_nakked_and_resent(ssi_pty: Any) -> None:
    vs, bridge, recorder = ssi_pty
    vs.corrupt_next(1)
    vs.scan("4006381333931")
    assert recorder.wait(1) == ["4006381333931"]
    assert vs.wait_idle()
    assert vs.naks_received == 1 and vs.retransmissions == 1
    assert bridge.protocol.naks_sent == 1  # type: ignore[attr-defined]


def test_second_identical_tin_with_bad_checksum_is_resent_and_counted(ssi_pty: Any) -> None:
    vs, bridge, recorder = ssi_pty
    vs.scan("5901234123457")
    assert vs.wait_idle()
    vs.corrupt_next(1)
    vs.scan("5901234123457")  # the same tin again; its first send is hit on the wire
    assert vs.wait_idle()
    assert recorder.wait(2) == ["5901234123457", "5901234123457"]
    assert vs.naks_received == 1 and bridge.protocol.duplicates == 0  # type: ignore[attr-defined]


def test_lost_ack_makes_scanner_resend_but_scan_counts_once(ssi_pty: Any) -> None:
    vs, bridge, recorder = ssi_pty
    vs.ignore_acks(1)
    vs.scan("5901234123457")
    vs.scan("4006381333931")
    assert vs.wait_idle()
    assert recorder.wait(2) == ["5901234123457", "4006381333931"]
    assert vs.retransmissions >= 1
    assert bridge.protocol.duplicates >= 1  # type: ignore[attr-defined]


def test_scan_disable_is_obeyed_until_enabled(ssi_pty: Any) -> None:
    vs, bridge, recorder = ssi_pty
    bridge.command("scan_disable")
    assert vs.wait_for(lambda: not vs.scan_enabled)
    assert vs.scan("5901234123457") is False
    bridge.command("scan_enable")
    assert vs.wait_for(lambda: vs.scan_enabled)
    assert vs.scan("4006381333931") is True
    assert recorder.wait(1) == ["4006381333931"]


def test_long_gs1_read_crosses_pty_in_several_packets(make_virtual: Callable[..., VirtualScanner],
                                                     make_bridge: Callable[..., ScannerBridge], recorder: Any) -> None:
    vs = make_virtual("ssi", max_packet_data=8)
    make_bridge(vs.path, "ssi", recorder)
    assert vs.wait_for(lambda: vs.params.get(wire.PARAM_DECODE_DATA_PACKET_FORMAT) == 1)
    vs.scan("0105901234123457" "10LOT-2024-XY\x1d" "17261130" "3103000750", "GS1-128")
    recorder.wait(1)
    scan = recorder.scans[0]
    assert (scan.kind, scan.gtin, scan.batch, scan.weight_g) == ("gs1", "5901234123457", "LOT-2024-XY", 750)


def test_over_long_ssi_read_is_refused_over_the_pty_and_the_next_read_arrives(
        make_virtual: Callable[..., VirtualScanner], make_bridge: Callable[..., ScannerBridge], recorder: Any) -> None:
    vs = make_virtual("ssi", max_packet_data=100)
    bridge = make_bridge(vs.path, "ssi", recorder)  # zebra profile: reads of at most 1,024 bytes
    assert vs.wait_for(lambda: vs.params.get(wire.PARAM_DECODE_DATA_PACKET_FORMAT) == 1)
    vs.scan("A" * 1000 + "TAIL" * 125, "QR")  # 15 packets, over the bound in the 11th
    good = "https://example.com/" + "x" * 280
    vs.scan(good, "QR")
    assert vs.wait_idle()
    assert recorder.wait(1) == [good]
    # The scanner heard one refusal (not a resend request), and did not send the read again.
    assert (vs.naks_received, vs.retransmissions) == (1, 0)
    assert bridge.protocol.reads_refused == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", ["raw", "ssi"])
def test_unplug_and_replug_loses_and_doubles_nothing(protocol: str, make_virtual: Callable[..., VirtualScanner],
                                                     make_bridge: Callable[..., ScannerBridge], recorder: Any,
                                                     wait: Any) -> None:
    vs = make_virtual(protocol)
    bridge = make_bridge(vs.path, protocol, recorder)
    assert bridge.wait_connected(5)
    if protocol == "ssi":
        assert vs.wait_for(lambda: vs.params != {})
    vs.scan("5901234123457")
    vs.scan("4006381333931")
    assert recorder.wait(2) == ["5901234123457", "4006381333931"]
    vs.unplug()
    assert wait(lambda: not bridge.connected)
    assert any("gone" in s for s in recorder.statuses)
    vs.replug()
    assert wait(lambda: bridge.connects == 2)
    if protocol == "ssi":
        assert vs.wait_for(lambda: sum(p.opcode == wire.SCAN_ENABLE for p in vs.host_packets) == 2)
    vs.scan("0400000012346")
    vs.scan("5901234123457")
    assert recorder.wait(4) == ["5901234123457", "4006381333931", "0400000012346", "5901234123457"]


def test_ssi_read_whose_ack_was_lost_in_an_unplug_is_not_doubled(make_virtual: Callable[..., VirtualScanner],
                                                                make_bridge: Callable[..., ScannerBridge],
                                                                recorder: Any, wait: Any) -> None:
    vs = make_virtual("ssi", ack_timeout=5.0)
    bridge = make_bridge(vs.path, "ssi", recorder)
    assert vs.wait_for(lambda: vs.params != {})
    vs.ignore_acks(1)
    vs.scan("5901234123457")
    assert recorder.wait(1) == ["5901234123457"]
    vs.unplug()  # the scanner never heard the ACK; it will send the read again after replug
    assert wait(lambda: not bridge.connected)
    vs.replug()
    assert vs.wait_idle()
    vs.scan("4006381333931")
    assert vs.wait_idle()
    assert recorder.wait(2) == ["5901234123457", "4006381333931"]
    assert vs.retransmissions >= 1


def test_raw_frame_cut_by_unplug_is_dropped_not_glued_to_the_next(scanner_pty: Any, wait: Any) -> None:
    vs, bridge, recorder = scanner_pty
    vs.write_bytes(b"590123")
    vs.unplug()
    assert wait(lambda: not bridge.connected)
    vs.replug()
    assert wait(lambda: bridge.connects == 2)
    vs.scan("4006381333931")
    assert recorder.wait(1) == ["4006381333931"]


def test_bridge_started_before_the_scanner_waits_and_connects(tmp_path: Any, make_bridge: Callable[..., ScannerBridge],
                                                             recorder: Any, wait: Any) -> None:
    link = tmp_path / "late-scanner"
    bridge = make_bridge(str(link), "raw", recorder)
    assert wait(lambda: any("waiting for scanner" in s for s in recorder.statuses))
    assert not bridge.connected
    with VirtualScanner("raw", link=link) as vs:
        assert bridge.wait_connected(5)
        vs.scan("5901234123457")
        assert recorder.wait(1) == ["5901234123457"]


def test_stop_closes_the_port(scanner_pty: Any) -> None:
    _, bridge, _ = scanner_pty
    bridge.stop()
    assert bridge.connected is False


def test_bridge_from_settings_reads_the_configured_port(make_virtual: Callable[..., VirtualScanner],
                                                        recorder: Any) -> None:
    vs = make_virtual("raw")
    settings = Settings.from_dict({"scanner": {"port": vs.path, "protocol": "raw", "profile": "default"}})
    with ScannerBridge.from_settings(settings, recorder.on_scan, recorder.on_status) as bridge:
        assert bridge.wait_connected(5)
        vs.scan("5901234123457")
        assert recorder.wait(1) == ["5901234123457"]
    assert recorder.statuses[0] == f"connected to {vs.path}"


def test_reconnect_is_reported_to_on_status(scanner_pty: Any, wait: Any) -> None:
    vs, bridge, recorder = scanner_pty
    vs.unplug()
    vs.replug()
    assert wait(lambda: bridge.connects == 2)
    assert any(s.endswith("(reconnected)") for s in recorder.statuses)



def test_virtual_scanner_naks_a_corrupted_host_command_and_acks_a_good_one(
        make_virtual: Callable[..., VirtualScanner]) -> None:
    vs = make_virtual("ssi")
    host = serial.Serial(vs.path, 9600, timeout=2)
    try:
        bad = bytearray(ssi.beep(0).encode())
        bad[-1] ^= 0xFF
        host.write(bytes(bad))
        assert host.read(7) == ssi.nak(wire.NAK_RESEND, wire.SOURCE_DECODER).encode()
        host.write(ssi.beep(0).encode())
        assert host.read(6) == ssi.ack(wire.SOURCE_DECODER).encode()
        assert vs.wait_for(lambda: vs.feedback == [("beep", 0)])
    finally:
        host.close()
