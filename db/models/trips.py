"""Trips on handhelds, the events that make them, rescan audits and shopper feedback."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow


class Trip(Base):
    """One shopping session on a handheld, from card scan to checkout."""

    __tablename__ = "trips"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID made by the device
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    device_id: Mapped[Optional[int]] = mapped_column(ForeignKey("devices.id"), index=True)
    member_id: Mapped[Optional[int]] = mapped_column(ForeignKey("members.id"), index=True)
    # "active" -> "finished" -> "checked_out"; "abandoned" when a device is reset
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]]
    checked_out_at: Mapped[Optional[datetime]]
    handheld_total_minor: Mapped[Optional[int]] = mapped_column(Integer)
    total_minor: Mapped[Optional[int]] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    needs_help: Mapped[bool] = mapped_column(Boolean, default=False)
    audit_required: Mapped[bool] = mapped_column(Boolean, default=False)
    receipt: Mapped[Optional[dict[str, Any]]]
    # A card head office could not be asked about when the trip started: the trip runs as a
    # guest's, and its purchase is attributed to the card's member once the card is known.
    pending_card: Mapped[Optional[str]] = mapped_column(String(14))


class TripEvent(Base):
    """One thing a shopper did on a handheld; deduplicated by its UUID."""

    __tablename__ = "trip_events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # scan, remove, set_quantity, finish, ...
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Audit(Base):
    """A rescan audit of a finished trip and what staff found."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"), unique=True)
    member_id: Mapped[Optional[int]] = mapped_column(ForeignKey("members.id"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    reason: Mapped[str] = mapped_column(String(120))
    probability: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, passed, mismatch
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[Optional[datetime]]
    staff_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # signed-in staff who recorded it
    till_device_id: Mapped[Optional[int]] = mapped_column(ForeignKey("devices.id"))  # or the till that did
    # [{"product_id": 1, "expected": 2, "found": 3}, ...]
    findings: Mapped[Optional[dict[str, Any]]]
    mismatch_count: Mapped[int] = mapped_column(Integer, default=0)


class Feedback(Base):
    """A shopper's report from the handheld: item missing, wrong price, other."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID from the device
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    trip_id: Mapped[Optional[str]] = mapped_column(ForeignKey("trips.id"))
    member_id: Mapped[Optional[int]] = mapped_column(ForeignKey("members.id"))
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[str] = mapped_column(String(16))  # missing, wrong_price, other
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_trip_events_trip_seq", TripEvent.trip_id, TripEvent.seq)
