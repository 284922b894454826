"""The chain feed: what a store owes head office, and what head office holds of each store.

Store side: `outbox`, one row per fact head office needs (a purchase with its lines and
redemptions, a member's state, an erasure), written in the same transaction as the fact.
The shipper numbers rows into batches (`batch_seq`, 1, 2, 3, ... per store) and deletes
them once head office holds that number. Head office side: the feed columns of
`store_links` (server/head_office) say which batch it holds of each store.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigId, utcnow


class OutboxFact(Base):
    """One fact for head office, kept until head office holds the batch it went in."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # purchase, member, erasure
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lines: Mapped[int] = mapped_column(Integer, default=0)  # purchase lines it carries (a batch's size)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    batch_seq: Mapped[Optional[int]] = mapped_column(Integer)  # set when numbered into a batch


Index("ix_outbox_batch", OutboxFact.batch_seq)
