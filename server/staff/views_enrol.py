"""Enrolment and consent: a new member at the console or the store's kiosk, their printable card,
their consents changed later (console or till), and their points history.

Thin over server/store/enrolment.py, consents.py and loyalty.py. The kiosk is the same form
without the console around it, for a screen in the store that a colleague has signed in to:
shoppers enrol themselves there, and the enrolment is recorded as the kiosk's.
"""
from __future__ import annotations

from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.auth import login_required, require_store
from server.database import db_session
from server.errors import ApiError
from server.staff import members
from server.staff.views_store import _user
from server.staff.web import bp
from server.store import cards, consents, enrolment

ENROLLERS = ("staff", "manager")


def _answers(form: Any) -> dict[str, bool]:
    return {purpose: form.get(purpose) == "yes" for purpose in consents.PURPOSES}


def _enrol(source: str) -> ResponseReturnValue:
    user = _user()
    form = request.form
    sess = db_session()
    try:
        member = enrolment.enrol(sess, current_app.config["SHOPGO"], user.store_id or "", form.get("name"),
                                 form.get("email"), _answers(form), source=source, user_id=user.id)
        sess.commit()
    except ApiError as exc:
        sess.rollback()
        return render_template("staff/enrol.html", error=exc.message, form=form, wording=consents.WORDING,
                               kiosk=source == "kiosk"), exc.status
    return redirect(url_for("staff.member_card", member_id=member.id, kiosk=1 if source == "kiosk" else None))


@bp.route("/members/new", methods=["GET", "POST"])
@login_required(roles=ENROLLERS)
def enrol_member() -> ResponseReturnValue:
    """Enrol a new member of this store: name, optional e-mail, consent per purpose."""
    if request.method == "POST":
        return _enrol("console")
    return render_template("staff/enrol.html", form={}, wording=consents.WORDING, kiosk=False)


@bp.route("/kiosk", methods=["GET", "POST"])
@login_required(roles=ENROLLERS)
def kiosk() -> ResponseReturnValue:
    """The in-store kiosk: shoppers join the club themselves (a colleague signs the kiosk in)."""
    if request.method == "POST":
        return _enrol("kiosk")
    return render_template("staff/enrol.html", form={}, wording=consents.WORDING, kiosk=True)


@bp.get("/members/<id:member_id>/card")
@login_required()
def member_card(member_id: int) -> ResponseReturnValue:
    """The member's printable loyalty card (EAN-13 of the card number)."""
    user = _user()
    member = members.get_member(db_session(), member_id)
    require_store(user, member.store_id)
    svg = cards.card_svg(member.card_number).decode()
    svg = svg[svg.index("<svg"):]  # inline: drop the XML declaration and doctype
    return render_template("staff/card.html", member=member, svg=svg, kiosk=bool(request.args.get("kiosk")))


@bp.get("/members/<id:member_id>/card.svg")
@login_required()
def member_card_svg(member_id: int) -> ResponseReturnValue:
    """The card's barcode alone, as SVG."""
    user = _user()
    member = members.get_member(db_session(), member_id)
    require_store(user, member.store_id)
    return Response(cards.card_svg(member.card_number), mimetype="image/svg+xml")


@bp.post("/members/<id:member_id>/consents")
@login_required(roles=ENROLLERS)
def member_consents(member_id: int) -> ResponseReturnValue:
    """Change a member's e-mail and consents (from the member page, or the till's)."""
    user = _user()
    sess = db_session()
    member = members.get_member(sess, member_id)
    require_store(user, member.store_id)
    source = "till" if request.form.get("source") == "till" else "console"
    try:
        if "email" in request.form and (source == "console" or request.form["email"].strip()):  # till: blank keeps it
            member.email = enrolment.clean_details(member.name or "member", request.form.get("email"))[1]
        made = consents.set_consents(sess, member, _answers(request.form), source=source,
                                     cfg=current_app.config["SHOPGO"], user_id=user.id)
        sess.commit()
    except ApiError:
        sess.rollback()
        raise
    note = f"Saved {len(made)} change{'s' if len(made) != 1 else ''} to the member's choices." if made \
        else "Nothing changed."
    if request.form.get("till_code"):
        return redirect(url_for("staff.till_bill", code=request.form["till_code"], done=note))
    return redirect(url_for("staff.member_page", member_id=member_id, done=note) + "#choices")
