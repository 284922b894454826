"""The store's head-office link token (issue 23): encrypted at rest, so a copy of the database
alone does not reveal it, and never given on the command line, where `ps` shows it."""
from __future__ import annotations

import stat
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from db.models import SiteState
from db.session import make_engine, make_session_factory
from server.cli.main import main
from server.head_office import cli as head_office_cli
from server.head_office.link_secret import KEY_ENV, LinkTokenError
from server.store.packs import TOKEN_KEY, head_office_token, pull, set_head_office_token

TOKEN = "Zq3-store-link-token-0123456789abcdef"


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "head_office_token.key"
    monkeypatch.setenv(KEY_ENV, str(path))
    monkeypatch.delenv(head_office_cli.TOKEN_ENV, raising=False)
    return path


@pytest.fixture
def store(db_url: str, key_file: Path) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _stored(eng: Engine) -> str:
    with eng.connect() as conn:
        return str(conn.execute(text("SELECT value FROM site_state WHERE key = :k"), {"k": TOKEN_KEY}).scalar_one())


def _read(eng: Engine) -> str:
    with make_session_factory(eng)() as sess:
        token = head_office_token(sess)
        sess.commit()
        return token


def _link(db_url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["head-office", "link", *args, "--database", db_url], input=input)


def test_the_database_row_does_not_hold_the_token(store: Engine, db_url: str, key_file: Path) -> None:
    with make_session_factory(store)() as sess:
        set_head_office_token(sess, TOKEN)
        sess.commit()
    kept = _stored(store)
    assert TOKEN not in kept and kept.startswith("fernet:")
    assert _read(store) == TOKEN
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if db_url.startswith("sqlite:///"):  # nor anywhere in the database's files
        store.dispose()
        for path in Path(db_url[len("sqlite:///"):]).parent.glob("*.db*"):
            assert TOKEN.encode() not in path.read_bytes(), path


def test_a_plain_text_token_is_read_once_and_then_kept_encrypted(store: Engine) -> None:
    with make_session_factory(store)() as sess:
        sess.add(SiteState(key=TOKEN_KEY, value=TOKEN))  # as an older ShopGo kept it
        sess.commit()
    assert _read(store) == TOKEN
    assert TOKEN not in _stored(store)
    assert _read(store) == TOKEN


def test_a_token_the_key_cannot_open_says_to_link_again(store: Engine, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with make_session_factory(store)() as sess:
        set_head_office_token(sess, TOKEN)
        sess.commit()
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "another.key"))  # the database copied without its key
    with make_session_factory(store)() as sess, pytest.raises(LinkTokenError, match="missing; link the store again"):
        head_office_token(sess)
    with make_session_factory(store)() as sess:
        set_head_office_token(sess, "other-token")  # a new key is made beside it...
        sess.commit()
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "var" / "head_office_token.key"))  # ...and the old one cannot read it
    with make_session_factory(store)() as sess, pytest.raises(LinkTokenError, match="link the store again"):
        head_office_token(sess)
    cfg = {"site": {"store_id": "S001"}, "server": {"head_office_url": "http://127.0.0.1:9", "head_office_public_key": ""}}
    report = pull(store, cfg)  # the scheduler's job reports it rather than crash
    assert "cannot be decrypted" in report.error and "link the store again" in report.error


def test_link_reads_the_token_from_a_file(store: Engine, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "token.txt"
    path.write_text(f"  {TOKEN}\n")
    result = _link(db_url, "--token-file", str(path))
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and _read(store) == TOKEN


def test_link_reads_the_token_from_standard_input(store: Engine, db_url: str) -> None:
    result = _link(db_url, "--token-file", "-", input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert _read(store) == TOKEN


def test_link_reads_the_token_from_the_environment(store: Engine, db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(head_office_cli.TOKEN_ENV, TOKEN)
    result = _link(db_url)
    assert result.exit_code == 0, result.output
    assert _read(store) == TOKEN


def test_link_asks_for_the_token_at_a_hidden_prompt_in_a_terminal(store: Engine, db_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(head_office_cli, "_interactive", lambda: True)
    result = _link(db_url, input=TOKEN + "\n")
    assert result.exit_code == 0, result.output
    assert "not shown" in result.output and TOKEN not in result.output
    assert _read(store) == TOKEN


def test_link_refuses_a_token_on_the_command_line(store: Engine, db_url: str) -> None:
    result = _link(db_url, TOKEN)
    assert result.exit_code == 2 and "no longer taken on the command line" in result.output
    with make_session_factory(store)() as sess:
        assert sess.get(SiteState, TOKEN_KEY) is None


@pytest.mark.parametrize("how, words", [
    ("nothing", "--token-file PATH"),
    ("empty file", "holds no token"),
    ("two words", "one word"),
])
def test_link_without_a_token_says_how_to_give_one(store: Engine, db_url: str, tmp_path: Path, how: str,
                                                   words: str) -> None:
    path = tmp_path / "token.txt"
    path.write_text({"nothing": "", "empty file": "\n", "two words": "abc def"}[how])
    result = _link(db_url) if how == "nothing" else _link(db_url, "--token-file", str(path))
    assert result.exit_code != 0 and words in result.output
    with make_session_factory(store)() as sess:
        assert sess.get(SiteState, TOKEN_KEY) is None
