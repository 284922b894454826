"""`shopgo handheld`: options, defaults from config.toml, and bad input named."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from handheld.cli import handheld
from handheld.runtime import HandheldConfig
from server import config as config_mod


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(handheld, ["--help"])
    assert result.exit_code == 0
    for option in ("--scanner", "--protocol", "--server", "--token", "--data-dir", "--http"):
        assert option in result.output


@pytest.mark.parametrize("args, message", [
    (["--protocol", "usb"], "'usb' is not one of 'raw', 'ssi'"),
    (["--http", "nowhere"], "'nowhere' is not HOST:PORT"),
    (["--token", "", "--no-scanner"], "no device token"),
    (["--token", "t", "--server", "ftp://x", "--no-scanner", "--http", "127.0.0.1:0"], "server URL must be http"),
    (["--token", "t", "--profile", "nope"], "nope"),
])
def test_bad_options_are_refused_with_a_message(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(handheld, [*args, "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and message in result.output


def test_defaults_come_from_config(tmp_path: Path) -> None:
    cfg = config_mod.load(overrides={"handheld": {"server_url": "http://10.0.0.5:8000", "token": "abc",
                                                  "http": "127.0.0.1:9090", "data_dir": str(tmp_path / "d")},
                                     "scanner": {"port": "/dev/ttyUSB7", "protocol": "ssi", "profile": "zebra"}})
    conf = HandheldConfig.from_config(cfg)
    assert (conf.server_url, conf.token, conf.http_port, conf.data_dir) == ("http://10.0.0.5:8000", "abc", 9090,
                                                                            tmp_path / "d")
    assert (conf.scanner_port, conf.protocol, conf.profile.name) == ("/dev/ttyUSB7", "ssi", "zebra")
    over = HandheldConfig.from_config(cfg, scanner_port="loop://", protocol=None, http="127.0.0.1:0")
    assert (over.scanner_port, over.protocol, over.http_port) == ("loop://", "ssi", 0)
