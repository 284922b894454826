"""Where sign-in sends people afterwards: only same-site paths, never another site, never a 500."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.staff.conftest import PASSWORD, csrf_from, shared_app  # noqa: F401  (shared_app is a fixture)

START_PAGE = "/staff/"


def _sign_in_then(app: Flask, next_value: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": "alice", "password": PASSWORD, "csrf_token": token,
                                        "next": next_value})


@pytest.mark.parametrize("next_value", [
    "/\t/evil.example",          # ?next=/%09/evil.example: browsers drop the tab and go to //evil.example
    "/\n/evil.example",          # a newline: used to answer 500
    "/\r\n/evil.example",
    "/\x0b/evil.example",
    "/ /evil.example",
    "/\u2028/evil.example",      # a Unicode line separator
    "/\u200b/evil.example",      # a zero-width space (a format character)
    "/staff/\x00",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    " /staff/members",
    "staff/members",             # relative, not a path from the site's root
    "",
])
def test_sign_in_never_follows_next_off_the_site(shared_app: Flask, next_value: str) -> None:  # noqa: F811
    resp = _sign_in_then(shared_app, next_value)
    assert resp.status_code == 302
    assert resp.location == START_PAGE


@pytest.mark.parametrize("next_value", ["/staff/members/7", "/staff/members?q=household", "/staff/trips#live"])
def test_sign_in_follows_a_same_site_path(shared_app: Flask, next_value: str) -> None:  # noqa: F811
    resp = _sign_in_then(shared_app, next_value)
    assert resp.status_code == 302
    assert resp.location == next_value and not urlsplit(resp.location).netloc

