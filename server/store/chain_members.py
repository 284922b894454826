"""Members are the chain's: a card this store does not know is asked about at head office.

`ask_head_office` looks a card up (GET /api/v1/head-office/cards/<card>, a short timeout):
head office's member is kept here (`adopt`) and the trip starts on it; head office saying
"no such card" is an unknown card as before; head office not answering starts the trip on
the card as a guest's (`trips.pending_card`: public prices, no member-only offers, no
points yet). `attribute_pending` (run with the chain-feed job) asks again for every
checked-out trip still holding a pending card and, once head office answers, gives the
purchase, its lines and its points to the member, clearing the card in the same
transaction, so a purchase is attributed once. Head office attributes its own copy of the
purchase by the card the feed carries (server/head_office/feed.py).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, PointsEntry, Purchase, PurchaseLine, Trip
from server.auth.accounts import ensure_store
from server.head_office.wire import LinkError, call

log = logging.getLogger(__name__)
LOOKUP_TIMEOUT = 2.0  # seconds a shopper waits at the trip's start for head office
Lookup = Callable[[str], "dict[str, Any] | None"]


class HeadOfficeAway(RuntimeError):
    """Head office could not be asked (not linked, unreachable, or an error answer)."""


def ask_head_office(session: Session, cfg: Mapping[str, Any], card_number: str,
                    timeout: float = LOOKUP_TIMEOUT) -> dict[str, Any] | None:
    """Head office's member holding the card, or None when it has none; HeadOfficeAway when it
    cannot say."""
    from server.store.packs import LinkTokenError, head_office_token

    url = str(cfg["server"].get("head_office_url", "")).rstrip("/")
    if not url:
        raise HeadOfficeAway("this store is linked to no head office")
    try:
        token = head_office_token(session, cfg)
    except LinkTokenError as exc:
        raise HeadOfficeAway(str(exc)) from None
    if not token:
        raise HeadOfficeAway("no head-office token")
    try:
        answer = call("GET", f"{url}/api/v1/head-office/cards/{card_number}", token=token, timeout=timeout)
    except LinkError as exc:
        if exc.status == 404:
            return None
        raise HeadOfficeAway(str(exc)) from None
    member = answer.get("member")
    if not isinstance(member, dict):
        raise HeadOfficeAway(f"head office answered {str(answer)[:200]}, not a member")
    return member


def adopt(session: Session, data: Mapping[str, Any]) -> Member:
    """Keep head office's member here (or refresh the copy): card, home store, tier, consent."""
    ensure_store(session, str(data["store_id"]), str(data["store_id"]))
    member = session.get(Member, int(data["member_id"]))
    if member is None:
        member = Member(id=int(data["member_id"]), card_number=str(data["card_number"]), store_id=str(data["store_id"]),
                        joined_at=datetime.fromisoformat(str(data["joined_at"])))
        session.add(member)
    member.tier, member.consent_personalisation = str(data["tier"]), bool(data["consent"])
    session.flush()
    return member


def attribute_pending(session: Session, cfg: Mapping[str, Any], lookup: Lookup | None = None,
                      now: datetime | None = None) -> int:
    """Give each checked-out purchase of a trip started on a then-unchecked card to the card's
    member, once head office knows the card; returns how many were attributed."""
    lookup = lookup or (lambda card: ask_head_office(session, cfg, card))
    done = 0
    for trip in list(session.scalars(select(Trip).where(Trip.pending_card.is_not(None),
                                                        Trip.status == "checked_out"))):
        card = str(trip.pending_card)
        try:
            data = lookup(card)
        except HeadOfficeAway as exc:
            log.info("card %s of trip %s still unchecked: %s", card, trip.id, exc)
            break  # head office is still away: the rest waits for the next run
        claimed = session.execute(update(Trip).where(Trip.id == trip.id, Trip.pending_card == card)
                                  .values(pending_card=None)).rowcount
        if claimed != 1:  # another run (the job and `shopgo chain ship` at once) took this trip
            session.rollback()
            continue
        if data is None:
            log.warning("card %s of trip %s is no member's at head office either; the purchase stays a guest's",
                        card, trip.id)
        else:
            _attribute(session, cfg, trip, adopt(session, data), now or utcnow())
            done += 1
        session.commit()
    return done


def _attribute(session: Session, cfg: Mapping[str, Any], trip: Trip, member: Member, now: datetime) -> None:
    purchase = session.scalar(select(Purchase).where(Purchase.trip_id == trip.id))
    trip.member_id = member.id
    if purchase is None or purchase.member_id is not None:
        return
    purchase.member_id = member.id
    session.execute(update(PurchaseLine).where(PurchaseLine.purchase_id == purchase.id).values(member_id=member.id))
    exponent = int(cfg.get("site", {}).get("currency_exponent", 2))
    points = max(purchase.total_minor, 0) // 10**exponent * int(cfg.get("loyalty", {}).get("points_per_unit", 1))
    if points:
        days = int(cfg.get("loyalty", {}).get("points_expiry_days", 365))
        session.add(PointsEntry(member_id=member.id, trip_id=trip.id, points=points, reason="purchase",
                                earned_at=now, expires_at=now + timedelta(days=days)))
        member.points = Member.points + points  # type: ignore[assignment]
        purchase.points_awarded = points
