"""Scanner and barcode settings: frozen dataclasses built from the parsed config.toml sections."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from . import wire
from .validate import (
    check_actions,
    check_baud,
    check_bool,
    check_choice,
    check_digits,
    check_float,
    check_int,
    check_prefix,
    fail,
)

PARITIES = ("N", "E", "O", "M", "S")
PROTOCOLS = ("raw", "ssi")
HOST_ACKS = ("none", "honeywell")
RCN_REGIONS = ("dk", "ee", "fi", "de", "gb", "lv", "lt", "no", "se")  # biip.rcn.RcnRegion values


def _known_keys(where: str, data: Mapping[str, Any], cls: type) -> None:
    allowed = {f.name for f in fields(cls)}
    # A profile's name is its table key; a rule may say `prefix = "20"` for one prefix.
    allowed = allowed - {"name"} if cls is ScannerProfile else allowed | {"prefix"}
    for key in data:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown key (known: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class ScannerProfile:
    """Line settings, framing and feedback for one scanner model."""

    name: str = "default"
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False
    suffix: str = "CR"
    prefix: str = ""
    aim: bool | None = None  # raw: True every read has an AIM identifier, False none, None: recognised when present
    host_ack: str = "none"
    max_frame: int = 1024
    good_read: tuple[str, ...] = ("beep:0",)
    bad_read: tuple[str, ...] = ("beep:5",)
    response_timeout: float = 2.0
    retries: int = 3

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], where: str | None = None) -> ScannerProfile:
        """Build and validate a profile from a `[scanner.profiles.NAME]` table."""
        w = where or f"scanner.profiles.{name}"
        _known_keys(w, data, cls)
        d = cls()
        host_ack = check_choice(f"{w}.host_ack", data.get("host_ack", d.host_ack), HOST_ACKS)
        default_good, default_bad = (("esc:7",), ("esc:8",)) if host_ack == "honeywell" else (d.good_read, d.bad_read)
        return cls(
            name=name,
            baudrate=check_baud(f"{w}.baudrate", data.get("baudrate", d.baudrate)),
            bytesize=check_choice(f"{w}.bytesize", data.get("bytesize", d.bytesize), (5, 6, 7, 8)),
            parity=check_choice(f"{w}.parity", data.get("parity", d.parity), PARITIES),
            stopbits=check_choice(f"{w}.stopbits", data.get("stopbits", d.stopbits), (1, 1.5, 2)),
            xonxoff=check_bool(f"{w}.xonxoff", data.get("xonxoff", d.xonxoff)),
            rtscts=check_bool(f"{w}.rtscts", data.get("rtscts", d.rtscts)),
            suffix=check_choice(f"{w}.suffix", data.get("suffix", d.suffix), tuple(wire.SUFFIXES)),
            prefix=check_prefix(f"{w}.prefix", data.get("prefix", d.prefix)),
            aim=None if data.get("aim") is None else check_bool(f"{w}.aim", data["aim"]),
            host_ack=host_ack,
            max_frame=check_int(f"{w}.max_frame", data.get("max_frame", d.max_frame), 16, 65536),
            good_read=check_actions(f"{w}.good_read", data.get("good_read", default_good)),
            bad_read=check_actions(f"{w}.bad_read", data.get("bad_read", default_bad)),
            response_timeout=check_float(f"{w}.response_timeout", data.get("response_timeout", d.response_timeout), 0.01, 60),
            retries=check_int(f"{w}.retries", data.get("retries", d.retries), 0, 10),
        )

    @property
    def suffix_bytes(self) -> bytes:
        return wire.SUFFIXES[self.suffix]

    @property
    def prefix_bytes(self) -> bytes:
        return self.prefix.encode("latin-1")

    def serial_kwargs(self) -> dict[str, Any]:
        """Return the pyserial keyword arguments for this profile's line settings."""
        return {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": self.stopbits,
            "xonxoff": self.xonxoff,
            "rtscts": self.rtscts,
        }

    def check_protocol(self, protocol: str) -> None:
        """Raise ValueError if this profile's feedback cannot be sent over `protocol`."""
        check_choice("scanner.protocol", protocol, PROTOCOLS)
        for key in ("good_read", "bad_read"):
            for action in getattr(self, key):
                is_esc = action.startswith("esc:")
                if protocol == "ssi" and is_esc:
                    raise ValueError(f"scanner.profiles.{self.name}.{key}: {action!r} is a Honeywell raw-mode command, not SSI")
                if protocol == "raw" and self.host_ack == "honeywell" and not is_esc:
                    raise ValueError(f"scanner.profiles.{self.name}.{key}: {action!r} is an SSI command; host_ack 'honeywell' takes esc:N")


@dataclass(frozen=True)
class LabelRule:
    """An in-store price or weight label: prefix, item digits, [price check digit], value digits, check digit."""

    name: str
    prefixes: tuple[str, ...]
    kind: str  # "price" (value in pence after decimals) or "weight" (grams after decimals)
    item_digits: int
    value_digits: int
    decimals: int
    value_check: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> LabelRule:
        """Build and validate a rule from one `[[barcodes.rules]]` table."""
        _known_keys(where, data, cls)
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise fail(f"{where}.name", "must be a non-empty string", name)
        raw = data.get("prefixes", data.get("prefix"))
        raw_list = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw_list, list) or not raw_list:
            raise fail(f"{where}.prefixes", "must be a digit string or a list of them", raw)
        prefixes = tuple(check_digits(f"{where}.prefixes[{i}]", p, 1, 4) for i, p in enumerate(raw_list))
        if len({len(p) for p in prefixes}) != 1:
            raise fail(f"{where}.prefixes", "must all have the same length", raw)
        kind = check_choice(f"{where}.kind", data.get("kind"), ("price", "weight"))
        item = check_int(f"{where}.item_digits", data.get("item_digits"), 1, 10)
        value = check_int(f"{where}.value_digits", data.get("value_digits"), 1, 6)
        max_dec = 2 if kind == "price" else 3  # pence and grams must stay whole numbers
        decimals = check_int(f"{where}.decimals", data.get("decimals", max_dec), 0, max_dec)
        check = check_bool(f"{where}.value_check", data.get("value_check", False))
        if check and value not in (4, 5):
            raise fail(f"{where}.value_check", "needs value_digits 4 or 5 (GS1 price/weight check digit)", check)
        total = len(prefixes[0]) + item + int(check) + value + 1
        if total != 13:
            raise fail(f"{where}", f"prefix + item_digits + value_check + value_digits + check digit must be 13 digits, not {total}", dict(data))
        return cls(name, prefixes, kind, item, value, decimals, check)

    @property
    def pattern(self) -> str:
        """The layout in GS1 notation, e.g. `20 IIIII C PPPP K`."""
        value = ("P" if self.kind == "price" else "W") * self.value_digits
        parts = [self.prefixes[0], "I" * self.item_digits] + (["C"] if self.value_check else []) + [value, "K"]
        return " ".join(parts)


GB_PRICE_RULE = LabelRule("gb-price", ("20",), "price", 5, 4, 2, True)  # 20 IIIII C PPPP K
WEIGHT_RULE = LabelRule("weight", ("21",), "weight", 5, 5, 3, False)  # 21 IIIII WWWWW K


@dataclass(frozen=True)
class BarcodeSettings:
    """How barcodes are read in this store: RCN region, company prefixes, in-store label rules."""

    rcn_region: str | None = "gb"
    product_prefix: str = "0400"
    card_prefix: str = "0490"
    coupon_prefixes: tuple[str, ...] = ("99", "981", "982", "983")
    rules: tuple[LabelRule, ...] = (GB_PRICE_RULE, WEIGHT_RULE)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "barcodes") -> BarcodeSettings:
        """Build and validate from the `[barcodes]` table (with its `[[barcodes.rules]]`)."""
        for key in data:
            if key not in {f.name for f in fields(cls)}:
                raise ValueError(f"{where}.{key}: unknown key")
        d = cls()
        region = data.get("rcn_region", d.rcn_region)
        if region in ("", "none"):
            region = None
        if region is not None:
            region = check_choice(f"{where}.rcn_region", region, RCN_REGIONS)
        coupons = data.get("coupon_prefixes", list(d.coupon_prefixes))
        if not isinstance(coupons, list):
            raise fail(f"{where}.coupon_prefixes", "must be a list of digit strings", coupons)
        rules_raw = data.get("rules", None)
        if rules_raw is None:
            rules = d.rules
        elif isinstance(rules_raw, list):
            rules = tuple(LabelRule.from_dict(r, f"{where}.rules[{i}]") for i, r in enumerate(rules_raw))
        else:
            raise fail(f"{where}.rules", "must be an array of tables ([[barcodes.rules]])", rules_raw)
        return cls(
            rcn_region=region,
            product_prefix=check_digits(f"{where}.product_prefix", data.get("product_prefix", d.product_prefix), 2, 5),
            card_prefix=check_digits(f"{where}.card_prefix", data.get("card_prefix", d.card_prefix), 2, 5),
            coupon_prefixes=tuple(check_digits(f"{where}.coupon_prefixes[{i}]", c, 1, 4) for i, c in enumerate(coupons)),
            rules=rules,
        )


def _default_profiles() -> dict[str, ScannerProfile]:
    return {
        "default": ScannerProfile(name="default"),
        "zebra": ScannerProfile(
            name="zebra",
            good_read=("led_off:red", "beep:0"),
            bad_read=("beep:5", "led_on:red"),
        ),
        "honeywell": ScannerProfile(
            name="honeywell", aim=True, host_ack="honeywell", good_read=("esc:7",), bad_read=("esc:8",)
        ),
    }


@dataclass(frozen=True)
class ScannerSettings:
    """The `[scanner]` section: which port, which protocol, which profile, and all profiles."""

    port: str = "/dev/ttyACM0"
    protocol: str = "raw"
    profile: str = "default"
    reconnect_initial: float = 0.05
    reconnect_max: float = 2.0
    profiles: Mapping[str, ScannerProfile] = field(default_factory=_default_profiles)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "scanner") -> ScannerSettings:
        """Build and validate from the `[scanner]` table (with its `[scanner.profiles.*]`)."""
        for key in data:
            if key not in {f.name for f in fields(cls)}:
                raise ValueError(f"{where}.{key}: unknown key")
        d = cls()
        port = data.get("port", d.port)
        if not isinstance(port, str) or not port:
            raise fail(f"{where}.port", "must be a device path or a pyserial URL", port)
        profiles = dict(d.profiles)
        raw_profiles = data.get("profiles", {})
        if not isinstance(raw_profiles, Mapping):
            raise fail(f"{where}.profiles", "must be a table of [scanner.profiles.NAME]", raw_profiles)
        for name, table in raw_profiles.items():
            if not isinstance(table, Mapping):
                raise fail(f"{where}.profiles.{name}", "must be a table", table)
            profiles[name] = ScannerProfile.from_dict(name, table, f"{where}.profiles.{name}")
        profile = data.get("profile", d.profile)
        if profile not in profiles:
            raise fail(f"{where}.profile", "must name a [scanner.profiles.NAME] table (" + ", ".join(sorted(profiles)) + ")", profile)
        protocol = check_choice(f"{where}.protocol", data.get("protocol", d.protocol), PROTOCOLS)
        initial = check_float(f"{where}.reconnect_initial", data.get("reconnect_initial", d.reconnect_initial), 0.001, 60)
        maximum = check_float(f"{where}.reconnect_max", data.get("reconnect_max", d.reconnect_max), initial, 600)
        profiles[profile].check_protocol(protocol)
        return cls(port, protocol, profile, initial, maximum, profiles)

    @property
    def active_profile(self) -> ScannerProfile:
        return self.profiles[self.profile]


@dataclass(frozen=True)
class Settings:
    """Everything firmware_bridge reads from config.toml."""

    scanner: ScannerSettings = field(default_factory=ScannerSettings)
    barcodes: BarcodeSettings = field(default_factory=BarcodeSettings)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Settings:
        """Build from a whole parsed config.toml (other sections are ignored)."""
        return cls(
            scanner=ScannerSettings.from_dict(config.get("scanner", {})),
            barcodes=BarcodeSettings.from_dict(config.get("barcodes", {})),
        )


def default_settings() -> Settings:
    """Return the built-in defaults, the same values config_example.toml documents."""
    return Settings()
