"""Personal offers, their redemptions, loyalty points and head-office campaigns."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class Offer(Base):
    """A personal offer for one member on one product, valid for a window."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(16))  # replenish, discover, winback, reward, campaign
    reward_type: Mapped[str] = mapped_column(String(16))  # percent, fixed, member_price, points
    reward_value: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(default=0.0)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime]
    campaign_id: Mapped[Optional[int]] = mapped_column(ForeignKey("campaigns.id"))
    max_redemptions: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OfferRedemption(Base):
    """An offer applied at a checkout; one per offer and trip."""

    __tablename__ = "offer_redemptions"
    __table_args__ = (UniqueConstraint("offer_id", "trip_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    discount_minor: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    redeemed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """Points earned or spent; the balance on the member is their unexpired sum."""

    __tablename__ = "points_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    trip_id: Mapped[Optional[str]] = mapped_column(String(36))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    earned_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[Optional[datetime]]


class Campaign(Base):
    """A head-office campaign; every change is a new version in `definition`."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft, published, withdrawn
    version: Mapped[int] = mapped_column(Integer, default=1)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DataRequest(Base):
    """An export or erasure of a member's data, kept as the audit trail."""

    __tablename__ = "data_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # export, erase
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_offers_member_window", Offer.member_id, Offer.valid_to)
