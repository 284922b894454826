"""Console sign-in: session cookie, CSRF token on every form, lock-out, role and store checks."""
from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from server import accounts
from server.auth import ratelimit
from server.auth.csrf import csrf_token, protect, rotate
from server.auth.users import SESSION_KEY, current_user, login_required, require_store, scope_store, working_store
from server.database import db_session

bp = Blueprint("auth", __name__, template_folder="templates")

__all__ = ["bp", "current_user", "init_app", "login_required", "require_store", "scope_store", "working_store"]


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the sign-in page cannot be used to bounce people elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("staff.dashboard") if "staff.dashboard" in _view_names() else "/"


def _view_names() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> ResponseReturnValue:
    """Show the sign-in form; on POST check the password (with lock-out) and start a session."""
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
            sess.commit()  # failed-attempt counts and lock-outs must stick
            if result.user is not None:
                session.clear()
                session[SESSION_KEY] = result.user.id
                session.permanent = False
                rotate()
                return redirect(_safe_next(request.form.get("next")))
            error, status = result.reason.capitalize() + ".", 401
    return render_template("auth/signin.html", error=error, username=username,
                           next=request.values.get("next", "")), status


@bp.post("/signout")
def signout() -> ResponseReturnValue:
    """End the session."""
    session.clear()
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
