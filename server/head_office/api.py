"""Head office's JSON API for stores: packs to fetch, acknowledgements, result batches.

Stores authenticate with the token `shopgo head-office store-add` printed for them
(`Authorization: Bearer <token>`); each store sees only its own packs, acknowledges only
packs issued to it, and reports results only for campaigns head office sent it. Numbers
are read once, with bounds (server.params): a bad query value is a 400, a bad body a 400
(not JSON) or 422 (not what server/head_office/openapi.py describes), another store's
campaign a 403; a refused request changes nothing.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from db.base import utcnow
from server.database import db_session
from server.errors import ApiError
from server.head_office import compiler, results
from server.head_office.definition import CampaignError
from server.params import parse_json, whole_number

bp = Blueprint("head_office_api", __name__, url_prefix="/api/v1/head-office")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@bp.before_request
def _store_required() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send the store's token as 'Authorization: Bearer <token>' "
                            "(printed by `shopgo head-office store-add`)")
    link = compiler.store_for_token(db_session(), token.strip())
    if link is None:
        raise ApiError(401, "unknown store token; link the store again with `shopgo head-office store-add`")
    g.store_link = link


def _body() -> dict[str, Any]:
    body = parse_json(request.get_data(cache=True))
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _refused(exc: CampaignError) -> ApiError:
    db_session().rollback()
    return ApiError(403 if isinstance(exc, results.CampaignForbidden) else 422, str(exc))


@bp.get("/packs")
def packs() -> ResponseReturnValue:
    """The store's packs after `after` (its last applied sequence number), oldest first."""
    after = whole_number(request.args.get("after", "0"), "after (the last applied pack's sequence number)")
    session = db_session()
    link = g.store_link
    found = compiler.packs_after(session, link.store_id, after)
    link.last_contact_at = utcnow()
    session.commit()
    return jsonify(store_id=link.store_id, packs=[{"seq": p.seq, "body": p.body, "signature": p.signature}
                                                  for p in found])


@bp.post("/acks")
def acks() -> ResponseReturnValue:
    """Record what the store did with packs head office issued to it."""
    body = _body()
    if not isinstance(body.get("acks"), list):
        raise ApiError(422, "acks must be a list of {seq, status, reason}")
    session = db_session()
    try:
        done = compiler.record_acks(session, g.store_link, body["acks"])
    except CampaignError as exc:
        raise _refused(exc) from None
    session.commit()
    return jsonify(recorded=done, acked_seq=g.store_link.acked_seq)


@bp.post("/results")
def post_results() -> ResponseReturnValue:
    """Store one result batch once (by batch_id); a repeat answers duplicate and counts nothing."""
    body = _body()
    batch_id, rows = body.get("batch_id"), body.get("rows")
    if not isinstance(batch_id, str) or not UUID.fullmatch(batch_id):
        raise ApiError(422, "batch_id must be a UUID made by the store")
    if not isinstance(rows, list) or len(rows) > results.MAX_ROWS:
        raise ApiError(422, f"rows must be a list of at most {results.MAX_ROWS} objects")
    session = db_session()
    try:
        answer = results.ingest_results(session, g.store_link, batch_id.lower(), rows)
    except CampaignError as exc:
        raise _refused(exc) from None
    session.commit()
    if answer["stored"]:
        from server.head_office.notify import enforce_budgets

        # every row passed ingest_results' checks, so each campaign_id is a whole number
        answer["withdrawn"] = enforce_budgets(current_app._get_current_object(),  # type: ignore[attr-defined]
                                              session, {int(r["campaign_id"]) for r in rows})
    return jsonify(answer)
