"""Head office's store API refuses bad requests with 4xx and writes nothing; the CLI's key and link commands."""
from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from db.models import ResultBatch, SiteState, StoreLink
from db.session import make_engine, make_session_factory
from server.cli.main import main
from server.head_office.compiler import add_store
from server.head_office.signing import KEY_ENV
from tests.conftest import app_config
from tests.head_office.conftest import NOW, feed_batch, purchase_fact
from tests.loopback import dispose_when_idle


@pytest.fixture
def ho_client(db_url: str, tmp_path: Path) -> Any:
    from server.app import create_app

    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        _, token = add_store(sess, "S001", "One")
        sess.commit()
    app = create_app(app_config(db_url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    yield app.test_client(), token, eng
    from server.database import engine as app_engine

    dispose_when_idle(app_engine(app))
    eng.dispose()


BACKLOG = {"facts": 0, "lines": 0, "caught_up_at": NOW.isoformat()}


@pytest.mark.parametrize("method, path, body, headers, status, message", [
    ("GET", "/api/v1/head-office/packs", None, {}, 401, "Authorization: Bearer"),
    ("GET", "/api/v1/head-office/packs", None, {"Authorization": "Bearer nope"}, 401, "unknown store token"),
    ("GET", "/api/v1/head-office/packs?after=-1", None, "token", 400, "after (the last applied pack"),
    ("POST", "/api/v1/head-office/acks", b"{", "token", 400, "not valid JSON"),
    ("POST", "/api/v1/head-office/acks", b"[]", "token", 400, "must be a JSON object"),
    ("POST", "/api/v1/head-office/acks", {"acks": {}}, "token", 422, "acks must be a list"),
    ("POST", "/api/v1/head-office/acks", {"acks": [{"seq": "1", "status": "activated"}]}, "token", 422,
     "acks[0].seq must be a whole number"),
    ("POST", "/api/v1/head-office/feed", {"seq": 1, "purchases": {}, "backlog": BACKLOG}, "token", 422,
     "purchases.purchase_id must be a list"),
    ("POST", "/api/v1/head-office/feed", {"seq": 1, "members": [{"member_id": "x"}], "backlog": BACKLOG},
     "token", 422, "members[0].member_id must be"),
    ("POST", "/api/v1/head-office/feed", {"seq": 3, "facts": [], "backlog": BACKLOG}, "token", 409,
     "after batch 1, which head office never received"),
    ("POST", "/api/v1/head-office/feed", {"seq": 1, "facts": [], "backlog": {}}, "token", 422, "backlog.facts"),
])
def test_bad_store_requests_get_4xx_and_change_nothing(ho_client: Any, method: str, path: str, body: Any,
                                                       headers: Any, status: int, message: str) -> None:
    client, token, eng = ho_client
    if headers == "token":
        headers = {"Authorization": f"Bearer {token}"}
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    answer = client.open(path, method=method, headers=headers, **kwargs)
    assert answer.status_code == status and message in answer.get_json()["message"]
    with make_session_factory(eng)() as sess:
        assert sess.scalars(select(ResultBatch)).all() == []
        assert sess.get(StoreLink, "S001").feed_seq == 0


def test_store_sees_no_packs_before_publishing(ho_client: Any) -> None:
    client, token, _ = ho_client
    answer = client.get("/api/v1/head-office/packs?after=0", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.get_json() == {"store_id": "S001", "packs": []}


def test_keygen_writes_key_and_prints_public_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "var" / "key.pem"
    monkeypatch.setenv(KEY_ENV, str(path))
    result = CliRunner().invoke(main, ["head-office", "keygen"])
    assert result.exit_code == 0, result.output
    public = result.stdout.strip().splitlines()[-1]
    assert len(base64.b64decode(public)) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CliRunner().invoke(main, ["head-office", "keygen"])
    assert again.exit_code != 0 and "already exists" in again.output
    assert CliRunner().invoke(main, ["head-office", "pubkey"]).stdout.strip() == public


def test_store_add_and_link_keep_the_token_on_both_sides(db_url: str, tmp_path: Path) -> None:
    from server.store.packs import head_office_token

    added = CliRunner().invoke(main, ["head-office", "store-add", "S777", "--database", db_url])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    twice = CliRunner().invoke(main, ["head-office", "store-add", "S777", "--database", db_url])
    assert twice.exit_code != 0 and "already linked" in twice.output
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    linked = CliRunner().invoke(main, ["head-office", "link", "--token-file", str(token_file), "--database", db_url])
    assert linked.exit_code == 0, linked.output
    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        assert token not in sess.get(SiteState, "head_office_token").value
        assert head_office_token(sess) == token
    eng.dispose()


def test_a_new_token_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.auth import accounts

    drawn = iter(["-looks-like-an-option", "Ab3-fine"])
    monkeypatch.setattr(accounts.secrets, "token_urlsafe", lambda n: next(drawn))
    assert accounts.new_token() == "Ab3-fine"  # `shopgo head-office store-add` output read as an option


def test_a_notification_that_fails_on_the_database_is_logged_not_raised(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from server.head_office.notify import notify_stores

    eng = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no store_links table: the read fails
    with caplog.at_level("ERROR", logger="server.head_office.notify"):
        threads = notify_stores(eng, ["S001"], wait=True)
    eng.dispose()
    assert not any(t.is_alive() for t in threads)
    assert "notify store S001 failed" in caplog.text and "no such table" in caplog.text


def test_pull_without_head_office_url_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPGO_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SHOPGO_SERVER_HEAD_OFFICE_URL", "")
    result = CliRunner().invoke(main, ["head-office", "pull"])
    assert result.exit_code != 0 and "head_office_url is empty" in result.output


def test_spent_budget_withdraws_the_campaign(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.app import create_app
    from server.head_office import campaigns
    from server.head_office.signing import generate_key
    from tests.head_office.conftest import definition, seed_chain

    key = generate_key(tmp_path / "ho.pem")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "ho.pem"))
    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        seed_chain(sess, {"S001": [1, 2, 3]})
        _, token = add_store(sess, "S001", "One")
        cid = campaigns.create_campaign(sess, definition(budget={"kind": "redemptions", "amount": 2})).id
        campaigns.publish(sess, cid, key)
        sess.commit()
    app = create_app(app_config(db_url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    client = app.test_client()
    red = {"offer_id": 1, "campaign_id": cid, "discount_minor": 50, "points": 0}
    facts = [purchase_fact(m, m, NOW, [(9001, 100)], [red]) for m in (1, 2)]
    headers = {"Authorization": f"Bearer {token}"}
    first = client.post("/api/v1/head-office/feed", json=feed_batch(1, facts[:1]), headers=headers).get_json()
    assert first["withdrawn"] == [] and first["held"] == 1
    again = client.post("/api/v1/head-office/feed", json=feed_batch(1, facts[:1]), headers=headers).get_json()
    assert again["applied"] is False and again["withdrawn"] == []
    second = client.post("/api/v1/head-office/feed", json=feed_batch(2, facts[1:]), headers=headers).get_json()
    assert second["results"] == 2 and second["withdrawn"] == [cid]  # its spend and its redemption
    packs = client.get("/api/v1/head-office/packs?after=1", headers=headers).get_json()["packs"]
    assert [p["seq"] for p in packs] == [2] and '"action":"withdraw"' in packs[0]["body"]
    from server.database import engine as app_engine

    dispose_when_idle(app_engine(app))
    eng.dispose()


def test_pull_reports_an_unreachable_head_office_and_applies_nothing(db_url: str) -> None:
    from db.models import StorePack
    from server.simulate.processes import free_port
    from server.store.packs import pull, set_head_office_token

    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        set_head_office_token(sess, "t")
        sess.commit()
    cfg = {"site": {"store_id": "S001"}, "server": {"head_office_url": f"http://127.0.0.1:{free_port()}",
                                                    "head_office_public_key": ""}}
    report = pull(eng, cfg)  # as the scheduler's pack-pull job calls it
    assert report.error.startswith("GET http://127.0.0.1") and (report.fetched, report.applied) == (0, [])
    with make_session_factory(eng)() as sess:
        assert sess.scalars(select(StorePack)).all() == []
    eng.dispose()
