"""Member data requests over JSON: export everything held about a member, or erase them.

    POST /api/v1/members/<id>/export   -> 200 {...everything held...}
    POST /api/v1/members/<id>/erase    body {"confirm": true} -> 200 {"erased": id, "counts": {...}}

Both need a console user signed in through the staff console (a live console session,
server.auth.users.current_user) whose role is manager or head_office, and the session's
CSRF token in the `X-CSRF-Token` header, as every API POST made with a session carries it:
`console_user_required` below checks both, independent of any handheld token, so another
site cannot make a signed-in manager's browser export or erase anyone. Both are POSTs (a
GET answers 405): an export is a recorded data request, not a page to link to. A manager
may only reach the members of their own store. The member id is read by the route's
bounded `<id:...>` converter (server/params.py): anything but 1..2^31-1 in ASCII digits is
a 404. Both requests are recorded as DataRequest rows with the user as the actor.
"""
from __future__ import annotations

import hmac
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Blueprint, Flask, g, jsonify, request, session
from flask.typing import ResponseReturnValue

from db.models import User
from server.auth import csrf
from server.auth.users import current_user
from server.database import db_session
from server.errors import ApiError
from server.params import parse_json
from server.store.loyalty import LoyaltyError, erase_member, export_member, get_member
from server.store.schemas import ERASE, errors

bp = Blueprint("members_api", __name__, url_prefix="/api/v1/members")
DATA_ROLES = ("manager", "head_office")
View = TypeVar("View", bound=Callable[..., Any])


def console_user_required(*roles: str) -> Callable[[View], View]:
    """Let a view run only for a signed-in console user holding one of `roles` (g.console_user)
    who sent the session's CSRF token in the X-CSRF-Token header."""

    def wrap(view: View) -> View:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                raise ApiError(401, "sign in to the staff console as a manager or head-office user first")
            if roles and user.role not in roles:
                raise ApiError(403, f"a {user.role} user may not do this; it needs the role {' or '.join(roles)}")
            expected, sent = session.get(csrf.FIELD), request.headers.get(csrf.HEADER, "")
            if not expected or not hmac.compare_digest(str(expected), sent):
                raise ApiError(403, f"send the session's CSRF token in the {csrf.HEADER} header")
            g.console_user = user
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return wrap


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


@bp.post("/<id:member_id>/export")
@console_user_required(*DATA_ROLES)
def export(member_id: int) -> ResponseReturnValue:
    """Everything held about the member, as JSON; recorded as a data request."""
    _reachable(member_id)
    sess = db_session()
    data = export_member(sess, member_id, _actor())
    sess.commit()
    resp = jsonify(data)
    resp.headers["Content-Disposition"] = f'attachment; filename="member-{member_id}.json"'
    return resp


@bp.post("/<id:member_id>/erase")
@console_user_required(*DATA_ROLES)
def erase(member_id: int) -> ResponseReturnValue:
    """Remove the member's personal data and anonymise their history; recorded as a data request."""
    body = parse_json(request.get_data(cache=True), required=False)
    if errors(body, ERASE):
        raise ApiError(400, 'send the JSON body {"confirm": true} to erase a member; erasure cannot be undone')
    _reachable(member_id)
    sess = db_session()
    try:
        counts = erase_member(sess, member_id, _actor())
    except LoyaltyError as exc:
        sess.rollback()
        raise ApiError(exc.status, exc.message) from None
    sess.commit()
    return jsonify(erased=member_id, counts=counts)


def init_app(app: Flask) -> None:
    """Register the member data endpoints."""
    app.register_blueprint(bp)
