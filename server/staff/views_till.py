"""The till page: scan the shopper's exit code, see the bill and every difference from the handheld,
record the rescan, approve age checks, take the payment, print and e-mail the receipt.

Thin over server/store/till.py (the bill), audits.record_outcome, age.approve_age and
checkout.checkout / hand_over_receipt, the very services a POS calls through /api/v1. A
refusal (a payment short, an age check not done) shows on the page with what to do.
"""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from server.auth import login_required, require_store
from server.auth.actors import Actor
from server.database import db_session
from server.errors import ApiError
from server.pages import site
from server.staff.audit_queue import ExpectedLine, parse_findings
from server.staff.views_store import _user
from server.staff.web import bp
from server.store import age, audits, checkout, till
from server.store.payment import METHODS
from shop.money import parse_money


def _cfg() -> dict[str, Any]:
    from flask import current_app

    return current_app.config["SHOPGO"]  # type: ignore[no-any-return]


def _back(code: str, done: str) -> Response:
    return redirect(url_for("staff.till_bill", code=code, done=done))


def _page(code: str, error: str = "", status: int = 200) -> ResponseReturnValue:
    user = _user()
    sess = db_session()
    bill = till.till_bill(sess, code, Actor(user.store_id or "", staff_user_id=user.id), _cfg())
    sess.rollback()
    return render_template("staff/till_bill.html", bill=bill, code=code, error=error, methods=METHODS,
                           exponent=int(site()["currency_exponent"])), status


@bp.get("/till")
@login_required(roles=("staff", "manager"))
def till_page() -> ResponseReturnValue:
    """The till's start: a field the exit-code scanner types into."""
    code = request.args.get("code", "").strip()
    if code:
        return redirect(url_for("staff.till_bill", code=code))
    return render_template("staff/till.html")


@bp.get("/till/<code>")
@login_required(roles=("staff", "manager"))
def till_bill(code: str) -> ResponseReturnValue:
    """The bill of the trip the exit code names (or its receipt once paid)."""
    try:
        return _page(code)
    except ApiError as exc:
        return render_template("staff/till.html", error=exc.message, code=code), exc.status


def _act(code: str, work: Any) -> ResponseReturnValue:
    """Run one till action in a transaction; show the bill with the refusal when it is refused."""
    sess = db_session()
    try:
        done = work(sess)
        sess.commit()
    except ApiError as exc:
        sess.rollback()
        try:
            return _page(code, exc.message, exc.status)
        except ApiError as again:
            return render_template("staff/till.html", error=again.message, code=code), again.status
    return _back(code, done)


@bp.post("/till/<code>/age-ok")
@login_required(roles=("staff", "manager"))
def till_age_ok(code: str) -> ResponseReturnValue:
    """The signed-in staff member checked the shopper's age."""
    user = _user()

    def work(sess: Any) -> str:
        trip = till.trip_for_code(sess, code)
        require_store(user, trip.store_id)
        age.approve_age(sess, trip, user.id)
        return f"Age check approved by {user.username}."

    return _act(code, work)


@bp.post("/till/<code>/audit")
@login_required(roles=("staff", "manager"))
def till_audit(code: str) -> ResponseReturnValue:
    """Record what the rescan found; the bill follows it."""
    user = _user()

    def work(sess: Any) -> str:
        trip = till.trip_for_code(sess, code)
        require_store(user, trip.store_id)
        audit = audits.audit_of(sess, trip.id)
        if audit is None:
            raise ApiError(409, "This trip was not picked for a rescan.")
        expected = [ExpectedLine(g, g, 0) for g in dict.fromkeys(request.form.getlist("gtin"))]  # the form's lines
        done = audits.record_outcome(sess, audit.id, parse_findings(request.form, expected),
                                     Actor(trip.store_id, staff_user_id=user.id))
        return ("Rescan passed." if done.status == "passed"
                else f"Rescan recorded: {done.mismatch_count} line(s) differed; the bill now shows what was found.")

    return _act(code, work)


@bp.post("/till/<code>/pay")
@login_required(roles=("staff", "manager"))
def till_pay(code: str) -> ResponseReturnValue:
    """Take the payment (spending points when asked), record the purchase, print and e-mail the receipt."""
    user = _user()
    form = request.form
    exponent = int(site()["currency_exponent"])

    def work(sess: Any) -> str:
        trip = till.trip_for_code(sess, code)
        require_store(user, trip.store_id)
        method = form.get("method", "cash")
        payment: dict[str, Any] = {"method": method}
        if method == "cash" and form.get("tendered", "").strip():
            try:
                payment["tendered_minor"] = parse_money(form["tendered"], exponent)
            except ValueError as exc:
                raise ApiError(400, f"Cash tendered: {exc}") from None
        if method == "manual":
            payment["reference"] = form.get("reference", "")
        points = form.get("spend_points", "").strip()
        if points and not (points.isascii() and points.isdigit() and len(points) <= 9):
            raise ApiError(400, f"Points to spend must be a whole number, not {points!r}.")
        receipt = checkout.checkout(sess, trip.id, Actor(trip.store_id, staff_user_id=user.id), _cfg(),
                                    spend_points=int(points or 0), payment=payment)
        return f"Paid: {receipt['payment']['method']}."

    answer = _act(code, work)
    if isinstance(answer, Response) and answer.status_code == 302:  # paid: hand the receipt over
        sess = db_session()
        trip_id = till.trip_for_code(sess, code).id
        out = checkout.hand_over_receipt(sess, trip_id, _cfg(), printing=bool(form.get("print")))
        sess.commit()
        notes = ["Paid."]
        if form.get("print"):
            notes.append("Receipt printed." if out.get("printed") else f"Not printed: {out.get('print_error')}")
        if out.get("emailed_to"):
            notes.append(f"Receipt e-mailed to {out['emailed_to']}.")
        elif out.get("email_error"):
            notes.append(f"Not e-mailed: {out['email_error']}")
        return _back(code, " ".join(notes))
    return answer


@bp.post("/till/<code>/print")
@login_required(roles=("staff", "manager"))
def till_print(code: str) -> ResponseReturnValue:
    """Print a paid trip's receipt again."""
    user = _user()
    sess = db_session()
    trip = till.trip_for_code(sess, code)
    require_store(user, trip.store_id)
    if trip.receipt is None:
        raise ApiError(409, "This trip is not paid yet: there is no receipt to print.")
    out = checkout.hand_over_receipt(sess, trip.id, _cfg(), printing=True)
    sess.commit()
    return _back(code, "Receipt printed." if out.get("printed") else f"Not printed: {out.get('print_error')}")
