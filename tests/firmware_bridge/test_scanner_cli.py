"""The `scanner` click group and the plain functions under it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from firmware_bridge import Settings, VirtualScanner, default_settings, wire
from firmware_bridge.cli import listen, replay_lines, run_virtual, scanner, settings_from


def scan_when_bridge_ready(vs: VirtualScanner, codes: list[str]) -> threading.Thread:
    def go() -> None:
        if vs.wait_for(lambda: vs.params.get(wire.PARAM_DECODE_DATA_PACKET_FORMAT) == 1, 10):
            for code in codes:
                vs.scan(code)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def test_listen_prints_one_json_object_per_scan(make_virtual: Callable[..., VirtualScanner], settings: Settings) -> None:
    vs = make_virtual("ssi")
    scan_when_bridge_ready(vs, ["5901234123457", "5901234123458"])
    out = io.StringIO()
    count = listen(settings, vs.path, "ssi", "zebra", True, out, threading.Event(), max_scans=2)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == 2
    assert rows[0] == {"data": "5901234123457", "symbology": "EAN-13", "kind": "product", "gtin": "5901234123457",
                       "price_minor": None, "weight_g": None, "error": None}
    assert rows[1]["kind"] == "invalid" and "bad check digit" in rows[1]["error"]


def test_listen_command_acknowledges_ssi_and_prints_json(make_virtual: Callable[..., VirtualScanner]) -> None:
    vs = make_virtual("ssi")
    scan_when_bridge_ready(vs, ["2012345601239"])
    result = CliRunner().invoke(scanner, ["listen", "--port", vs.path, "--protocol", "ssi", "--profile", "zebra",
                                          "--json", "--count", "1"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.splitlines()[-1])
    assert (row["kind"], row["price_minor"], row["gtin"]) == ("priced", 123, "2012345000001")
    assert vs.wait_idle() and vs.acks_received == 1


def test_listen_command_refuses_unknown_profile() -> None:
    result = CliRunner().invoke(scanner, ["listen", "--port", "loop://", "--profile", "nope"])
    assert result.exit_code == 2 and "no profile 'nope'" in result.output


def test_listen_command_refuses_profile_protocol_mismatch() -> None:
    result = CliRunner().invoke(scanner, ["listen", "--port", "loop://", "--protocol", "ssi", "--profile", "honeywell"])
    assert result.exit_code == 2 and "Honeywell raw-mode command" in result.output


def test_virtual_command_prints_device_and_sends_replay(tmp_path: Path) -> None:
    replay = tmp_path / "basket.txt"
    replay.write_text("# a basket\n5901234123457\n\n0105901234123457<GS>10ABC\tGS1-128\n")
    result = CliRunner().invoke(scanner, ["virtual", "--protocol", "raw", "--aim", "--replay", str(replay)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: /dev/pts/")
    assert lines[1:] == ["sent '5901234123457'", "sent '0105901234123457\\x1d10ABC'"]


def test_replay_with_unplug_reaches_the_bridge_once_each(make_virtual: Callable[..., VirtualScanner],
                                                        make_bridge: Callable[..., Any], recorder: Any, wait: Any) -> None:
    vs = make_virtual("raw")
    bridge = make_bridge(vs.path, "raw", recorder)
    assert bridge.wait_connected(5)
    out = io.StringIO()
    assert run_virtual(vs, ["5901234123457"], 0, out) == 1
    assert recorder.wait(1) == ["5901234123457"]  # bytes still in the pty when unplugged are lost, as on a wire
    assert run_virtual(vs, ["!unplug", "4006381333931", "!replug"], 0, out) == 0
    assert "not sent" in out.getvalue()
    assert wait(lambda: bridge.connects == 2)
    assert run_virtual(vs, ["4006381333931"], 0, out) == 1
    assert recorder.wait(2) == ["5901234123457", "4006381333931"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("5901234123457", [("5901234123457", None)]),
        ("5901234123457\tEAN-13", [("5901234123457", "EAN-13")]),
        ("01059<GS>10A", [("01059\x1d10A", None)]),
        ("# comment", []),
        ("   ", []),
        ("!sleep 0.5", [("sleep 0.5", "!")]),
    ],
)
def test_replay_lines_are_parsed(line: str, expected: list[tuple[str, str | None]]) -> None:
    assert list(replay_lines([line + "\n"])) == expected


def test_settings_come_from_click_context_object() -> None:
    custom = Settings.from_dict({"barcodes": {"card_prefix": "0491"}})
    assert settings_from(custom) is custom
    assert settings_from({"settings": custom}) is custom
    assert settings_from(type("Obj", (), {"settings": custom})()) is custom
    assert settings_from(None) == default_settings()


def test_settings_come_from_parsed_config_on_the_context() -> None:
    cfg = {"database": {"url": "sqlite://"}, "barcodes": {"card_prefix": "0491"}}
    assert settings_from(cfg).barcodes.card_prefix == "0491"
    assert settings_from(type("Ctx", (), {"cfg": cfg})()).barcodes.card_prefix == "0491"


def test_bad_config_on_the_context_is_a_click_error_naming_the_key() -> None:
    with pytest.raises(click.ClickException, match="barcodes.card_prefix"):
        settings_from({"barcodes": {"card_prefix": "x"}})


def test_listen_uses_the_port_from_the_context_config(make_virtual: Callable[..., VirtualScanner]) -> None:
    vs = make_virtual("ssi")
    scan_when_bridge_ready(vs, ["5901234123457"])
    cfg = {"scanner": {"port": vs.path, "protocol": "ssi", "profile": "zebra"}}
    result = CliRunner().invoke(scanner, ["listen", "--json", "--count", "1"], obj=type("Ctx", (), {"cfg": cfg})())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["gtin"] == "5901234123457"


def test_scanner_is_a_click_group_named_scanner() -> None:
    assert isinstance(scanner, click.Group) and scanner.name == "scanner"
    assert set(scanner.commands) == {"listen", "virtual"}
