"""The signed-in console user, the role check and store scoping."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Iterable, TypeVar, cast

from flask import current_app, g, redirect, request, session, url_for

from db.models import User
from server.database import db_session
from server.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "user_id"  # shared with server.loyalty's API check


def current_user() -> User | None:
    """The console user of this request, or None when nobody is signed in."""
    if "shopgo_user" not in g:
        user_id = session.get(SESSION_KEY)
        user = db_session().get(User, user_id) if isinstance(user_id, int) else None
        g.shopgo_user = user
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
