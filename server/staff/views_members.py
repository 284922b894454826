"""Member pages: search, the member page with two years of baskets, basket lines, data requests."""
from __future__ import annotations

import json

from flask import Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from db.base import utcnow
from server import charts
from server.auth import current_user, login_required, require_store, scope_store
from server.database import db_session
from server.errors import ApiError
from server.pages import money
from server.params import whole_number
from server.staff import data_requests, lifecycle, members
from server.staff.web import bp, int_arg
from server.store import consents
from server.store.loyalty import points_history

MANAGERS = ("manager", "head_office")


@bp.get("/members")
@login_required()
def member_search() -> ResponseReturnValue:
    """Find a member by card number, household id or name."""
    user = current_user()
    assert user is not None
    q = request.args.get("q", "")
    found = members.search_members(db_session(), q, scope_store(user), int_arg("page", 1))
    if found.total == 1 and q.strip():
        return redirect(url_for("staff.member_page", member_id=found.hits[0].id))
    return render_template("staff/member_search.html", q=q, hits=found.hits, found=found)


@bp.get("/members/<id:member_id>")
@login_required()
def member_page(member_id: int) -> ResponseReturnValue:
    """Everything about one member the store needs: stage, segment, history, offers."""
    user = current_user()
    assert user is not None
    sess = db_session()
    member = members.get_member(sess, member_id)
    require_store(user, member.store_id)
    now = utcnow()
    since = members.history_start(now)
    stats = lifecycle.member_stats(sess, member_id, now, since)
    page = members.basket_page(sess, member_id, int_arg("page", 1), since, stats.baskets)
    spend = members.monthly_spend(sess, member_id, now)
    by_product = members.spend_by_product(sess, member_id, since)
    cats, prods = members.top_categories(by_product), members.top_products(by_product)
    issued, redeemed = members.redemption_totals(sess, member_id)
    return render_template(
        "staff/member.html", member=member, stats=stats, profile=lifecycle.classify(stats, now), page=page,
        chart=charts.monthly_bars(spend, money, f"Spend per month, {member.name or 'member'}"),
        months=spend, categories=charts.share_bar([(c.label, c.spend_minor) for c in cats]),
        cat_rows=cats, products=prods, offers=members.member_offers(sess, member_id), issued=issued,
        redeemed=redeemed, can_request=user.role in MANAGERS, consent_history=consents.history(sess, member_id)[:20],
        wording=consents.WORDING, choices=consents.current(member), points_rows=points_history(sess, member_id))


@bp.get("/members/<id:member_id>/baskets/<bigid:purchase_id>")
@login_required()
def basket(member_id: int, purchase_id: int) -> ResponseReturnValue:
    """A basket's lines: a fragment for the expanding row, or a page of its own."""
    user = current_user()
    assert user is not None
    sess = db_session()
    member = members.get_member(sess, member_id)
    require_store(user, member.store_id)
    purchase, lines = members.basket_lines(sess, member_id, purchase_id)
    template = "staff/_basket_lines.html" if request.args.get("fragment") else "staff/basket.html"
    return render_template(template, member=member, purchase=purchase, lines=lines)


@bp.get("/data-requests")
@login_required(roles=MANAGERS)
def data_requests_page() -> ResponseReturnValue:
    """Export or erase a member; the trail of earlier requests."""
    user = current_user()
    assert user is not None
    rows = data_requests.recent_requests(db_session(), scope_store(user))
    return render_template("staff/data_requests.html", rows=rows, member_id=request.args.get("member", ""))


def _member_for_request(member_raw: str) -> int:
    user = current_user()
    assert user is not None
    member_id = whole_number(member_raw, "the member's household id", low=1)
    member = members.get_member(db_session(), member_id)
    require_store(user, member.store_id)
    return member.id


@bp.post("/data-requests/export")
@login_required(roles=MANAGERS)
def export_member() -> ResponseReturnValue:
    """Download everything held about a member as JSON (recorded)."""
    user = current_user()
    assert user is not None
    member_id = _member_for_request(request.form.get("member_id", ""))
    sess = db_session()
    data = data_requests.export(sess, member_id, user.username)
    sess.commit()
    body = json.dumps(data, indent=2, default=str)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="member-{member_id}.json"'})


@bp.post("/data-requests/erase")
@login_required(roles=MANAGERS)
def erase_member() -> ResponseReturnValue:
    """Erase a member's personal data once the household id is typed again to confirm."""
    user = current_user()
    assert user is not None
    member_id = _member_for_request(request.form.get("member_id", ""))
    if request.form.get("confirm", "").strip() != str(member_id):
        raise ApiError(400, "Type the household id again in the confirmation box to erase this member.")
    sess = db_session()
    counts = data_requests.erase(sess, member_id, user.username)
    sess.commit()
    done = sum(counts.values())
    return redirect(url_for("staff.data_requests_page", done=f"Member {member_id} erased ({done} records changed)."))
