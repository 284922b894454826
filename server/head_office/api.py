"""Head office's JSON API for stores: packs to fetch, acknowledgements, the store's feed.

Stores authenticate with the token `shopgo head-office store-add` printed for them
(`Authorization: Bearer <token>`); each store sees only its own packs, acknowledges only
packs issued to it, and its feed batches count only under its own id (results only for
campaigns head office sent it: server/head_office/feed.py). Numbers
are read once, with bounds (server.params): a bad query value is a 400, a bad body a 400
(not JSON) or 422 (not what server/head_office/openapi.py describes), another store's
campaign a 403; a refused request changes nothing.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from db.base import utcnow
from db.models import Member
from server.database import db_session, engine
from server.errors import ApiError
from server.head_office import compiler, feed
from server.head_office.definition import CampaignError
from server.head_office.lake import open_lake
from server.params import is_digits, parse_json, whole_number
from server.store.outbox import member_payload

bp = Blueprint("head_office_api", __name__, url_prefix="/api/v1/head-office")
log = logging.getLogger(__name__)


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
    return ApiError(422, str(exc))


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


def _signing_key(cfg: Any) -> Any:
    """Head office's key, or None when it has none (a batch that needs it is then refused 503)."""
    from server.head_office.notify import signing_key
    from server.head_office.signing import SignatureError

    try:
        return signing_key(cfg)
    except (OSError, SignatureError, ValueError):
        return None


@bp.get("/cards/<card_number>")
def card(card_number: str) -> ResponseReturnValue:
    """The chain's member holding a card, for a store that does not know it yet (404: nobody)."""
    if not is_digits(card_number, high_len=14):
        raise ApiError(400, "a card number is 1 to 14 digits")
    session = db_session()
    member = session.scalar(select(Member).where(Member.card_number == card_number, Member.erased_at.is_(None)))
    log.info("store %s asked about card %s: %s", g.store_link.store_id, card_number,
             f"member {member.id}" if member else "unknown")
    if member is None:
        raise ApiError(404, f"no member of the chain holds card {card_number}")
    return jsonify(member=member_payload(member))


@bp.post("/feed")
def feed_batch() -> ResponseReturnValue:
    """Apply the store's feed batch once; answers the newest batch number head office holds."""
    body = _body()
    session = db_session()
    link = g.store_link
    cfg = current_app.config["SHOPGO"]
    try:
        done = feed.apply_batch(session, open_lake(cfg), link, body, key=_signing_key(cfg))
    except (CampaignError, feed.NoSigningKey) as exc:
        session.rollback()
        feed.record_refusal(session, link, str(exc))
        session.commit()
        status = 503 if isinstance(exc, feed.NoSigningKey) else 409 if isinstance(exc, feed.FeedGap) else 422
        raise ApiError(status, str(exc), held=link.feed_seq) from None
    session.commit()
    if done.roster_to:
        from server.head_office.notify import notify_stores

        notify_stores(engine(), done.roster_to)  # each fetches its roster pack now, not at its next pull
    withdrawn: list[int] = []
    if done.campaigns:
        from server.head_office.notify import enforce_budgets

        withdrawn = enforce_budgets(current_app._get_current_object(), session, done.campaigns)  # type: ignore[attr-defined]
    return jsonify(held=done.held, applied=done.applied, facts=done.facts, lines=done.lines, results=done.results,
                   skipped=done.skipped, withdrawn=withdrawn)
