"""The two-year purchase history: baskets and their lines."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, BigId, utcnow


class Purchase(Base):
    """A basket paid for: an imported basket or a checked-out trip."""

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    member_id: Mapped[Optional[int]] = mapped_column(Integer)
    trip_id: Mapped[Optional[str]] = mapped_column(String(36), unique=True)
    purchased_at: Mapped[datetime]
    total_minor: Mapped[int] = mapped_column(Integer)
    discount_minor: Mapped[int] = mapped_column(Integer, default=0)
    points_awarded: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16), default="selfscan")  # selfscan | import


class PurchaseLine(Base):
    """One product in a purchase. On PostgreSQL the table is partitioned by month."""

    __tablename__ = "purchase_lines"

    # On PostgreSQL the primary key is (id, purchased_at), as partitioning requires.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purchase_id: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[Optional[int]] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    weight_g: Mapped[Optional[int]] = mapped_column(Integer)
    sales_minor: Mapped[int] = mapped_column(Integer)
    discount_minor: Mapped[int] = mapped_column(Integer, default=0)
    purchased_at: Mapped[datetime]


class ImportChunk(Base):
    """A committed slice of an import, so a rerun skips it and a stopped run resumes."""

    __tablename__ = "import_chunks"

    dataset: Mapped[str] = mapped_column(String(40), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    lines: Mapped[int] = mapped_column(Integer)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_purchases_member_time", Purchase.member_id, Purchase.purchased_at)
Index("ix_purchase_lines_member_time", PurchaseLine.member_id, PurchaseLine.purchased_at)
Index("ix_purchase_lines_purchase", PurchaseLine.purchase_id)
Index("ix_purchase_lines_time", PurchaseLine.purchased_at)
