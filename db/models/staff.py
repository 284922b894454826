"""What store staff did from the console to a live trip: age checks, voids, take-overs."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, utcnow
from db.models.history import PurchaseLine

STAFF_ACTION_KINDS = ("age_ok", "void_line", "take_over", "help_done")


class StaffAction(Base):
    """One console action on a trip, kept as the record of who did what and when."""

    __tablename__ = "staff_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"))
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # one of STAFF_ACTION_KINDS
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_staff_actions_trip", StaffAction.trip_id, StaffAction.at)
Index("ix_staff_actions_store_time", StaffAction.store_id, StaffAction.at)
# Declared here with migration 0004: the member page's per-product scan reads only this index.
Index("ix_purchase_lines_member_cover", PurchaseLine.member_id, PurchaseLine.purchased_at, PurchaseLine.product_id,
      PurchaseLine.purchase_id, PurchaseLine.sales_minor, PurchaseLine.quantity)
