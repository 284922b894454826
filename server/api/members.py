"""Member data requests over JSON: export everything held about a member, or erase them.

    GET  /api/v1/members/<id>/export   -> 200 {...everything held...}
    POST /api/v1/members/<id>/erase    body {"confirm": true} -> 200 {"erased": id, "counts": {...}}

Both need a console user signed in through the staff console (the Flask session's
`user_id`, set at sign-in) whose role is manager or head_office: `console_user_required`
below checks it, independent of any handheld token. A manager may only reach the members
of their own store. Erasure needs a JSON body, which a cross-site form cannot send, so a
forged POST from another site cannot erase anyone. Both requests are recorded as
DataRequest rows with the user as the actor.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Blueprint, Flask, g, jsonify, request, session
from flask.typing import ResponseReturnValue

from db.models import User
from server.database import db_session
from server.errors import ApiError
from server.loyalty import LoyaltyError, erase_member, export_member, get_member

bp = Blueprint("members_api", __name__, url_prefix="/api/v1/members")
DATA_ROLES = ("manager", "head_office")
View = TypeVar("View", bound=Callable[..., Any])


def console_user_required(*roles: str) -> Callable[[View], View]:
    """Let a view run only for a signed-in console user holding one of `roles` (g.console_user)."""

    def wrap(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user_id = session.get("user_id")
            user = db_session().get(User, user_id) if isinstance(user_id, int) else None
            if user is None:
                raise ApiError(401, "sign in to the staff console as a manager or head-office user first")
            if roles and user.role not in roles:
                raise ApiError(403, f"a {user.role} user may not do this; it needs the role {' or '.join(roles)}")
            g.console_user = user
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return wrap


def _member_id(text: str) -> int:
    if not text.isdigit() or len(text) > 10 or int(text) > 2**31 - 1:
        raise ApiError(400, f"member id must be a whole number, not {text!r}")
    return int(text)


def _reachable(member_id: int) -> None:
    """404 for an unknown member; 403 when a manager asks about another store's member."""
    try:
        member = get_member(db_session(), member_id)
    except LoyaltyError as exc:
        raise ApiError(exc.status, exc.message) from None
    user: User = g.console_user
    if user.role == "manager" and member.store_id != user.store_id:
        raise ApiError(403, f"member {member_id} belongs to store {member.store_id}, not yours ({user.store_id})")


def _actor() -> str:
    user: User = g.console_user
    return f"user:{user.username}"


@bp.get("/<member_id>/export")
@console_user_required(*DATA_ROLES)
def export(member_id: str) -> ResponseReturnValue:
    """Everything held about the member, as JSON; recorded as a data request."""
    mid = _member_id(member_id)
    _reachable(mid)
    sess = db_session()
    data = export_member(sess, mid, _actor())
    sess.commit()
    resp = jsonify(data)
    resp.headers["Content-Disposition"] = f'attachment; filename="member-{mid}.json"'
    return resp


@bp.post("/<member_id>/erase")
@console_user_required(*DATA_ROLES)
def erase(member_id: str) -> ResponseReturnValue:
    """Remove the member's personal data and anonymise their history; recorded as a data request."""
    mid = _member_id(member_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("confirm") is not True:
        raise ApiError(400, 'send the JSON body {"confirm": true} to erase a member; erasure cannot be undone')
    _reachable(mid)
    sess = db_session()
    try:
        counts = erase_member(sess, mid, _actor())
    except LoyaltyError as exc:
        sess.rollback()
        raise ApiError(exc.status, exc.message) from None
    sess.commit()
    return jsonify(erased=mid, counts=counts)


def init_app(app: Flask) -> None:
    """Register the member data endpoints."""
    app.register_blueprint(bp)
