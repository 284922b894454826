"""Wrong passwords throttle the client that sent them, never the account: someone guessing
from elsewhere cannot lock the real user out (its own database: it signs in and fails a lot)."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import User
from server.auth import accounts
from server.auth.ratelimit import PAIR_LIMIT
from tests.staff.conftest import PASSWORD, csrf_from


def _sign_in_from(app: Flask, address: str, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    client = app.test_client()
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_wrong_passwords_from_elsewhere_never_lock_the_real_user_out(staff_app: Flask, sess: Session) -> None:
    for i in range(3 * PAIR_LIMIT):  # well past the old lock-out (5) and the old per-name limit (10)
        assert _sign_in_from(staff_app, "203.0.113.66", "alice", f"guess-{i}").status_code in (401, 429)
    resp = _sign_in_from(staff_app, "192.0.2.10", "alice")  # alice, at her own till
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    assert sess.scalar(select(User.locked_until).where(User.username == "alice")) is None


def test_the_guessing_client_is_throttled_on_that_account(staff_app: Flask) -> None:
    for i in range(PAIR_LIMIT):
        assert _sign_in_from(staff_app, "203.0.113.67", "mia", f"guess-{i}").status_code == 401
    resp = _sign_in_from(staff_app, "203.0.113.67", "mia")  # even the right password waits now
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert _sign_in_from(staff_app, "203.0.113.67", "alice").status_code == 302  # other accounts: not yet


def test_check_login_keeps_no_count_of_failures(staff_app: Flask, sess: Session) -> None:
    for _ in range(10):
        assert accounts.check_login(sess, "alice", "wrong-password").user is None
    result = accounts.check_login(sess, "alice", PASSWORD)
    assert result.user is not None and result.user.username == "alice"
    assert result.user.locked_until is None
