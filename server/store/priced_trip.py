"""A trip priced from the server's own copy of its events: what checkout bills and the audit weighs.

The events the server holds are folded with the handheld's `fold` and priced with the same
`price_basket` (shop/), with the catalogue's prices and promotions and the member's offers
valid at the given moment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, Trip
from server.store.catalogue import active_promotions, price_infos
from server.store.trips import member_offers, personal_offers, trip_events
from shop.basket import BasketSummary, fold
from shop.pricing import PricedBasket, PricingRules, price_basket


@dataclass(frozen=True)
class PricedTrip:
    """A trip's basket as the server sees it, priced."""

    summary: BasketSummary
    basket: PricedBasket
    member: Member | None


def pricing_rules(cfg: Mapping[str, Any]) -> PricingRules:
    """The [pricing] section as PricingRules."""
    section = cfg.get("pricing", {})
    return PricingRules(weight_rounding=section.get("weight_rounding", "half_up"),
                        max_redemptions_per_trip=int(section.get("max_redemptions_per_trip", 5)))


def price_trip(session: Session, trip: Trip, cfg: Mapping[str, Any], at: datetime | None = None) -> PricedTrip:
    """Fold and price the events the server holds for a trip, with the member's offers valid `at`."""
    at = at or utcnow()
    summary = fold(trip_events(session, trip.id))
    member = session.get(Member, trip.member_id) if trip.member_id is not None else None
    if member is not None and member.erased_at is not None:
        member = None
    offers = personal_offers(member_offers(session, member.id, at, trip.id)) if member else []
    basket = price_basket(summary.lines, price_infos(session, {line.gtin for line in summary.lines}),
                          active_promotions(session, at), offers, member=member is not None,
                          rules=pricing_rules(cfg))
    return PricedTrip(summary, basket, member)


