"""The outbox: every fact head office needs, written in the same transaction as the fact.

A checked-out purchase (with its lines and the campaign offers it redeemed), a member's
state when it changes (tier, consent) and an erasure each add one row here through the
functions below, inside the caller's transaction: the fact and its outbox row commit or
roll back together, so head office can never miss one or hear of one that did not happen.
The feed (chain_feed.py) ships the rows in numbered batches and deletes them once head
office holds them. Payloads are plain JSON; a purchase's lines are compact rows of
LINE_FIELDS.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy.orm import Session

from db.models import Member, OutboxFact, Purchase

LINE_FIELDS = ("product_id", "quantity", "weight_g", "sales_minor", "discount_minor")
PURCHASE_FIELDS = ("member_id", "purchased_at", "total_minor", "discount_minor", "points_awarded", "source")


def purchase_payload(purchase: Purchase, lines: Iterable[Mapping[str, Any]],
                     redemptions: Iterable[Mapping[str, Any]] = (), card_number: str | None = None) -> dict[str, Any]:
    """A purchase as head office reads it: its store's id for it, its lines, its campaign redemptions,
    and for a guest's purchase made on a card head office could not be asked about, that card."""
    payload: dict[str, Any] = {"purchase_id": purchase.id}
    for name in PURCHASE_FIELDS:
        value = getattr(purchase, name)
        payload[name] = value.isoformat() if isinstance(value, datetime) else value
    payload["lines"] = [[line[f] for f in LINE_FIELDS] for line in lines]
    payload["redemptions"] = [dict(r) for r in redemptions]
    if card_number is not None:
        payload["card_number"] = card_number
    return payload


def member_payload(member: Member) -> dict[str, Any]:
    """What head office keeps of a member: card, home store, tier, consent (no name or e-mail)."""
    return {"member_id": member.id, "card_number": member.card_number, "store_id": member.store_id,
            "tier": member.tier, "consent": bool(member.consent_personalisation),
            "joined_at": member.joined_at.isoformat(), "erased": member.erased_at is not None}


def record_purchase(session: Session, purchase: Purchase, lines: list[Mapping[str, Any]],
                    redemptions: Iterable[Mapping[str, Any]] = (), card_number: str | None = None) -> None:
    """Queue a purchase for head office (call after the purchase is flushed, so it has its id)."""
    session.add(OutboxFact(kind="purchase", payload=purchase_payload(purchase, lines, redemptions, card_number),
                           lines=len(lines)))


def record_member(session: Session, member: Member) -> None:
    """Queue a member's current state (after enrolment, a tier or a consent change)."""
    session.add(OutboxFact(kind="member", payload=member_payload(member)))


def record_erasure(session: Session, member_id: int, at: datetime) -> None:
    """Queue a member's erasure: head office removes them from its members and its history."""
    session.add(OutboxFact(kind="erasure", payload={"member_id": member_id, "at": at.isoformat()}))
