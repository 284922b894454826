"""Store pages: dashboard, live trips and staff actions, the audit queue, shopper feedback."""
from __future__ import annotations

from datetime import timedelta

from flask import jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from db.base import utcnow
from db.models import User
from server.auth import current_user, login_required, require_store, scope_store, working_store
from server.charts import hourly_bars
from server.database import db_session
from server.errors import ApiError
from server.pages import money, site
from server.staff import audit_queue, live
from server.staff import dashboard as dash
from server.staff import feedback as fb
from server.staff.web import ago, bp, date_arg, today_local


def _user() -> User:
    user = current_user()
    assert user is not None  # login_required ran first
    return user


@bp.get("/")
@login_required()
def dashboard() -> ResponseReturnValue:
    """Today's figures for the store."""
    user = _user()
    now = utcnow()
    store_id = working_store(user)
    day = date_arg("day", today_local(now))
    data = dash.store_dashboard(db_session(), store_id, day, site()["timezone"], now)
    actions = live.recent_actions(db_session(), store_id, now - timedelta(days=1))
    before = data.last_week
    charts = {
        "trips": hourly_bars([h.trips for h in data.hours], [h.trips for h in before.hours] if before else None,
                             str, "Trips started per hour", chart_id="trips-chart"),
        "sales": hourly_bars([h.sales_minor for h in data.hours],
                             [h.sales_minor for h in before.hours] if before else None, money, "Sales per hour",
                             chart_id="sales-chart"),
    }
    return render_template("staff/dashboard.html", d=data, b=before, store_id=store_id, actions=actions,
                           charts=charts)


@bp.get("/trips")
@login_required()
def trips() -> ResponseReturnValue:
    """Trips in progress; the table refreshes itself every few seconds."""
    store_id = working_store(_user())
    return render_template("staff/trips.html", trips=live.live_trips(db_session(), store_id), now=utcnow(),
                           ago=ago, store_id=store_id)


@bp.get("/trips/live")
@login_required()
def trips_fragment() -> ResponseReturnValue:
    """The live table alone, for the page's refresh loop."""
    store_id = working_store(_user())
    views = live.live_trips(db_session(), store_id)
    html = render_template("staff/_trips_table.html", trips=views, now=utcnow(), ago=ago)
    return jsonify(html=html, count=len(views), urgent=sum(v.urgent for v in views))


def _trip_action(trip_id: str, action: str) -> ResponseReturnValue:
    user = _user()
    sess = db_session()
    view = live.live_trip(sess, trip_id)
    require_store(user, view.trip.store_id)
    if action == "age_ok":
        live.approve_age(sess, trip_id, user)
        note = "Age check approved."
    elif action == "take_over":
        live.take_over(sess, trip_id, user)
        note = "You have taken over this trip."
    elif action == "help_done":
        live.help_done(sess, trip_id, user)
        note = "Help request closed."
    else:
        key = request.form.get("key", "").strip()
        if not key:
            raise ApiError(400, "Say which line to void (the form's `key` field is empty).")
        live.void_line(sess, trip_id, key, user)
        note = "Line voided."
    sess.commit()
    return redirect(url_for("staff.trips", done=note, store=request.args.get("store") or None) + f"#trip-{trip_id}")


@bp.post("/trips/<trip_id>/age-ok")
@login_required()
def trip_age_ok(trip_id: str) -> ResponseReturnValue:
    """Approve the age check of a trip."""
    return _trip_action(trip_id, "age_ok")


@bp.post("/trips/<trip_id>/void")
@login_required()
def trip_void(trip_id: str) -> ResponseReturnValue:
    """Void one line of a trip."""
    return _trip_action(trip_id, "void_line")


@bp.post("/trips/<trip_id>/take-over")
@login_required()
def trip_take_over(trip_id: str) -> ResponseReturnValue:
    """Take over a trip in person."""
    return _trip_action(trip_id, "take_over")


@bp.post("/trips/<trip_id>/help-done")
@login_required()
def trip_help_done(trip_id: str) -> ResponseReturnValue:
    """Close a trip's help request."""
    return _trip_action(trip_id, "help_done")


@bp.get("/audits")
@login_required()
def audits() -> ResponseReturnValue:
    """Trips waiting for a rescan."""
    store_id = working_store(_user())
    return render_template("staff/audits.html", queue=audit_queue.pending_audits(db_session(), store_id),
                           store_id=store_id)


@bp.route("/audits/<id:audit_id>", methods=["GET", "POST"])
@login_required()
def audit(audit_id: int) -> ResponseReturnValue:
    """Rescan form: what the trip's log holds, line by line, and what staff found."""
    user = _user()
    sess = db_session()
    item = audit_queue.get_audit(sess, audit_id)
    require_store(user, item.store_id)
    expected = audit_queue.expected_lines(sess, item.trip_id)
    if request.method == "POST":
        findings = audit_queue.parse_findings(request.form, expected)
        done = audit_queue.record_findings(sess, audit_id, findings, user)
        sess.commit()
        note = (f"Audit {audit_id} passed." if done.status == "passed"
                else f"Audit {audit_id}: {done.mismatch_count} line(s) did not match.")
        return redirect(url_for("staff.audits", done=note))
    return render_template("staff/audit.html", audit=item, trip=audit_queue.trip_of(sess, item), expected=expected)


@bp.get("/feedback")
@login_required()
def feedback() -> ResponseReturnValue:
    """Shopper reports from the handhelds."""
    store_id = working_store(_user())
    status = request.args.get("status") or None
    return render_template("staff/feedback.html", rows=fb.list_feedback(db_session(), store_id, status),
                           status=status, statuses=fb.STATUSES, store_id=store_id)


@bp.post("/feedback/<feedback_id>/status")
@login_required()
def feedback_status(feedback_id: str) -> ResponseReturnValue:
    """Move a report to a new status."""
    user = _user()
    sess = db_session()
    fb.set_status(sess, feedback_id, request.form.get("status", ""), scope_store(user))
    sess.commit()
    return redirect(url_for("staff.feedback", done="Status updated.", status=request.args.get("status") or None))
