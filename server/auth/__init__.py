"""Console sign-in: a server-side session per sign-in, CSRF token on every form, throttling of
failed sign-ins per client, role and store checks.

accounts.py (staff users, devices) and actors.py (who acts on a store's trips) are plain
services; may import the platform modules and `db`.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.auth import accounts, ratelimit
from server.auth.csrf import csrf_token, protect, rotate
from server.auth.users import (
    current_user,
    end_session,
    login_required,
    require_store,
    scope_store,
    start_session,
    working_store,
)
from server.database import db_session

bp = Blueprint("auth", __name__, template_folder="templates")

__all__ = ["bp", "current_user", "init_app", "login_required", "require_store", "scope_store", "working_store"]


def is_local_path(target: str) -> bool:
    """True for a path on this site ("/staff/members?q=x"), never anything a browser could
    take to another site: browsers drop tabs and newlines ("/\t/evil" becomes "//evil") and
    read a backslash as a slash, so any whitespace, control or format character, backslash,
    scheme or host refuses the whole value."""
    if not target.startswith("/") or target.startswith("//"):
        return False
    if any(ch == "\\" or ch.isspace() or unicodedata.category(ch).startswith(("C", "Z")) for ch in target):
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc and parts.path.startswith("/")


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the sign-in page cannot be used to bounce people elsewhere."""
    if target and is_local_path(target):
        return target
    return url_for("staff.dashboard") if "staff.dashboard" in _view_names() else "/"


def _view_names() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> ResponseReturnValue:
    """Show the sign-in form; on POST check the password and start a console session.

    Repeated failures are throttled per client before this view runs (server/auth/ratelimit.py).
    """
    error = ""
    username = ""
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username or not password:
            error, status = "Enter your user name and password.", 400
        else:
            sess = db_session()
            result = accounts.check_login(sess, username, password)
            if result.user is not None:
                start_session(sess, result.user)
                rotate()
                return redirect(_safe_next(request.form.get("next")))
            error, status = result.reason.capitalize() + ".", 401
    return render_template("auth/signin.html", error=error, username=username,
                           next=request.values.get("next", "")), status


@bp.post("/signout")
def signout() -> ResponseReturnValue:
    """End the console session on the server, so a copy of the cookie is refused from now on."""
    end_session(db_session())
    return redirect(url_for("auth.signin"))


def init_app(app: Flask) -> None:
    """Register sign-in pages, the CSRF check and the template helpers."""
    if "auth" in app.blueprints:
        return
    app.register_blueprint(bp)
    app.before_request(protect)
    ratelimit.init_app(app)  # 429 past the failed sign-in limits (server/auth/ratelimit.py)

    @app.context_processor
    def _helpers() -> dict[str, object]:
        return {"csrf_token": csrf_token, "current_user": current_user}
