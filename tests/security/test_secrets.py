"""Secrets are shown once and never logged: device tokens, store link tokens, passwords, the
head-office signing key and the app's session secret.

One whole flow runs with every log record of every logger captured at DEBUG: a handheld
is registered (`shopgo device add`), a user created (`shopgo user add`), signs in (with a
wrong password first), the handheld shops a trip with its token and a stranger tries a
wrong token, the member's data is exported, head office makes its key
(`shopgo head-office keygen`), links a store (`shopgo head-office store-add`), publishes a
campaign signed with that key, and the store fetches its packs with its token. Then no
secret may appear in any log record, response body or header, and each printed-once
secret appears exactly once, in the one command output meant to show it.
"""
from __future__ import annotations

import base64
import logging
import re
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient

from server.auth import accounts
from server.cli.main import main
from server.store import trips
from tests.security.conftest import PASSWORD as SITE_PASSWORD
from tests.security.conftest import Site, csrf_from, quick_hash, sign_in

PASSWORD = "Secret-Pass-4711"
WRONG_PASSWORD = "Wrong-Guess-0815"


class Everything(logging.Handler):
    """Keeps the full text of every record: message, arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(f"{record.name}: {text} {record.__dict__!r}")


@pytest.fixture
def captured() -> Iterator[Everything]:
    root = logging.getLogger()
    handler, level = Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


class Seen:
    """Every response body and header the flow got back, and every command output."""

    def __init__(self) -> None:
        self.responses: list[str] = []
        self.outputs: dict[str, str] = {}

    def call(self, client: FlaskClient, method: str, path: str, **kwargs: Any) -> Any:
        resp = client.open(path, method=method, **kwargs)
        self.responses.append(f"{resp.status_code} {dict(resp.headers)!r} {resp.get_data(as_text=True)}")
        return resp

    def cli(self, name: str, *args: str) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        self.outputs[name] = result.output
        return result.output


def _crash(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated bug in the offers query")


def _key_material(pem_path: Path) -> list[str]:
    """The private key as it could leak: the PEM body and the raw 32 bytes in base64 and hex."""
    pem = pem_path.read_text()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,  # type: ignore[union-attr]
                            serialization.NoEncryption())
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return [body, body[:40], base64.b64encode(raw).decode(), raw.hex()]


def _signed_in(app: Flask, seen: Seen, username: str, password: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    seen.call(client, "GET", "/signin")
    resp = sign_in(client, username, password)
    seen.responses.append(f"{resp.status_code} {dict(resp.headers)!r} {resp.get_data(as_text=True)}")
    assert resp.status_code == 302
    return client, csrf_from(client.get("/signin").get_data(as_text=True))


def test_no_secret_is_logged_or_returned_twice(site: Site, captured: Everything, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "generate_password_hash", quick_hash)
    key_file = tmp_path / "ho_key.pem"
    monkeypatch.setenv("SHOPGO_HEAD_OFFICE_KEY_FILE", str(key_file))
    seen = Seen()

    # The store's IT registers a handheld and a manager.
    out = seen.cli("device add", "device", "add", "secrets-hh", "--store", "S001", "--database", site.url)
    token = out.strip().splitlines()[-1]
    assert len(token) >= 40
    seen.cli("user add", "user", "add", "sec_manager", "--role", "manager", "--store", "S001",
             "--password", PASSWORD, "--database", site.url)

    # The manager mistypes, then signs in and exports a member.
    client = site.store.test_client()
    seen.call(client, "GET", "/signin")
    bad = sign_in(client, "sec_manager", WRONG_PASSWORD)
    seen.responses.append(f"{bad.status_code} {dict(bad.headers)!r} {bad.get_data(as_text=True)}")
    assert bad.status_code == 401
    manager, manager_csrf = _signed_in(site.store, seen, "sec_manager", PASSWORD)
    assert seen.call(manager, "POST", f"/api/v1/members/{site.ids['member']}/export",
                     headers={"X-CSRF-Token": manager_csrf}).status_code == 200
    assert seen.call(manager, "GET", "/staff/trips").status_code == 200

    # The handheld shops with its token; a stranger tries a made-up one.
    auth = {"Authorization": f"Bearer {token}"}
    trip = str(uuid.uuid4())
    assert seen.call(site.store.test_client(), "POST", "/api/v1/trips", json={"trip_id": trip},
                     headers=auth).status_code == 201
    event = {"id": str(uuid.uuid4()), "seq": 1, "kind": "scan", "occurred_at": "2025-01-01T10:00:00+00:00",
             "payload": {"gtin": site.ids["gtin"]}}
    assert seen.call(site.store.test_client(), "POST", f"/api/v1/trips/{trip}/events", json={"events": [event]},
                     headers=auth).status_code == 200
    assert seen.call(site.store.test_client(), "POST", f"/api/v1/trips/{trip}/finish", json={},
                     headers=auth).status_code == 200
    # The manager checks it out from the console session (a till or staff does, never the handheld).
    assert seen.call(manager, "POST", f"/api/v1/trips/{trip}/checkout", json={},
                     headers={"X-CSRF-Token": manager_csrf}).status_code in (200, 409)
    # A crash while the token is in the request: the 500 handler logs it, without the token.
    monkeypatch.setattr(trips, "member_offers", _crash)
    assert seen.call(site.store.test_client(), "GET", f"/api/v1/trips/{trip}/offers", headers=auth).status_code == 500
    monkeypatch.undo()
    monkeypatch.setenv("SHOPGO_HEAD_OFFICE_KEY_FILE", str(key_file))
    stranger = "x" * 20 + token[20:]  # almost the real one
    assert seen.call(site.store.test_client(), "GET", "/api/v1/catalogue?since=999999",
                     headers={"Authorization": f"Bearer {stranger}"}).status_code == 401

    # Head office makes its key, links a store, publishes a signed campaign; the store fetches it.
    seen.cli("keygen", "head-office", "keygen")
    store_token = seen.cli("store-add", "head-office", "store-add", "S002", "--database", site.url).strip()
    office, csrf = _signed_in(site.office, seen, "h_office", SITE_PASSWORD)
    published = seen.call(office, "POST", f"/head-office/campaigns/{site.ids['campaign']}/publish",
                          headers={"X-CSRF-Token": csrf})
    assert published.status_code == 302, published.get_data(as_text=True)
    assert seen.call(site.office.test_client(), "GET", "/api/v1/head-office/packs?after=0",
                     headers={"Authorization": f"Bearer {site.store_token}"}).status_code == 200

    # Now look everywhere.
    logs = "\n".join(captured.texts)
    bodies = "\n".join(seen.responses)
    outputs = seen.outputs
    assert "unhandled error on GET" in logs, "the capture did not see the 500 handler's record"
    secrets = {"device token": token, "store token": store_token, "password": PASSWORD,
               "wrong password": WRONG_PASSWORD, "session secret": site.store.config["SECRET_KEY"],
               **{f"signing key ({i})": k for i, k in enumerate(_key_material(key_file))}}
    for name, secret in secrets.items():
        assert secret not in logs, f"{name} appears in a log record"
        assert secret not in bodies, f"{name} appears in a response"
    assert re.findall(re.escape(token), "\n".join(outputs.values())) == [token], "device token printed more than once"
    assert token in outputs["device add"]
    assert [name for name, text in outputs.items() if store_token in text] == ["store-add"]
    assert outputs["store-add"].count(store_token) == 1
    for name in ("password", "wrong password", *[n for n in secrets if n.startswith("signing key")]):
        assert not any(secrets[name] in text for text in outputs.values()), f"{name} printed by a command"
