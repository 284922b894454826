"""Sign-in does the same work for a user name that does not exist as for one that does, so the
time of the answer does not tell an outsider which user names are real. Asserted on the work
done (one password-hash check of the same method), never on milliseconds."""
from __future__ import annotations

from typing import Callable

import pytest
from flask import Flask

from server.auth import accounts
from tests.staff.conftest import csrf_from, shared_app  # noqa: F401  (shared_app is a fixture)


def _method(password_hash: str) -> str:
    """The method and cost part of a werkzeug hash, e.g. 'scrypt:32768:8:1'."""
    return password_hash.split("$", 1)[0]


@pytest.fixture
def hash_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored hashes every password check of the sign-in compared against, in order."""
    seen: list[str] = []
    real: Callable[[str, str], bool] = accounts.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        seen.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return seen


@pytest.mark.parametrize("username", ["alice", "nobody-by-this-name"])
def test_a_wrong_sign_in_checks_one_password_hash_whether_or_not_the_user_exists(
        shared_app: Flask, hash_checks: list[str], username: str) -> None:  # noqa: F811
    client = shared_app.test_client()
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    resp = client.post("/signin", data={"username": username, "password": "not-the-password", "csrf_token": token},
                       environ_base={"REMOTE_ADDR": f"192.0.2.{len(username)}"})
    assert resp.status_code == 401
    assert len(hash_checks) == 1


def test_an_unknown_user_is_checked_against_a_hash_made_like_a_real_users(
        shared_app: Flask, hash_checks: list[str]) -> None:  # noqa: F811
    from server.database import session_factory

    with session_factory(shared_app)() as sess:
        assert accounts.check_login(sess, "nobody-by-this-name", "a-guess").user is None
    assert len(hash_checks) == 1
    # add_user stores what generate_password_hash makes: the same method and cost, so the same time.
    assert _method(hash_checks[0]) == _method(accounts.generate_password_hash("some-new-password"))
