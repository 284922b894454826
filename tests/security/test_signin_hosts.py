"""The Host header is checked against `[server] trusted_hosts`, and the session cookie is
`Secure` when `[server] session_cookie_secure` says so; both keys are validated at start-up."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask

from server import config as config_mod
from tests.conftest import app_config
from tests.staff.conftest import shared_app, sign_in  # noqa: F401  (shared_app is a fixture)


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of store apps over an empty database with these `[server]` settings."""
    from server.app import create_app
    from server.database import engine

    made: list[Flask] = []

    def make(**server: Any) -> Flask:
        application = create_app(app_config(db_url, tmp_path, server={"secret_key": "test-secret", **server}))
        application.config["TESTING"] = True
        made.append(application)
        return application

    yield make
    for application in made:
        engine(application).dispose()


@pytest.mark.parametrize("path, host, status", [
    ("/signin", "shop.example", 200),
    ("/signin", "shop.example:8000", 200),       # the port is not part of the check
    ("/signin", "till3.branch.example", 200),    # ".branch.example" trusts its subdomains
    ("/signin", "evil.example", 400),
    ("/signin", "shop.example.evil.example", 400),
    ("/healthz", "evil.example", 400),
    ("/api/v1/catalogue", "evil.example", 400),
])
def test_only_trusted_host_names_are_served(make_app: Any, path: str, host: str, status: int) -> None:
    app = make_app(trusted_hosts=["shop.example", ".branch.example"])
    resp = app.test_client().get(path, headers={"Host": host})
    assert resp.status_code == status
    if status == 400:
        text = resp.get_data(as_text=True)
        assert "host" in text.lower() and "Internal server error" not in text


def test_an_untrusted_host_is_answered_in_json_for_api_clients(make_app: Any) -> None:
    app = make_app(trusted_hosts=["shop.example"])
    resp = app.test_client().get("/api/v1/catalogue", headers={"Host": "evil.example"})
    assert resp.status_code == 400 and resp.get_json()["message"]
    resp = app.test_client().post("/signin", headers={"Host": "evil.example"})
    assert resp.status_code == 400


def test_no_trusted_hosts_means_any_host(make_app: Any) -> None:
    app = make_app()
    assert app.config["TRUSTED_HOSTS"] is None
    for host in ("localhost", "127.0.0.1:8000", "shop.example"):
        assert app.test_client().get("/signin", headers={"Host": host}).status_code == 200


def test_the_session_cookie_is_secure_when_configured(make_app: Any) -> None:
    assert make_app().config["SESSION_COOKIE_SECURE"] is False
    app = make_app(session_cookie_secure=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    resp = app.test_client().get("/signin")  # the form's CSRF token starts a session
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "; Secure" in cookie and "HttpOnly" in cookie


def test_the_demo_session_cookie_is_not_secure(shared_app: Flask) -> None:  # noqa: F811
    client = shared_app.test_client()
    resp = sign_in(client, "alice")
    assert resp.status_code == 302 and "Secure" not in resp.headers["Set-Cookie"]


@pytest.mark.parametrize("key, value, fragment", [
    ("trusted_hosts", "shop.example", "server.trusted_hosts"),       # a string, not a list
    ("trusted_hosts", ["shop.example", 7], "server.trusted_hosts"),
    ("trusted_hosts", ["shop.example:8000"], "server.trusted_hosts"),  # no port
    ("trusted_hosts", ["https://shop.example"], "server.trusted_hosts"),
    ("trusted_hosts", [""], "server.trusted_hosts"),
    ("trusted_hosts", ["shop example"], "server.trusted_hosts"),
    ("session_cookie_secure", "yes", "server.session_cookie_secure"),
    ("session_cookie_secure", 1, "server.session_cookie_secure"),
])
def test_bad_host_and_cookie_settings_stop_start_up(key: str, value: Any, fragment: str) -> None:
    with pytest.raises(config_mod.ConfigError, match=fragment):
        config_mod.load(overrides={"server": {key: value}}, environ={})


@pytest.mark.parametrize("environ, key, expected", [
    ({"SHOPGO_SERVER_TRUSTED_HOSTS": '["shop.example", ".branch.example"]'}, "trusted_hosts",
     ["shop.example", ".branch.example"]),
    ({"SHOPGO_SERVER_TRUSTED_HOSTS": "[]"}, "trusted_hosts", []),
    ({"SHOPGO_SERVER_SESSION_COOKIE_SECURE": "true"}, "session_cookie_secure", True),
    ({}, "trusted_hosts", []),
    ({}, "session_cookie_secure", False),
])
def test_host_and_cookie_settings_come_from_the_environment(environ: dict[str, str], key: str,
                                                            expected: Any) -> None:
    assert config_mod.load(environ=environ)["server"][key] == expected


def test_a_host_list_in_the_environment_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(config_mod.ConfigError, match="SHOPGO_SERVER_TRUSTED_HOSTS|server.trusted_hosts"):
        config_mod.load(environ={"SHOPGO_SERVER_TRUSTED_HOSTS": "shop.example"})
