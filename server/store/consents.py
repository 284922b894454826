"""Consent per purpose: what a member agreed to, when, under which wording, and where it was recorded.

Three purposes: personal offers (the offers engine works out offers for the member and the
handheld shows them), e-mail receipts (a receipt goes to the member's address after each
paid trip), marketing (head office's campaigns may reach them). Each is given or withdrawn on
its own, at the staff console, the kiosk, the till or the handheld; every change is a
MemberConsent row with the wording version in force ([consent] wording_version), and the
member row keeps the current answer. A withdrawal of personal offers takes effect from the
member's next trip: the trip start hands out no offers and the nightly build makes none.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, MemberConsent
from server.errors import ApiError
from server.store import outbox

# The texts a member agrees to; [consent] wording_version names this set, change both together.
WORDING = {
    "personal_offers": "Use my purchases to work out personal offers for me, shown on the handheld and at the till.",
    "email_receipts": "E-mail me a receipt after each trip, to the address I gave.",
    "marketing": "Send me news and offers from the chain.",
}
PURPOSES = tuple(WORDING)
SOURCES = ("console", "kiosk", "till", "handheld", "import")
_COLUMN = {"personal_offers": "consent_personalisation", "email_receipts": "consent_email_receipts",
           "marketing": "consent_marketing"}


def current(member: Member) -> dict[str, bool]:
    """The member's current answer per purpose."""
    return {purpose: bool(getattr(member, column)) for purpose, column in _COLUMN.items()}


def wording_version(cfg: Mapping[str, Any] | None = None) -> str:
    """The consent texts in force: [consent] wording_version of `cfg`, else of the running app."""
    if cfg is None and has_app_context():
        cfg = current_app.config["SHOPGO"]
    return str((cfg or {}).get("consent", {}).get("wording_version", "2026-12"))


def set_consent(session: Session, member: Member, purpose: str, given: bool, *, source: str,
                cfg: Mapping[str, Any] | None = None, user_id: int | None = None) -> MemberConsent | None:
    """Record a member giving (`given`) or withdrawing consent to a purpose; None when it is already so."""
    if purpose not in _COLUMN:
        raise ApiError(400, f"unknown consent purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    if source not in SOURCES:
        raise ApiError(400, f"unknown consent source {source!r}")
    if member.erased_at is not None:
        raise ApiError(409, f"member {member.id} was erased; nothing can be recorded for them")
    if purpose == "email_receipts" and given and not member.email:
        raise ApiError(409, "e-mail receipts need an e-mail address: add one first")
    if bool(getattr(member, _COLUMN[purpose])) == given:
        return None
    setattr(member, _COLUMN[purpose], given)
    row = MemberConsent(member_id=member.id, purpose=purpose, given=given, source=source, user_id=user_id,
                        wording_version=wording_version(cfg), at=utcnow())
    session.add(row)
    session.flush()
    if purpose == "personal_offers":
        outbox.record_member(session, member)  # head office's offers run reads it
    return row


def set_consents(session: Session, member: Member, answers: Mapping[str, bool], *, source: str,
                 cfg: Mapping[str, Any] | None = None, user_id: int | None = None) -> list[MemberConsent]:
    """Record each purpose's answer that changed (a form's checkboxes); the rows made."""
    made = [set_consent(session, member, purpose, bool(answers[purpose]), source=source, cfg=cfg, user_id=user_id)
            for purpose in PURPOSES if purpose in answers]
    return [row for row in made if row is not None]


def history(session: Session, member_id: int) -> list[MemberConsent]:
    """Every consent change of a member, newest first."""
    return list(session.scalars(select(MemberConsent).where(MemberConsent.member_id == member_id)
                                .order_by(MemberConsent.at.desc(), MemberConsent.id.desc())))
