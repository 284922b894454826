"""The till's API: an exit code's bill before payment, and a staff member's age approval.

Thin over server/store/till.py and server/store/age.py. A till (its device token) or a
signed-in staff member of the trip's store reads the bill; an age approval needs a signed-in
staff member (cookie and CSRF header), whom it records. The checkout and the rescan outcome
are in server/api/handheld.py beside the trip's other steps.
"""
from __future__ import annotations

from flask import Blueprint, Flask, g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from server.api.handheld import store_config, till_or_staff, transaction
from server.api.members import console_user_required
from server.database import db_session
from server.errors import ApiError
from server.store import age, till
from server.store.trips import get_trip

bp = Blueprint("till_api", __name__, url_prefix="/api/v1")


@bp.get("/till/<code>")
def bill(code: str) -> ResponseReturnValue:
    """The bill of the trip an exit code names: lines, differences from the handheld, the rescan
    audit and age checks that wait, points the member may spend (a till or staff of its store)."""
    actor = till_or_staff()
    session = db_session()
    try:
        return jsonify(till.till_bill(session, code, actor, store_config()))
    finally:
        session.rollback()  # a read: nothing to keep


@bp.post("/trips/<trip_id>/age-approval")
@console_user_required("staff", "manager")
def approve_age(trip_id: str) -> ResponseReturnValue:
    """A signed-in staff member of the trip's store approves its age-restricted items; answers the bill."""
    user = g.console_user

    def work(session: Session) -> dict[str, object]:
        trip = get_trip(session, trip_id, for_update=True)
        if user.store_id != trip.store_id:
            raise ApiError(403, f"trip {trip_id} belongs to store {trip.store_id}; staff of store {user.store_id} "
                                "cannot approve it")
        action = age.approve_age(session, trip, user.id)
        return {"trip_id": trip.id, "approved_by": user.username, "at": action.at.isoformat(),
                "gtins": action.payload["gtins"]}

    return jsonify(transaction(work))


def init_app(app: Flask) -> None:
    """Register the till API."""
    app.register_blueprint(bp)
