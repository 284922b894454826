"""Enrolling a new member at the store: a chain-unique member id and card, details, consents.

A store enrols while it may be offline from head office, so each store numbers its new
members from a block of its own: member id 10,000,000 + store number x 80,000 + n (store
S001 is number 1), n from 1 to 79,999, which keeps every store of up to 999 below the card
range's 100,000,000 and clear of imported households. The card number is the member id's
GTIN-13 (shop/numbering.py). Head office learns of the member through the chain
feed, as of any member change.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member
from server.errors import ApiError
from server.store import outbox
from server.store.consents import set_consents
from shop.numbering import card_number

FIRST_ENROLLED = 10_000_000
PER_STORE = 80_000
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def id_block(store_id: str) -> tuple[int, int]:
    """The member ids a store enrols from (first, last)."""
    digits = re.search(r"(\d+)$", store_id)
    number = int(digits.group(1)) if digits else 0
    if not 1 <= number <= 999:
        raise ApiError(409, f"store {store_id!r} cannot enrol members: its id must end in its number 1-999 "
                            "(e.g. S001); enrol at head office instead")
    first = FIRST_ENROLLED + number * PER_STORE + 1
    return first, first + PER_STORE - 2


def clean_details(name: Any, email: Any) -> tuple[str, str | None]:
    """A member's name (1-120 characters) and optional e-mail, checked; 400 saying what is wrong."""
    name = str(name or "").strip()
    if not 1 <= len(name) <= 120:
        raise ApiError(400, "Enter the member's name (1 to 120 characters).")
    email = str(email or "").strip() or None
    if email is not None and (len(email) > 200 or not EMAIL.match(email)):
        raise ApiError(400, f"{email!r} is not an e-mail address; leave it empty if the member has none.")
    return name, email


def enrol(session: Session, cfg: Mapping[str, Any], store_id: str, name: Any, email: Any,
          consents: Mapping[str, bool], *, source: str, user_id: int | None = None) -> Member:
    """A new member of this store with their consents recorded; their card number is on the row."""
    name, email = clean_details(name, email)
    if consents.get("email_receipts") and email is None:
        raise ApiError(400, "E-mail receipts need an e-mail address: enter one or leave that box unticked.")
    first, last = id_block(store_id)
    top = session.scalar(select(func.max(Member.id)).where(Member.id.between(first, last)))
    member_id = (top or first - 1) + 1
    if member_id > last:
        raise ApiError(409, f"store {store_id} has enrolled all {PER_STORE - 1:,} members its block holds; "
                            "enrol at head office")
    member = Member(id=member_id, card_number=card_number(member_id), store_id=store_id, name=name, email=email,
                    consent_personalisation=False, tier=_lowest_tier(cfg), points=0, joined_at=utcnow())
    session.add(member)
    session.flush()
    set_consents(session, member, consents, source=source, cfg=cfg, user_id=user_id)
    outbox.record_member(session, member)
    return member


def _lowest_tier(cfg: Mapping[str, Any]) -> str:
    tiers = dict(cfg.get("loyalty", {}).get("tiers") or {"bronze": 0})
    return min(tiers, key=lambda t: tiers[t])
