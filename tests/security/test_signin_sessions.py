"""Each sign-in is a console session row; signing out ends it on the server, so a copy of the
cookie taken before is worth nothing afterwards."""
from __future__ import annotations

import hashlib

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import ConsoleSession, Feedback, User
from tests.staff.conftest import shared_app, sign_in, token_of  # noqa: F401  (shared_app is a fixture)


def _signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def _replay(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie as it is now."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie("session", cookie.value)
    return copy


def _session_row(app: Flask, client: FlaskClient) -> ConsoleSession | None:
    from server.database import session_factory

    with client.session_transaction() as cookie:
        secret = cookie.get("console_session")
    if not isinstance(secret, str):
        return None
    with session_factory(app)() as sess:
        return sess.get(ConsoleSession, hashlib.sha256(secret.encode()).hexdigest())


def test_a_copied_cookie_is_signed_out_with_its_session(shared_app: Flask) -> None:  # noqa: F811
    client = _signed_in(shared_app, "alice")
    token = token_of(client)
    copy = _replay(shared_app, client)
    assert copy.get("/staff/").status_code == 200  # the copy works while the session lasts
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302

    resp = copy.get("/staff/members/7")
    assert resp.status_code == 302 and "/signin?next=/staff/members/7" in resp.location
    feedback = shared_app.config["STAFF_SEED"].feedback_id
    resp = copy.post(f"/staff/feedback/{feedback}/status", data={"csrf_token": token, "status": "resolved"})
    assert resp.status_code == 401

    from server.database import session_factory

    with session_factory(shared_app)() as sess:
        assert sess.get(Feedback, feedback).status != "resolved"


def test_sign_in_starts_a_session_row_and_sign_out_ends_it(shared_app: Flask) -> None:  # noqa: F811
    client = _signed_in(shared_app, "bob")
    row = _session_row(shared_app, client)
    assert row is not None and row.ended_at is None
    from server.database import session_factory

    with session_factory(shared_app)() as sess:
        assert row.user_id == sess.scalar(select(User.id).where(User.username == "bob"))
    client.post("/signout", data={"csrf_token": token_of(client)})
    with session_factory(shared_app)() as sess:
        ended = sess.get(ConsoleSession, row.id)
        assert ended is not None and ended.ended_at is not None


def test_signing_in_again_ends_the_session_before(shared_app: Flask) -> None:  # noqa: F811
    client = _signed_in(shared_app, "alice")
    earlier = _replay(shared_app, client)
    assert sign_in(client, "mia").status_code == 302
    assert earlier.get("/staff/").status_code == 302
    assert client.get("/staff/").status_code == 200


def test_a_cookie_naming_another_users_session_is_refused(shared_app: Flask) -> None:  # noqa: F811
    alice = _signed_in(shared_app, "alice")
    bob = _signed_in(shared_app, "bob")
    with alice.session_transaction() as cookie:
        alice_id = cookie["user_id"]
    with bob.session_transaction() as cookie:
        cookie["user_id"] = alice_id  # bob's live session, claiming to be alice
    assert bob.get("/staff/").status_code == 302


def test_a_cookie_without_a_session_is_refused(shared_app: Flask) -> None:  # noqa: F811
    alice = _signed_in(shared_app, "alice")
    with alice.session_transaction() as cookie:
        cookie.pop("console_session", None)  # what a cookie made before console sessions carries
    assert alice.get("/staff/").status_code == 302


def test_a_session_older_than_a_long_shift_signs_in_again(shared_app: Flask) -> None:  # noqa: F811
    from datetime import timedelta

    from sqlalchemy import update

    from server.auth.users import SESSION_MAX_AGE
    from server.database import session_factory

    client = _signed_in(shared_app, "alice")
    row = _session_row(shared_app, client)
    assert row is not None and client.get("/staff/").status_code == 200
    with session_factory(shared_app)() as sess:
        sess.execute(update(ConsoleSession).where(ConsoleSession.id == row.id).values(
            started_at=row.started_at - SESSION_MAX_AGE - timedelta(minutes=1)))
        sess.commit()
    resp = client.get("/staff/")
    assert resp.status_code == 302 and "/signin" in resp.location


def test_the_nightly_purge_removes_old_and_ended_sessions_only(shared_app: Flask) -> None:  # noqa: F811
    from datetime import timedelta

    from db.base import utcnow
    from server.auth.users import ENDED_KEPT, SESSION_MAX_AGE, purge_sessions
    from server.database import session_factory

    now = utcnow()
    with session_factory(shared_app)() as sess:
        user = sess.scalars(select(User).where(User.username == "alice")).one()
        rows = {"ended long ago": ConsoleSession(id="a" * 64, user_id=user.id, started_at=now - ENDED_KEPT * 2,
                                                 ended_at=now - ENDED_KEPT - timedelta(hours=1)),
                "ended today": ConsoleSession(id="b" * 64, user_id=user.id, started_at=now - timedelta(hours=2),
                                              ended_at=now - timedelta(hours=1)),
                "abandoned": ConsoleSession(id="c" * 64, user_id=user.id, started_at=now - 3 * SESSION_MAX_AGE),
                "live": ConsoleSession(id="d" * 64, user_id=user.id, started_at=now - timedelta(hours=1))}
        sess.add_all(rows.values())
        sess.commit()
        assert purge_sessions(sess, now) >= 2
        sess.commit()
        left = set(sess.scalars(select(ConsoleSession.id).where(ConsoleSession.id.in_([r.id for r in rows.values()]))))
    assert left == {"b" * 64, "d" * 64}
