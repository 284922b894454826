"""Trips on the server: start by card or as a guest, a member's offers, feedback, the events held.

Event batches (the sync path) are stored by server/store/ingest.py; a trip is finished, and
its rescan audit decided, in server/store/finish.py.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Device, Feedback, Member, Offer, OfferRedemption, Product, Trip, TripEvent
from server.errors import ApiError
from server.store import consents
from server.store.chain_members import HeadOfficeAway, Lookup, adopt
from server.store.feedback import keep_feedback
from server.store.ingest import DeviceRef
from server.store.schemas import FEEDBACK, validate
from shop.basket import Event
from shop.pricing import PersonalOffer

log = logging.getLogger(__name__)
CARD_FAILURES_ALLOWED = 5  # unknown cards a handheld may present per window (a shopper mistypes; a script walks)
CARD_FAILURE_WINDOW = timedelta(minutes=10)


def member_json(member: Member | None, cfg: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """A member as the handheld shows them: tier and what it gives, points, consents."""
    if member is None:
        return None
    benefit = (cfg or {}).get("loyalty", {}).get("tier_benefits", {}).get(member.tier, {})
    return {"id": member.id, "card_number": member.card_number, "name": member.name, "tier": member.tier,
            "benefit": benefit.get("text"), "points": member.points, "consent": member.consent_personalisation,
            "consents": consents.current(member), "email_known": bool(member.email)}


class UnknownCard(ApiError):
    """A card presented to start a trip that no member holds: counted against the device."""


def card_lookups_paused(session: Session, device_id: int, now: datetime | None = None) -> int | None:
    """Seconds until this device may present cards again after too many unknown ones, or None."""
    now = now or utcnow()
    failures, since = session.execute(select(Device.card_failures, Device.card_failures_since).where(
        Device.id == device_id)).one()
    if since is None or failures < CARD_FAILURES_ALLOWED or now - since >= CARD_FAILURE_WINDOW:
        return None
    return max(1, int((since + CARD_FAILURE_WINDOW - now).total_seconds()) + 1)


def count_unknown_card(session: Session, device: DeviceRef, card_number: str, now: datetime | None = None) -> None:
    """Count and log an unknown card against the device (a new window when the last has passed)."""
    now = now or utcnow()
    row = session.get(Device, device.id, with_for_update=True)
    if row is None:
        return
    if row.card_failures_since is None or now - row.card_failures_since >= CARD_FAILURE_WINDOW:
        row.card_failures, row.card_failures_since = 0, now
    row.card_failures += 1
    log.warning("device %s (%s, store %s) presented unknown card %s: %d unknown in this %d-minute window%s",
                row.id, row.name, row.store_id, card_number, row.card_failures,
                CARD_FAILURE_WINDOW.total_seconds() // 60,
                "; card lookups paused" if row.card_failures >= CARD_FAILURES_ALLOWED else "")


def start_trip(session: Session, device: DeviceRef, trip_id: str, card_number: str | None,
               started_at: datetime | None = None, lookup: Lookup | None = None) -> tuple[Trip, bool]:
    """Start a trip (member by card, or guest); the same trip id again returns it unchanged.

    The member is revealed only to a handheld presenting their card to start a trip, and a
    device that presents CARD_FAILURES_ALLOWED unknown cards within CARD_FAILURE_WINDOW is
    refused (429) until the window passes: walking card numbers is slow and logged. A card
    this store does not know is asked about at head office through `lookup` (a chain member
    is kept here); when head office cannot be asked, the trip starts on the card as a
    guest's and its purchase is attributed later (server/store/chain_members.py)."""
    trip = session.get(Trip, trip_id)
    if trip is not None:
        if trip.device_id != device.id:
            raise ApiError(403, f"trip {trip_id} belongs to another device")
        return trip, False
    member, pending = None, None
    if card_number is not None:
        wait = card_lookups_paused(session, device.id)
        if wait is not None:
            raise ApiError(429, f"too many unknown cards from this handheld; wait {wait} seconds or ask staff",
                           retry_after=wait)
        member = session.scalar(select(Member).where(Member.card_number == card_number))
        if member is None and lookup is not None:
            try:
                known = lookup(card_number)
            except HeadOfficeAway as exc:
                log.warning("card %s not known here and head office cannot be asked (%s): trip %s starts on it "
                            "as a guest's", card_number, exc, trip_id)
                pending = card_number
            else:
                member = adopt(session, known) if known is not None else None
        if pending is None and (member is None or member.erased_at is not None):
            raise UnknownCard(404, f"no member holds card {card_number}; shop as a guest or ask staff")
    trip = Trip(id=trip_id, store_id=device.store_id, device_id=device.id, member_id=member.id if member else None,
                status="active", started_at=started_at or utcnow(), last_seq=0, event_count=0, pending_card=pending)
    session.add(trip)
    session.flush()
    return trip, True


def get_trip(session: Session, trip_id: str, *, for_update: bool = False) -> Trip:
    """The trip, or a 404."""
    trip = session.get(Trip, trip_id, with_for_update=for_update or None)
    if trip is None:
        raise ApiError(404, f"no trip {trip_id}; start it with POST /api/v1/trips first")
    return trip


def own_trip(session: Session, device: DeviceRef, trip_id: str, *, for_update: bool = False) -> Trip:
    """The trip when `device` is the handheld that started it: 404 for none, 403 for another's."""
    trip = get_trip(session, trip_id, for_update=for_update)
    if trip.device_id != device.id:
        raise ApiError(403, f"trip {trip_id} belongs to another device")
    return trip


def member_offers(session: Session, member_id: int | None, now: datetime | None = None,
                  trip_id: str | None = None) -> list[tuple[Offer, Product]]:
    """A consenting member's offers valid now and not yet redeemed on another trip."""
    if member_id is None:
        return []
    member = session.get(Member, member_id)
    if member is None or member.erased_at is not None or not member.consent_personalisation:
        return []  # personalisation only for members who agreed to it
    now = now or utcnow()
    used = select(OfferRedemption.offer_id).where(OfferRedemption.member_id == member_id)
    if trip_id is not None:
        used = used.where(OfferRedemption.trip_id != trip_id)
    rows = session.execute(select(Offer, Product).join(Product, Product.id == Offer.product_id).where(
        Offer.member_id == member_id, Offer.valid_from <= now, Offer.valid_to > now, Offer.id.not_in(used),
        Product.active.is_(True)).order_by(Offer.id))
    return [(o, p) for o, p in rows]


def describe_offer(offer: Offer, product: Product) -> str:
    """A shopper-facing line for an offer."""
    v = offer.reward_value
    text = {"percent": f"{v}% off {product.name}", "fixed": f"{v / 100:.2f} off {product.name}",
            "member_price": f"{product.name} for {v / 100:.2f}", "points": f"{v} bonus points on {product.name}"}
    return text.get(offer.reward_type, product.name)


def offer_json(offer: Offer, product: Product) -> dict[str, Any]:
    """An offer as the handheld caches it."""
    return {"offer_id": offer.id, "product_id": offer.product_id, "gtin": product.gtin, "kind": offer.kind,
            "reward_type": offer.reward_type, "reward_value": offer.reward_value,
            "valid_to": offer.valid_to.isoformat(), "description": describe_offer(offer, product),
            "max_redemptions": offer.max_redemptions}


def personal_offers(rows: Sequence[tuple[Offer, Product]]) -> list[PersonalOffer]:
    """Offers as pricing takes them."""
    return [PersonalOffer(o.id, o.product_id, o.reward_type, o.reward_value, describe_offer(o, p), o.max_redemptions)
            for o, p in rows]


def record_feedback(session: Session, device: DeviceRef, body: Mapping[str, Any]) -> tuple[Feedback, bool]:
    """Keep a shopper's report once (by its id), sent outside the trip's log; an unknown trip is a 404."""
    validate(body, FEEDBACK)
    trip = own_trip(session, device, body["trip_id"]) if body.get("trip_id") else None
    return keep_feedback(session, body["id"], device.store_id, trip.id if trip else None,
                         trip.member_id if trip else None, body)


_EVENTS = select(TripEvent.id, TripEvent.seq, TripEvent.kind, TripEvent.payload).where(
    TripEvent.trip_id == bindparam("trip_id")).order_by(TripEvent.seq)


def trip_events(session: Session, trip_id: str) -> list[Event]:
    """A trip's events in device order, as the basket fold takes them."""
    return [Event(*row) for row in session.execute(_EVENTS, {"trip_id": trip_id})]
