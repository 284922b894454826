"""`shopgo handheld`: options, defaults from config.toml, and bad input named."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from handheld.runtime import HandheldConfig
from server import config as config_mod
from server.cli.main import main


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(main, ["handheld", "--help"])
    assert result.exit_code == 0
    for option in ("--scanner", "--protocol", "--server", "--token-file", "--data-dir", "--http"):
        assert option in result.output


def test_the_token_is_never_taken_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["handheld", "--token", "secret", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "No such option '--token'" in result.output


@pytest.mark.parametrize("token, args, message", [
    ("t", ["--protocol", "usb"], "'usb' is not one of 'raw', 'ssi'"),
    ("t", ["--http", "nowhere"], "'nowhere' is not HOST:PORT"),
    ("", ["--no-scanner"], "no device token"),
    ("t", ["--server", "ftp://x", "--no-scanner", "--http", "127.0.0.1:0"], "server URL must be http"),
    ("t", ["--profile", "nope"], "nope"),
    (None, ["--token-file", "/nonexistent/token"], "cannot read /nonexistent/token"),
])
def test_bad_options_are_refused_with_a_message(token: str | None, args: list[str], message: str,
                                                tmp_path: Path) -> None:
    if token is not None:
        (tmp_path / "token").write_text(token)
        args = ["--token-file", str(tmp_path / "token"), *args]
    result = CliRunner().invoke(main, ["handheld", *args, "--data-dir", str(tmp_path / "d")],
                                env={"SHOPGO_HANDHELD_TOKEN": ""})
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
