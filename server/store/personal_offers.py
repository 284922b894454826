"""A store's personal offers written from proposals: the offers engine's own (the nightly build,
server/offers/build.py) or head office's (an offers pack, server/store/packs.py).

A proposal is any object with household_id, product_id, kind, reward_type, reward_value,
valid_from and valid_to (UTC days) and score, such as the engine's OfferProposal.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Mapping, NamedTuple, Sequence

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from db.models import Member, Offer, OfferRedemption, Product

log = logging.getLogger(__name__)
ENGINE_KINDS = ("replenish", "discover", "winback", "reward")


class Proposal(NamedTuple):
    """One personal offer as head office's offers pack carries it."""

    household_id: int
    product_id: int
    kind: str
    reward_type: str
    reward_value: int
    valid_from: dt.date
    valid_to: dt.date
    score: float


def as_of_for(day: dt.date) -> dt.datetime:
    """The as-of time of a build for `day`: its first moment, UTC, so reruns that day agree."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def first_day(as_of: dt.datetime, start_days: int) -> dt.datetime:
    """When offers made at as_of start; engine offers from here on are an earlier run's output for that date."""
    return as_of_for(as_of.astimezone(dt.timezone.utc).date() + dt.timedelta(days=start_days))


def _bound(day: dt.date, end: bool = False) -> dt.datetime:
    """A proposal's UTC day as a stored instant; the last day is valid until the next midnight."""
    return as_of_for(day + dt.timedelta(days=1) if end else day)


def offer_row(proposal: Any, price_minor: int, points_per_unit: int, exponent: int) -> Offer | None:
    """The Offer for one engine proposal, or None when its reward type is not one the tills apply."""
    if proposal.reward_type == "percent":
        reward_type, value = "percent", int(proposal.reward_value)
        if not 0 < value < 100:
            return None
    elif proposal.reward_type == "points":
        # The engine speaks in multipliers of the points a unit earns; the tills add bonus points per unit.
        earned = price_minor * points_per_unit // 10**exponent
        reward_type, value = "points", max(1, (int(proposal.reward_value) - 1) * earned)
    else:
        return None
    return Offer(member_id=int(proposal.household_id), product_id=int(proposal.product_id), kind=proposal.kind,
                 reward_type=reward_type, reward_value=value, score=float(proposal.score),
                 valid_from=_bound(proposal.valid_from), valid_to=_bound(proposal.valid_to, end=True),
                 max_redemptions=1)


def write_offers(session: Session, cfg: Mapping[str, Any], proposals: Sequence[Any], members: Any,
                 start: dt.datetime, max_live_offers: int) -> tuple[int, int, int]:
    """Replace the members' engine offers that start at `start` or later, never redeemed (an earlier run's
    output), with the proposals: (written, replaced, skipped). `members` is a select of member ids.

    Consent, the product and the reward are checked here, and no member gets more than
    `max_live_offers` counting the offers already live at `start`."""
    exponent = int(cfg["site"]["currency_exponent"])
    own = (Offer.kind.in_(ENGINE_KINDS), Offer.campaign_id.is_(None), Offer.member_id.in_(members))
    future = [*own, Offer.valid_from >= start, ~exists().where(OfferRedemption.offer_id == Offer.id)]
    replaced = session.execute(delete(Offer).where(*future).execution_options(synchronize_session=False)).rowcount
    consenting = set(session.scalars(select(Member.id).where(Member.id.in_(members), Member.erased_at.is_(None),
                                                             Member.consent_personalisation.is_(True))))
    live = dict(session.execute(select(Offer.member_id, func.count()).where(
        *own, Offer.valid_from < start, Offer.valid_to > start).group_by(Offer.member_id)).all())
    prices = dict(session.execute(select(Product.id, Product.price_minor)).all())
    written = skipped = 0
    for p in sorted(proposals, key=lambda p: (int(p.household_id), -float(p.score))):
        member = int(p.household_id)
        row = None
        # Consent is checked here too: the engine is trusted to hold it, but a bug there must not leak.
        if member in consenting and int(p.product_id) in prices and p.kind in ENGINE_KINDS \
                and live.get(member, 0) < max_live_offers:
            row = offer_row(p, prices[int(p.product_id)], int(cfg["loyalty"]["points_per_unit"]), exponent)
        if row is None or row.valid_from < start:
            skipped += 1
            continue
        session.add(row)
        live[member] = live.get(member, 0) + 1
        written += 1
    session.flush()
    if skipped:
        log.warning("offers: %d proposal(s) skipped (no consent, unknown product or reward type, or over the cap)",
                    skipped)
    return written, int(replaced or 0), skipped
