"""The app factory, health endpoint, error answers, users, devices and cards."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from db.models import Device, User
from db.session import make_engine, make_session_factory
from server.auth.accounts import AccountError, add_device, add_user, device_for_token, hash_token
from server.cli.main import main


def test_healthz_reports_database_and_migration_head(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["database"] == "ok"
    assert body["migration_current"] == body["migration_head"]


def test_healthz_is_503_when_database_unreachable(tmp_path: Path) -> None:
    from server.app import create_app

    app = create_app({"database": {"url": "postgresql+psycopg://nobody:x@127.0.0.1:1/none"},
                      "server": {"secret_key": "t"}})
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "unreachable"


def test_unknown_api_path_answers_json_404(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.get_json()["status"] == 404


def test_unknown_page_answers_html_for_browsers(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/nowhere", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"


def test_device_token_is_stored_hashed_and_checked(imported_url: str) -> None:
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        device, token = add_device(sess, "S001", "hh-1")
        sess.commit()
        stored = sess.scalar(select(Device.token_hash).where(Device.id == device.id))
        assert stored == hash_token(token) and token not in stored
        assert device_for_token(sess, token) is not None
        assert device_for_token(sess, token + "x") is None
    eng.dispose()


@pytest.mark.parametrize("args, message", [
    (("bob", "short", "staff", "S001"), "at least 8"),
    (("bob", "long enough", "cashier", "S001"), "role must be"),
    (("bob", "long enough", "staff", None), "needs a store"),
    (("bob", "long enough", "staff", "NOPE"), "does not exist"),
])
def test_bad_user_requests_say_what_is_wrong(imported_url: str, args: tuple, message: str) -> None:  # type: ignore[type-arg]
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        with pytest.raises(AccountError, match=message):
            add_user(sess, *args)
    eng.dispose()


def test_cli_user_and_device_and_card(imported_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["user", "add", "mia", "--role", "manager", "--store", "S001",
                             "--password", "secret123", "--database", imported_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["device", "add", "hh-7", "--database", imported_url])
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        assert sess.scalar(select(User).where(User.username == "mia")) is not None
        assert device_for_token(sess, token) is not None
        member_id = sess.execute(select(User.id)).first()
        assert member_id is not None
    eng.dispose()
    cards = tmp_path / "cards"
    r = runner.invoke(main, ["card", "print", "1", "--out", str(cards), "--database", imported_url])
    assert r.exit_code == 0, r.output
    files = sorted(p.suffix for p in cards.iterdir())
    assert files == [".png", ".svg"]
    assert "<svg" in next(cards.glob("*.svg")).read_text()


def test_cli_card_for_unknown_member_fails_clearly(imported_url: str) -> None:
    r = CliRunner().invoke(main, ["card", "print", "99999999", "--database", imported_url])
    assert r.exit_code != 0
    assert "no member" in r.output


def test_cli_refuses_bad_config_naming_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[retention]\ndays = 0\n')
    r = CliRunner().invoke(main, ["--config", str(f), "device", "add", "x"])
    assert r.exit_code != 0
    assert "retention.days" in r.output
