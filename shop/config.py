"""config.toml, the one file every part of ShopGo reads: defaults, then the file, then
SHOPGO_<SECTION>_<KEY> variables, each key checked against SCHEMA (a bad one names itself).

Sections a package owns (scanner, barcodes, offers) pass through here unchecked; `load`
runs the checks its caller hands it (the server checks them all at start-up, server/config.py;
the handheld its scanner through firmware_bridge). Imports no other ShopGo package."""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Key:
    """One documented key: its default and the check its value must pass."""

    default: Any
    check: Callable[[Any], bool] = lambda v: True
    hint: str = ""


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


def _hhmm(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) is not None


def _bind(v: Any) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", v) is not None


def _host_names(v: Any) -> bool:
    """A list of host names or IPv4 addresses without a port, ".name" for every subdomain too
    (what werkzeug's host check can match; it ignores the request's port)."""
    name = r"\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
    return isinstance(v, list) and all(isinstance(h, str) and re.fullmatch(name, h) is not None for h in v)


# Sections ShopGo's server validates itself. Sections owned by a package (scanner,
# barcodes, offers) are checked by that package's settings module at start-up.
SCHEMA: dict[str, dict[str, Key]] = {
    "site": {
        "role": Key("store", _one_of("store", "head_office"), "one of 'store', 'head_office'"),
        "store_id": Key("S001", lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,32}", v) is not None,
                        "1-32 letters, digits, '-' or '_'"),
        "store_name": Key("ShopGo Demo Store", lambda v: isinstance(v, str) and 0 < len(v) <= 120, "a name"),
        "timezone": Key("Europe/London", lambda v: isinstance(v, str) and _valid_zone(v), "an IANA time zone"),
        "currency": Key("GBP", lambda v: isinstance(v, str) and re.fullmatch(r"[A-Z]{3}", v) is not None,
                        "an ISO 4217 code"),
        "currency_exponent": Key(2, _between(0, 3), "0..3 minor-unit digits"),
    },
    "database": {
        "url": Key("sqlite:///var/shopgo.db", lambda v: isinstance(v, str) and "://" in v,
                   "an SQLAlchemy URL such as sqlite:///var/shopgo.db or postgresql+psycopg://..."),
        "echo": Key(False),
    },
    "server": {
        "bind": Key("127.0.0.1:8000", _bind, "HOST:PORT"),
        "secret_key": Key("", lambda v: isinstance(v, str), "a string (empty: generated under var/)"),
        "max_batch_events": Key(500, _between(1, 10_000), "1..10000"),
        "head_office_url": Key("", lambda v: isinstance(v, str), "a URL or empty"),
        "head_office_public_key": Key("", lambda v: isinstance(v, str), "a base64 Ed25519 key or empty"),
        "trusted_hosts": Key([], _host_names,
                             'a list of lower-case host names or IPv4 addresses without port, e.g. '
                             '["shop.example", ".example"]; [] for any'),
        "session_cookie_secure": Key(False),
    },
    "retention": {
        "days": Key(730, _between(1, 36_500), "1..36500"),
        "batch_size": Key(5000, _between(100, 1_000_000), "100..1000000"),
    },
    "scheduler": {
        "purge_at": Key("03:15", _hhmm, "HH:MM"),
        "offers_build_at": Key("02:30", _hhmm, "HH:MM"),
        "catalogue_bump_minutes": Key(15, _between(1, 1440), "1..1440"),
        "pack_pull_minutes": Key(5, _between(1, 1440), "1..1440"),
        "feed_seconds": Key(30, _between(1, 86_400), "1..86400"),
        "lake_maintenance_at": Key("04:10", _hhmm, "HH:MM"),
    },
    "chain": {
        "lake": Key("var/lake", lambda v: isinstance(v, str) and v.strip() != "",
                    "a folder (relative to the project root) or an object-store URL such as s3://bucket/path"),
        "log_retention_hours": Key(720, _between(0, 87_600), "0..87600 hours"),
        "scheduler": Key("", lambda v: isinstance(v, str) and (v == "" or re.fullmatch(r"(tcp|tls)://[\w.\-\[\]:]+:\d{1,5}", v) is not None),
                         'empty (a LocalCluster in-process) or a Dask scheduler address such as "tcp://10.0.0.5:8786"'),
        "workers": Key(0, lambda v: isinstance(v, int) and 0 <= v <= 1024, "0 (one per core) .. 1024"),
        "worker_memory": Key("4GB", lambda v: isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)?\s*(MB|GB|MiB|GiB)", v) is not None,
                             'a size such as "4GB" or "3500MiB"'),
        "partition_lines": Key(500_000, _between(1_000, 100_000_000), "1000..100000000 lines"),
        "scratch": Key("", lambda v: isinstance(v, str), "a folder every worker can read and write, or empty for a temporary one"),
    },
    "receipt": {
        "printer": Key("", lambda v: isinstance(v, str) and re.fullmatch(
            r"|usb:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}|serial:[^:]+(:\d{3,6})?|network:[\w.\-]+:\d{1,5}", v) is not None,
            '"" (none), "usb:04b8:0202", "serial:/dev/ttyUSB0:9600" or "network:192.168.1.50:9100"'),
    },
    "email": {
        "smtp_host": Key("", lambda v: isinstance(v, str) and re.fullmatch(r"[\w.\-]*", v) is not None,
                         '"" (no e-mail receipts) or the SMTP server\'s host name'),
        "smtp_port": Key(25, _between(1, 65535), "1..65535 (25, or 587 with starttls)"),
        "starttls": Key(False),
        "username": Key("", lambda v: isinstance(v, str), "the SMTP user, or empty for none"),
        "password": Key("", lambda v: isinstance(v, str), "set it as SHOPGO_EMAIL_PASSWORD, not in the file"),
        "from_address": Key("receipts@shopgo.example", lambda v: isinstance(v, str) and re.fullmatch(
            r"[^@\s]+@[^@\s]+", v) is not None, "an address such as receipts@yourstore.example"),
    },
    "consent": {
        "wording_version": Key("2026-12", lambda v: isinstance(v, str) and 1 <= len(v) <= 16,
                               "1..16 characters naming the consent texts members agree to"),
    },
    "loyalty": {
        "points_per_unit": Key(1, _between(0, 100), "0..100 points per major currency unit"),
        "points_expiry_days": Key(365, _between(1, 3650), "1..3650"),
        "redeem_points_per_unit": Key(100, _between(1, 1_000_000), "1..1000000 points for one major currency unit off"),
        "tier_benefits": Key({"bronze": {"points_multiplier": 1.0, "text": "1 point for every 1.00 you spend"},
                              "silver": {"points_multiplier": 1.5, "text": "1.5x points on everything"},
                              "gold": {"points_multiplier": 2.0, "text": "Double points on everything"}},
                             lambda v: isinstance(v, dict) and all(
                                 isinstance(b, dict) and set(b) <= {"points_multiplier", "text"}
                                 and isinstance(b.get("points_multiplier", 1.0), (int, float))
                                 and 1.0 <= b.get("points_multiplier", 1.0) <= 10.0
                                 and isinstance(b.get("text", ""), str) for b in v.values()),
                             "a table per tier: { points_multiplier = 1.0..10.0, text = \"what the member sees\" }"),
        "tiers": Key({"bronze": 0, "silver": 50000, "gold": 150000},
                     lambda v: isinstance(v, dict) and all(isinstance(x, int) and x >= 0 for x in v.values()),
                     "a table of tier name = minimum 12-month spend in minor units"),
    },
    "audit": {
        "base_probability": Key(0.05, _between(0.0, 1.0), "0.0..1.0"),
        "first_trip": Key(True),
        "mismatch_weight": Key(0.25, _between(0.0, 1.0), "0.0..1.0"),
        "weighed_item_weight": Key(0.02, _between(0.0, 1.0), "0.0..1.0"),
        "removal_weight": Key(0.02, _between(0.0, 1.0), "0.0..1.0"),
        "high_value_minor": Key(15000, _between(0, 10_000_000), "minor units"),
        "high_value_weight": Key(0.10, _between(0.0, 1.0), "0.0..1.0"),
        "max_probability": Key(0.9, _between(0.0, 1.0), "0.0..1.0"),
    },
    "pricing": {
        "weight_rounding": Key("half_up", _one_of("half_up", "down", "up"), "half_up, down or up"),
        "max_redemptions_per_trip": Key(5, _between(0, 1000), "0..1000"),
    },
    "handheld": {
        "server_url": Key("http://127.0.0.1:8000", lambda v: isinstance(v, str) and v.startswith("http"), "an http(s) URL"),
        "token": Key("", lambda v: isinstance(v, str)),
        "data_dir": Key("var/handheld", lambda v: isinstance(v, str) and v != "", "a folder"),
        "http": Key("127.0.0.1:8080", _bind, "HOST:PORT"),
        "sync_interval_seconds": Key(1.0, _between(0.05, 3600), "0.05..3600"),
        "staff_poll_seconds": Key(3.0, _between(0.5, 3600), "0.5..3600"),
        "catalogue_refresh_seconds": Key(300, _between(1, 86_400), "1..86400"),
    },
}
# Sections whose keys belong to another package; passed through untouched here.
PASS_THROUGH = ("scanner", "barcodes", "offers", "users")


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


def default_path() -> Path:
    """The config.toml used when no --config is given."""
    env = os.environ.get("SHOPGO_CONFIG")
    if env:
        return Path(env)
    cwd = Path.cwd() / "config.toml"
    return cwd if cwd.exists() else ROOT / "config.toml"


def _coerce(text: str, like: Any, name: str) -> Any:
    """Turn an environment string into the type of the default."""
    try:
        if isinstance(like, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
        if isinstance(like, (dict, list)):
            return tomllib.loads(f"v = {text}")["v"]
    except (ValueError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{name}: cannot read {text!r} as {type(like).__name__}") from None
    return text


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for var, text in environ.items():
        if not var.startswith("SHOPGO_") or var == "SHOPGO_CONFIG":
            continue
        rest = var[len("SHOPGO_"):].lower()
        for section, keys in SCHEMA.items():
            if rest.startswith(section + "_") and rest[len(section) + 1:] in keys:
                key = rest[len(section) + 1:]
                out.setdefault(section, {})[key] = _coerce(text, keys[key].default, f"{var} ({section}.{key})")
                break
    return out


def _check(section: str, key: str, value: Any) -> None:
    spec = SCHEMA[section][key]
    default = spec.default
    ok_type = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, bool):
        ok_type = False
    if not ok_type or not spec.check(value):
        hint = f" (expected {spec.hint})" if spec.hint else f" (expected {type(default).__name__})"
        raise ConfigError(f"{section}.{key}: bad value {value!r}{hint}")


Check = Callable[[Mapping[str, Any]], None]  # checks a loaded config's own sections; ValueError names the key


def load(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
         environ: Mapping[str, str] | None = None, checks: Sequence[Check] = ()) -> dict[str, dict[str, Any]]:
    """Read configuration; a bad value raises ConfigError naming the key."""
    cfg: dict[str, dict[str, Any]] = {s: {k: spec.default for k, spec in keys.items()} for s, keys in SCHEMA.items()}
    for s in PASS_THROUGH:
        cfg[s] = {}
    file = Path(path) if path else default_path()
    if path and not file.exists():
        raise ConfigError(f"config file {file} does not exist; pass an existing file to --config")
    if file.exists():
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        _merge(cfg, data, str(file))
    _merge(cfg, _env_overrides(os.environ if environ is None else environ), "environment")
    if overrides:
        _merge(cfg, overrides, "overrides")
    for check in checks:
        try:
            check(cfg)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    cfg["_meta"] = {"path": str(file), "root": str(ROOT)}
    return cfg


def _merge(cfg: dict[str, dict[str, Any]], data: Mapping[str, Any], origin: str) -> None:
    for section, values in data.items():
        if section in PASS_THROUGH:
            cfg[section] = _deep_merge(cfg[section], dict(values))
            continue
        if section not in SCHEMA:
            raise ConfigError(f"{section}: unknown section in {origin} (known: {', '.join(sorted(SCHEMA) + list(PASS_THROUGH))})")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{section}: must be a table in {origin}")
        for key, value in values.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"{section}.{key}: unknown key in {origin}")
            _check(section, key, value)
            cfg[section][key] = value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve_path(cfg: Mapping[str, Any], value: str) -> Path:
    """Resolve a relative path in the configuration against the project root."""
    p = Path(value)
    return p if p.is_absolute() else Path(cfg["_meta"]["root"]) / p


def database_url(cfg: Mapping[str, Any]) -> str:
    """The database URL with a relative SQLite path made absolute under the root."""
    url: str = cfg["database"]["url"]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        return "sqlite:///" + str(resolve_path(cfg, url[len("sqlite:///"):]))
    return url
