"""Head office's JSON API for stores: packs to fetch, acknowledgements, result batches.

Stores authenticate with the token `shopgo head-office store-add` printed for them
(`Authorization: Bearer <token>`); each store sees only its own packs.
"""
from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from server.database import db_session
from server.errors import ApiError
from server.head_office import compiler, results
from server.head_office.definition import CampaignError

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
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


@bp.get("/packs")
def packs() -> ResponseReturnValue:
    """The store's packs after `after` (its last applied sequence number), oldest first."""
    raw = request.args.get("after", "0")
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, f"after must be a pack sequence number (a whole number), not {raw!r}")
    session = db_session()
    link = g.store_link
    found = compiler.packs_after(session, link.store_id, int(raw))
    from db.base import utcnow

    link.last_contact_at = utcnow()
    session.commit()
    return jsonify(store_id=link.store_id, packs=[{"seq": p.seq, "body": p.body, "signature": p.signature}
                                                  for p in found])


@bp.post("/acks")
def acks() -> ResponseReturnValue:
    """Record what the store did with its packs."""
    body = _body()
    if not isinstance(body.get("acks"), list):
        raise ApiError(400, "acks must be a list of {seq, status, reason}")
    session = db_session()
    try:
        done = compiler.record_acks(session, g.store_link, body["acks"])
    except CampaignError as exc:
        session.rollback()
        raise ApiError(422, str(exc)) from None
    session.commit()
    return jsonify(recorded=done, acked_seq=g.store_link.acked_seq)


@bp.post("/results")
def post_results() -> ResponseReturnValue:
    """Store one result batch once (by batch_id); a repeat answers duplicate and counts nothing."""
    body = _body()
    batch_id, rows = body.get("batch_id"), body.get("rows")
    if not isinstance(batch_id, str) or not UUID.fullmatch(batch_id):
        raise ApiError(400, "batch_id must be a UUID made by the store")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows) or len(rows) > 100_000:
        raise ApiError(400, "rows must be a list of at most 100000 objects")
    session = db_session()
    try:
        answer = results.ingest_results(session, g.store_link, batch_id.lower(), rows)
    except CampaignError as exc:
        session.rollback()
        raise ApiError(422, str(exc)) from None
    session.commit()
    if answer["stored"]:
        from server.head_office.notify import enforce_budgets

        answer["withdrawn"] = enforce_budgets(current_app._get_current_object(),  # type: ignore[attr-defined]
                                              session, {int(r["campaign_id"]) for r in rows})
    return jsonify(answer)
