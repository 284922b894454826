"""Members (loyalty card holders), staff users and handheld devices."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class Member(Base):
    """A loyalty club member: one household with a card."""

    __tablename__ = "members"

    # The household id is the member id and the natural shard key of all history.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    card_number: Mapped[str] = mapped_column(String(14), unique=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[Optional[str]] = mapped_column(String(120))
    email: Mapped[Optional[str]] = mapped_column(String(200))
    # The current answer per purpose (personal offers, e-mail receipts, marketing); every change is a
    # MemberConsent row (server/store/consents.py).
    consent_personalisation: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_email_receipts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tier: Mapped[str] = mapped_column(String(16), default="bronze")
    points: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[Optional[datetime]]


class MemberConsent(Base):
    """One consent a member gave or withdrew: purpose, answer, when, under which wording, recorded where."""

    __tablename__ = "member_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    purpose: Mapped[str] = mapped_column(String(24))  # personal_offers, email_receipts, marketing
    given: Mapped[bool] = mapped_column(Boolean)
    wording_version: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # console, kiosk, till, handheld
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # the staff member who recorded it
    at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_member_consents_member", MemberConsent.member_id, MemberConsent.at)


class User(Base):
    """A person who signs in to a console: staff, manager or head office."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # "staff" | "manager" | "head_office"
    store_id: Mapped[Optional[str]] = mapped_column(ForeignKey("stores.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """A handheld scanner; it authenticates with a token whose hash alone is kept."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "handheld" (a shopper's scanner: its own trips) or "till" (checks out and audits its store's trips)
    role: Mapped[str] = mapped_column(String(16), default="handheld", server_default="handheld")
    # unknown cards presented to start a trip since card_failures_since (server/store/trips.py throttles them)
    card_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    card_failures_since: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[datetime]]
    last_seen_at: Mapped[Optional[datetime]]


class ConsoleSession(Base):
    """One console sign-in: the session cookie names it, and signing out ends it for good."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[Optional[datetime]]
