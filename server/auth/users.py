"""The signed-in console user, the role check and store scoping.

A sign-in is a ConsoleSession row. The Flask session cookie carries the user's id and a
random secret; the row's id is the secret's SHA-256, so the database never holds what the
cookie holds. A cookie counts only while its row exists, has not ended and belongs to the
user the cookie names: signing out ends the row, and a copy of the cookie taken before is
refused from then on.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable, Iterable, TypeVar, cast

from flask import current_app, g, redirect, request, session, url_for
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import ConsoleSession, User
from server.database import db_session
from server.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "user_id"  # shared with server.api.members' check
SECRET_KEY = "console_session"  # the secret whose SHA-256 names the ConsoleSession row
SESSION_MAX_AGE = timedelta(hours=16)  # a shift and then some: an unattended console signs in again next day
ENDED_KEPT = timedelta(days=7)  # ended sessions kept this long (who was signed in when), then purged


def _row_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _live_row(sess: Session) -> ConsoleSession | None:
    """The cookie's console session while it lasts: not ended and of the user the cookie names."""
    user_id, secret = session.get(SESSION_KEY), session.get(SECRET_KEY)
    if not isinstance(user_id, int) or not isinstance(secret, str) or not secret:
        return None
    row = sess.get(ConsoleSession, _row_id(secret))
    if row is None or row.ended_at is not None or row.user_id != user_id or utcnow() - row.started_at > SESSION_MAX_AGE:
        return None
    return row


def purge_sessions(sess: Session, now: datetime | None = None) -> int:
    """Delete console sessions ended more than ENDED_KEPT ago or started before twice SESSION_MAX_AGE; how many."""
    now = now or utcnow()
    gone = sess.execute(delete(ConsoleSession).where(or_(
        ConsoleSession.ended_at < now - ENDED_KEPT, ConsoleSession.started_at < now - 2 * SESSION_MAX_AGE)))
    return int(gone.rowcount or 0)


def start_session(sess: Session, user: User) -> None:
    """Sign `user` in: a new ConsoleSession row and a fresh cookie naming it (commits)."""
    end_session(sess)  # a sign-in over another ends that one, so its old cookie is worthless too
    session.clear()
    secret = secrets.token_urlsafe(32)
    sess.add(ConsoleSession(id=_row_id(secret), user_id=user.id, started_at=utcnow()))
    sess.commit()
    session[SESSION_KEY] = user.id
    session[SECRET_KEY] = secret
    session.permanent = False
    g.pop("shopgo_user", None)


def end_session(sess: Session) -> None:
    """End the cookie's console session on the server and forget it in the cookie (commits)."""
    row = _live_row(sess)
    if row is not None:
        row.ended_at = utcnow()
        sess.commit()
    session.clear()
    g.pop("shopgo_user", None)


def current_user() -> User | None:
    """The console user of this request, or None when nobody is signed in (or the session ended)."""
    if "shopgo_user" not in g:
        sess = db_session()
        row = _live_row(sess)
        g.shopgo_user = sess.get(User, row.user_id) if row is not None else None
    return cast("User | None", g.shopgo_user)


def login_required(roles: Iterable[str] | None = None) -> Callable[[F], F]:
    """Send anonymous visitors to sign in; answer 403 to a user whose role is not in `roles`."""
    allowed = tuple(roles) if roles else None

    def wrap(view: F) -> F:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.method == "GET" and not request.path.startswith("/api/"):
                    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
                raise ApiError(401, "Sign in first.")
            if allowed and user.role not in allowed:
                raise ApiError(403, f"This page is for {' or '.join(r.replace('_', ' ') for r in allowed)} users; "
                                    f"you are signed in as {user.role.replace('_', ' ')}.")
            return view(*args, **kwargs)

        return cast(F, inner)

    return wrap


def scope_store(user: User) -> str | None:
    """The one store a user may see, or None for head office (every store)."""
    return None if user.role == "head_office" else user.store_id


def require_store(user: User, store_id: str | None) -> None:
    """403 unless `user` may see data of `store_id`."""
    scope = scope_store(user)
    if scope is not None and store_id != scope:
        raise ApiError(403, "That belongs to another store; staff and managers see their own store only.")


def working_store(user: User) -> str:
    """The store whose pages a user is looking at: their own, or the one head office picked."""
    scope = scope_store(user)
    if scope is not None:
        return scope
    picked = request.args.get("store", "").strip()
    return picked or str(current_app.config["SHOPGO"]["site"]["store_id"])
