"""The handheld API (server/api/HANDHELD_API.md): thin views over the trips, catalogue,
checkout and audits services. Every view validates its body against server/store/schemas.py,
runs one service call in one transaction, and answers JSON; a refused request writes nothing.
"""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from flask import session as cookie_session
from flask.typing import ResponseReturnValue
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Device, Member
from server.auth import csrf
from server.auth.accounts import hash_token
from server.auth.actors import Actor
from server.auth.users import current_user
from server.database import db_session
from server.errors import ApiError
from server.params import optional_number, parse_json
from server.store import audits, catalogue, chain_members, checkout, trips
from server.store.finish import finish_trip
from server.store.ingest import ingest_events, staff_events
from server.store.schemas import AUDIT_OUTCOME, CHECKOUT, FINISH, TRIP_START, parse_time, validate, validate_event_batch

bp = Blueprint("handheld_api", __name__, url_prefix="/api/v1")
View = TypeVar("View", bound=Callable[..., ResponseReturnValue])
T = TypeVar("T")
REVOKED = "unknown or revoked device token"
LAST_SEEN_EVERY = timedelta(minutes=1)  # a device's last_seen_at is written at most this often


@dataclass(frozen=True)
class DeviceRef:
    """The authenticated device as the views need it (read as plain columns, not an ORM row)."""

    id: int
    store_id: str
    role: str = "handheld"


# Columns only, the revoked check in the same query: a revoked token is refused at once.
_devices = Device.__table__
_DEVICE_BY_TOKEN = select(_devices.c.id, _devices.c.store_id, _devices.c.role, _devices.c.last_seen_at).where(
    _devices.c.token_hash == bindparam("token_hash"), _devices.c.revoked_at.is_(None))
_TOUCH_DEVICE = update(_devices).where(_devices.c.id == bindparam("device")).values(last_seen_at=bindparam("now"))


def _token_hash() -> str:
    """The hash of the request's `Authorization: Bearer <token>`; 401 when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send the device token as 'Authorization: Bearer <token>' (shopgo device add)")
    return hash_token(token.strip())


def _authenticate(token_hash: str) -> DeviceRef:
    """The live device of this store holding the token (401 otherwise, 403 for another store's);
    note it was seen, at most once a minute."""
    session = db_session()
    row = session.execute(_DEVICE_BY_TOKEN, {"token_hash": token_hash}).first()
    if row is None:
        raise ApiError(401, REVOKED)
    device_id, store_id, role, last_seen_at = row
    now = utcnow()
    if last_seen_at is None or now - last_seen_at >= LAST_SEEN_EVERY:
        session.execute(_TOUCH_DEVICE, {"device": device_id, "now": now})  # not every request: a write costs
        session.commit()
    return _this_store(DeviceRef(device_id, store_id, role))


def _this_store(device: DeviceRef) -> DeviceRef:
    """403 for a device enrolled at another store: it acts only on its own store's server."""
    store = str(current_app.config["SHOPGO"]["site"]["store_id"])
    if device.store_id != store:
        raise ApiError(403, f"this device belongs to store {device.store_id}, not to this store ({store})")
    return device


def _handheld(device: DeviceRef) -> DeviceRef:
    if device.role != "handheld":
        raise ApiError(403, f"a {device.role} cannot do this; only the shopper's handheld can")
    return device


def device_required(view: View) -> View:
    """Require `Authorization: Bearer <device token>` of a live device, handheld or till (401 otherwise)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.device = _authenticate(_token_hash())
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def handheld_required(view: View) -> View:
    """Require the token of a live handheld (401 otherwise; 403 for a till)."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.device = _handheld(_authenticate(_token_hash()))
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]


def till_or_staff() -> Actor:
    """The caller as an Actor: a live till by its token, or a signed-in staff member or manager
    of a store (session cookie, with the CSRF header). A handheld, head office, or nobody is refused."""
    if request.headers.get("Authorization"):
        device = _authenticate(_token_hash())
        if device.role != "till":
            raise ApiError(403, "only a till or a signed-in staff member of the store can do this, not a handheld")
        return Actor(device.store_id, till_device_id=device.id)
    user = current_user()
    if user is None:
        raise ApiError(401, "send a till's token as 'Authorization: Bearer <token>' (shopgo device add NAME "
                            "--role till), or sign in as staff")
    if user.store_id is None or user.role not in ("staff", "manager"):
        raise ApiError(403, "only a till or staff of the trip's store can do this")
    expected, sent = cookie_session.get(csrf.FIELD), request.headers.get(csrf.HEADER, "")
    if not expected or not hmac.compare_digest(str(expected), sent):
        raise ApiError(403, f"send the session's CSRF token in the {csrf.HEADER} header")
    return Actor(user.store_id, staff_user_id=user.id)


def _body(required: bool = True) -> Any:
    """The request's JSON body; 400 when it is missing (and required) or not JSON."""
    return parse_json(request.get_data(cache=True), required=required)


def store_config() -> dict[str, Any]:
    return current_app.config["SHOPGO"]  # type: ignore[no-any-return]


def transaction(work: Callable[[Session], T]) -> T:
    """Run one service call and commit; on any refusal roll back so nothing is half-written.

    A unique-key clash means a concurrent retry of the same request won the race: run it
    again, and it now finds the stored rows (duplicates, the stored receipt). A connection
    the database dropped (a restart) is discarded and the work run once more on a new one;
    every view here is idempotent, so a commit lost with the connection is safe to repeat.
    """
    session = db_session()
    for attempt in (1, 2):
        try:
            result = work(session)
            session.commit()
            return result
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise ApiError(409, "a concurrent request changed the same rows; send it again") from None
        except DBAPIError as exc:
            session.rollback()
            if attempt == 2 or not exc.connection_invalidated:
                raise
        except Exception:
            session.rollback()
            raise
    raise AssertionError("unreachable")


CATALOGUE_ANSWERS_KEPT = 32  # distinct `since` versions kept per worker, beside the full answer


@bp.get("/catalogue")
@device_required
def get_catalogue() -> ResponseReturnValue:
    """Full catalogue, or the delta since a version; ETag/If-None-Match gives 304."""
    since = optional_number(request.args.get("since"), "since (a catalogue version)")
    session = db_session()
    version = catalogue.current_version(session)
    etag = f'"cat-{version}-{"full" if since is None else min(since, version)}"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return Response(status=304, headers={"ETag": etag})
    # This version's answers, full and deltas: a store's handhelds all ask the same few
    # questions (the full catalogue, or since yesterday's version) when the version changes.
    cache: dict[str, bytes] = current_app.extensions.setdefault("shopgo.catalogue_cache", {})
    body = cache.get(etag)
    if body is None:
        body = json.dumps(catalogue.snapshot(session, since), separators=(",", ":")).encode()
        kept = tuple(cache)  # one step under the GIL: a threaded server may add beside this request
        if len(kept) >= CATALOGUE_ANSWERS_KEPT or not all(key.startswith(f'"cat-{version}-') for key in kept):
            cache.clear()
        cache[etag] = body
    session.rollback()
    return Response(body, mimetype="application/json", headers={"ETag": etag, "Cache-Control": "no-cache"})


@bp.post("/trips")
@handheld_required
def start_trip() -> ResponseReturnValue:
    """Start a trip by card or as a guest; 201, or 200 when it already exists."""
    body = validate(_body(), TRIP_START)

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        started = parse_time(body["started_at"]) if body.get("started_at") else None
        cfg = store_config()
        lookup = (lambda card: chain_members.ask_head_office(session, cfg, card)) \
            if cfg["server"]["head_office_url"] else None
        trip, created = trips.start_trip(session, g.device, body["trip_id"], body.get("card_number"), started,
                                         lookup=lookup)
        member = session.get(Member, trip.member_id) if trip.member_id is not None else None
        offers = trips.member_offers(session, trip.member_id, trip_id=trip.id)
        return {"trip_id": trip.id, "status": trip.status, "member": trips.member_json(member, cfg),
                "offers": [trips.offer_json(o, p) for o, p in offers], "card_pending": trip.pending_card is not None,
                **({"notice": "Your card cannot be checked right now: you shop at everyday prices, and your "
                              "points are added once the card is checked."} if trip.pending_card else {})}, created

    try:
        answer, created = transaction(work)
    except trips.UnknownCard:
        transaction(lambda s: trips.count_unknown_card(s, g.device, body["card_number"]))
        raise
    return jsonify(answer), 201 if created else 200


@bp.get("/trips/<trip_id>/offers")
@handheld_required
def trip_offers(trip_id: str) -> ResponseReturnValue:
    """The trip's member's personal offers valid now (the trip's own handheld only)."""
    session = db_session()
    trip = trips.own_trip(session, g.device, trip_id)
    offers = trips.member_offers(session, trip.member_id, trip_id=trip.id)
    return jsonify(offers=[trips.offer_json(o, p) for o, p in offers])


@bp.get("/trips/<trip_id>/staff-events")
@handheld_required
def trip_staff_events(trip_id: str) -> ResponseReturnValue:
    """What the store did to the trip (voids, age approvals, cleared help calls) after sequence number
    `after`, for the trip's own handheld to show at once (it asks while the shopper is not scanning)."""
    after = optional_number(request.args.get("after"), "after (a sequence number)") or 0
    session = db_session()
    trip = trips.own_trip(session, g.device, trip_id)
    events = [e for e in staff_events(session, trip.id) if e["seq"] > after]
    session.rollback()
    return jsonify(staff_events=events)


@bp.post("/trips/<trip_id>/events")
@handheld_required
def post_events(trip_id: str) -> ResponseReturnValue:
    """Store a batch of events idempotently; report duplicates and sequence gaps."""
    body = _body()
    limit = int(store_config()["server"]["max_batch_events"])
    if isinstance(body, dict) and isinstance(body.get("events"), list) and len(body["events"]) > limit:
        raise ApiError(413, f"a batch holds at most {limit} events, this one {len(body['events'])}; split it")
    validate_event_batch(body)
    device: DeviceRef = g.device
    return jsonify(transaction(lambda s: ingest_events(s, device, trip_id, body["events"])).as_json())


@bp.post("/trips/<trip_id>/finish")
@handheld_required
def finish(trip_id: str) -> ResponseReturnValue:
    """Finish the trip and decide its rescan audit (idempotent)."""
    body = validate(_body(required=False), FINISH)

    return jsonify(transaction(lambda s: finish_trip(s, g.device, trip_id, store_config(),
                                                            body.get("handheld_total_minor"),
                                                            body.get("event_count"))))


@bp.post("/trips/<trip_id>/checkout")
def post_checkout(trip_id: str) -> ResponseReturnValue:
    """Re-price the trip, take its payment (cash exactly when none is given), record the purchase and
    points (spending `spend_points` of the member's points as money off), return the receipt and, with
    `print`, print it on the store's receipt printer, and e-mail it to a member who agreed (a till or
    staff of the trip's store; idempotent)."""
    actor = till_or_staff()
    body = validate(_body(required=False), CHECKOUT)
    receipt = transaction(lambda s: checkout.checkout(s, trip_id, actor, store_config(), body.get("handheld_total_minor"),
                                                       spend_points=body.get("spend_points", 0),
                                                       payment=body.get("payment")))
    if body.get("print") or receipt.get("member_id") is not None:  # after the commit: neither undoes the sale
        receipt = transaction(lambda s: checkout.hand_over_receipt(s, trip_id, store_config(),
                                                                   printing=bool(body.get("print"))))
    return jsonify(receipt)


@bp.post("/feedback")
@handheld_required
def feedback() -> ResponseReturnValue:
    """Keep a shopper's report (missing item, wrong price); 201, or 200 on a repeat."""
    body = _body()

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        fb, created = trips.record_feedback(session, g.device, body)
        return {"id": fb.id, "status": fb.status, "kind": fb.kind, "product_id": fb.product_id}, created

    answer, created = transaction(work)
    return jsonify(answer), 201 if created else 200


@bp.post("/audits/<id:audit_id>/outcome")
def audit_outcome(audit_id: int) -> ResponseReturnValue:
    """Record a rescan's findings (a till or staff of the audit's store); a mismatch raises the
    member's future audit rate."""
    actor = till_or_staff()
    body = validate(_body(), AUDIT_OUTCOME)

    def work(session: Session) -> dict[str, Any]:
        audit = audits.record_outcome(session, audit_id, body["findings"], actor)
        return audits.audit_json(session, audit)

    return jsonify(transaction(work))


def init_app(app: Flask) -> None:
    """Register the handheld API and its OpenAPI document."""
    from server.api import openapi

    app.register_blueprint(bp)
    openapi.init_app(app)
