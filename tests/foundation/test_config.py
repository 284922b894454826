"""Configuration: file, environment overrides, and bad values naming their key."""
from __future__ import annotations

from pathlib import Path

import pytest

from server import config


def test_defaults_run_on_sqlite_under_var() -> None:
    cfg = config.load(environ={})
    assert cfg["database"]["url"].startswith("sqlite:///")
    assert config.database_url(cfg).endswith("/var/shopgo.db")
    assert cfg["retention"]["days"] == 730


def test_environment_overrides_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[site]\nstore_id = "FILE1"\n[retention]\ndays = 400\n')
    cfg = config.load(f, environ={"SHOPGO_RETENTION_DAYS": "365", "SHOPGO_SITE_ROLE": "head_office"})
    assert cfg["site"]["store_id"] == "FILE1"
    assert cfg["retention"]["days"] == 365
    assert cfg["site"]["role"] == "head_office"


@pytest.mark.parametrize("text, key", [
    ('[site]\nrole = "shop"\n', "site.role"),
    ('[retention]\ndays = -3\n', "retention.days"),
    ('[retention]\ndays = "two years"\n', "retention.days"),
    ('[scheduler]\npurge_at = "25:00"\n', "scheduler.purge_at"),
    ('[server]\nbind = "localhost"\n', "server.bind"),
    ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone"),
    ('[site]\nflavour = "x"\n', "site.flavour"),
    ('[nonsense]\nx = 1\n', "nonsense"),
    ('[audit]\nfirst_trip = 3\n', "audit.first_trip"),
])
def test_bad_value_stops_with_key_named(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.load(f, environ={})


def test_bad_environment_value_names_variable() -> None:
    with pytest.raises(config.ConfigError, match="SHOPGO_RETENTION_DAYS"):
        config.load(environ={"SHOPGO_RETENTION_DAYS": "forever"})


def test_missing_config_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml", environ={})


def test_shipped_config_toml_is_valid_and_documents_every_key() -> None:
    text = (config.ROOT / "config.toml").read_text()
    cfg = config.load(config.ROOT / "config.toml", environ={})
    for section, keys in config.SCHEMA.items():
        assert f"[{section}]" in text, section
        for key in keys:
            assert f"\n{key} =" in text, f"{section}.{key} is not documented in config.toml"
    assert cfg["site"]["role"] == "store"


def test_bad_scanner_value_stops_start_up_naming_key(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[scanner.profiles.default]\nbaudrate = 12\n')
    with pytest.raises(config.ConfigError, match=r"scanner\.profiles\.default\.baudrate"):
        config.load(f, environ={})


def test_bad_offers_policy_value_stops_start_up_naming_key(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[offers]\nholdout_share = 3\n')
    with pytest.raises(config.ConfigError, match=r"holdout_share"):
        config.load(f, environ={})
