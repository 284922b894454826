"""Settings from plain dicts: defaults, the documented example, and errors that name the key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import firmware_bridge
from firmware_bridge import BarcodeSettings, LabelRule, ScannerProfile, ScannerSettings, Settings, default_settings

EXAMPLE = Path(firmware_bridge.__file__).with_name("config_example.toml")


def test_example_config_parses_to_the_coded_defaults() -> None:
    with EXAMPLE.open("rb") as fh:
        assert Settings.from_dict(tomllib.load(fh)) == default_settings()


def test_empty_config_gives_defaults() -> None:
    assert Settings.from_dict({}) == default_settings()


def test_defaults_have_gb_price_and_weight_rules() -> None:
    rules = default_settings().barcodes.rules
    assert [(r.name, r.prefixes, r.kind, r.value_check) for r in rules] == [
        ("gb-price", ("20",), "price", True), ("weight", ("21",), "weight", False)]


def test_profile_gives_pyserial_line_settings() -> None:
    profile = ScannerProfile.from_dict("scale", {"baudrate": 4800, "bytesize": 7, "parity": "E", "stopbits": 1})
    assert profile.serial_kwargs() == {"baudrate": 4800, "bytesize": 7, "parity": "E", "stopbits": 1,
                                       "xonxoff": False, "rtscts": False}


def test_aim_is_detected_unless_the_profile_says() -> None:
    assert ScannerProfile.from_dict("p", {}).aim is None
    assert (ScannerProfile.from_dict("p", {"aim": True}).aim, ScannerProfile.from_dict("p", {"aim": False}).aim) == \
        (True, False)
    with pytest.raises(ValueError, match="aim"):
        ScannerProfile.from_dict("p", {"aim": "sometimes"})


def test_honeywell_host_ack_defaults_to_esc_7_and_8() -> None:
    profile = ScannerProfile.from_dict("hw", {"host_ack": "honeywell"})
    assert (profile.good_read, profile.bad_read) == (("esc:7",), ("esc:8",))


def test_custom_profile_and_rule_are_read() -> None:
    s = Settings.from_dict({
        "scanner": {"port": "socket://scanner:4001", "protocol": "ssi", "profile": "ds",
                    "profiles": {"ds": {"baudrate": 115200, "good_read": ["beep:1"]}}},
        "barcodes": {"rcn_region": "none", "rules": [
            {"name": "de-weight", "prefix": "28", "kind": "weight", "item_digits": 4,
             "value_check": True, "value_digits": 5, "decimals": 3}]},
    })
    assert s.scanner.active_profile.baudrate == 115200 and s.scanner.port == "socket://scanner:4001"
    assert s.barcodes.rcn_region is None
    assert s.barcodes.rules[0].pattern == "28 IIII C WWWWW K"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"scanner": {"profiles": {"zebra": {"baudrate": "fast"}}}},
     "scanner.profiles.zebra.baudrate: must be one of 1200..115200, got 'fast'"),
    ({"scanner": {"profiles": {"zebra": {"baudrate": 9601}}}}, "scanner.profiles.zebra.baudrate"),
    ({"scanner": {"profiles": {"z": {"parity": "X"}}}}, "scanner.profiles.z.parity: must be one of"),
    ({"scanner": {"profiles": {"z": {"bytesize": 9}}}}, "scanner.profiles.z.bytesize"),
    ({"scanner": {"profiles": {"z": {"stopbits": 3}}}}, "scanner.profiles.z.stopbits"),
    ({"scanner": {"profiles": {"z": {"xonxoff": "yes"}}}}, "scanner.profiles.z.xonxoff: must be true or false"),
    ({"scanner": {"profiles": {"z": {"suffix": "TAB"}}}}, "scanner.profiles.z.suffix"),
    ({"scanner": {"profiles": {"z": {"prefix": "\r"}}}}, "scanner.profiles.z.prefix"),
    ({"scanner": {"profiles": {"z": {"host_ack": "zebra"}}}}, "scanner.profiles.z.host_ack"),
    ({"scanner": {"profiles": {"z": {"max_frame": 2}}}}, "scanner.profiles.z.max_frame"),
    ({"scanner": {"profiles": {"z": {"good_read": ["beep:99"]}}}}, "scanner.profiles.z.good_read[0]"),
    ({"scanner": {"profiles": {"z": {"bad_read": "beep:1"}}}}, "scanner.profiles.z.bad_read: must be a list"),
    ({"scanner": {"profiles": {"z": {"baud": 9600}}}}, "scanner.profiles.z.baud: unknown key"),
    ({"scanner": {"protocol": "usb"}}, "scanner.protocol: must be one of 'raw', 'ssi'"),
    ({"scanner": {"profile": "nope"}}, "scanner.profile: must name a [scanner.profiles.NAME]"),
    ({"scanner": {"port": ""}}, "scanner.port"),
    ({"scanner": {"reconnect_max": 0.0001}}, "scanner.reconnect_max"),
    ({"scanner": {"protocol": "ssi", "profile": "honeywell"}},
     "scanner.profiles.honeywell.good_read: 'esc:7' is a Honeywell raw-mode command"),
    ({"scanner": {"profiles": {"hw": {"host_ack": "honeywell", "good_read": ["beep:0"]}}, "profile": "hw"}},
     "scanner.profiles.hw.good_read: 'beep:0' is an SSI command"),
    ({"barcodes": {"rcn_region": "xx"}}, "barcodes.rcn_region"),
    ({"barcodes": {"card_prefix": "04A0"}}, "barcodes.card_prefix: must be a string of 2..5 digits"),
    ({"barcodes": {"coupon_prefixes": "99"}}, "barcodes.coupon_prefixes: must be a list"),
    ({"barcodes": {"colour": 1}}, "barcodes.colour: unknown key"),
    ({"barcodes": {"rules": {"name": "x"}}}, "barcodes.rules: must be an array of tables"),
    ({"barcodes": {"rules": [{"prefixes": ["20"]}]}}, "barcodes.rules[0].name"),
    ({"barcodes": {"rules": [{"name": "r", "prefixes": ["2a"]}]}}, "barcodes.rules[0].prefixes[0]"),
    ({"barcodes": {"rules": [{"name": "r", "prefixes": ["20", "291"]}]}}, "barcodes.rules[0].prefixes: must all have the same length"),
    ({"barcodes": {"rules": [{"name": "r", "prefix": "20", "kind": "count"}]}}, "barcodes.rules[0].kind"),
    ({"barcodes": {"rules": [{"name": "r", "prefix": "20", "kind": "price", "item_digits": 5, "value_digits": 4,
                              "decimals": 3}]}}, "barcodes.rules[0].decimals: must be an integer 0..2"),
    ({"barcodes": {"rules": [{"name": "r", "prefix": "20", "kind": "price", "item_digits": 5, "value_digits": 5,
                              "value_check": True}]}}, "barcodes.rules[0]: prefix + item_digits"),
    ({"barcodes": {"rules": [{"name": "r", "prefix": "20", "kind": "price", "item_digits": 4, "value_digits": 3,
                              "value_check": True}]}}, "barcodes.rules[0].value_check: needs value_digits 4 or 5"),
    ({"barcodes": {"rules": [{"name": "r", "prefix": "20", "kind": "price", "item_digits": 5, "value_digits": 5,
                              "colour": 1}]}}, "barcodes.rules[0].colour: unknown key"),
]


@pytest.mark.parametrize(("config", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_setting_raises_value_error_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Settings.from_dict(config)
    assert message in str(info.value)


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        default_settings().barcodes.card_prefix = "0491"  # type: ignore[misc]


def test_check_protocol_refuses_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="scanner.protocol"):
        ScannerProfile().check_protocol("usb")


def test_section_classes_build_alone() -> None:
    assert ScannerSettings.from_dict({}).active_profile.name == "default"
    assert BarcodeSettings.from_dict({"rules": []}).rules == ()
    assert LabelRule.from_dict({"name": "w", "prefixes": ["21", "22"], "kind": "weight", "item_digits": 5,
                                "value_digits": 5}, "r").decimals == 3


def test_public_api_names_are_exported() -> None:
    for name in ("ScannerBridge", "Scan", "interpret", "interpret_frame", "default_settings", "VirtualScanner",
                 "ScannerError", "FrameError", "ChecksumError", "PortGone", "ScannerProfile", "BarcodeSettings"):
        assert name in firmware_bridge.__all__ and hasattr(firmware_bridge, name)
    assert issubclass(firmware_bridge.ChecksumError, firmware_bridge.FrameError)
    assert issubclass(firmware_bridge.PortGone, firmware_bridge.ScannerError)
