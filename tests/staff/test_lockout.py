"""Lock-out after repeated wrong passwords (its own database: it changes the user)."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import User
from tests.staff.conftest import sign_in


def test_five_wrong_passwords_lock_the_account(staff_app: Flask, sess: Session) -> None:
    client = staff_app.test_client()
    for _ in range(5):
        sign_in(client, "alice", "wrong-password")
    resp = sign_in(client, "alice")  # the right password, too late
    assert resp.status_code == 401
    assert "locked" in resp.get_data(as_text=True)
    assert sess.scalar(select(User.locked_until).where(User.username == "alice")) is not None
