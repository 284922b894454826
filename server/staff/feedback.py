"""Shopper feedback from the handhelds (out of stock, wrong price, damaged item, other) and its status."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Feedback, Product
from server.errors import ApiError

STATUSES = ("open", "in_progress", "resolved")
KINDS = {"missing": "Out of stock", "wrong_price": "Wrong price", "damaged": "Damaged item", "other": "Other"}


@dataclass(frozen=True)
class FeedbackRow:
    """A report with the product it names."""

    feedback: Feedback
    product: str | None

    @property
    def kind_label(self) -> str:
        """The report kind in words."""
        return KINDS.get(self.feedback.kind, self.feedback.kind)


def list_feedback(session: Session, store_id: str, status: str | None = None, limit: int = 200) -> list[FeedbackRow]:
    """A store's reports, unresolved first, newest first."""
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"Status must be one of {', '.join(STATUSES)}, not {status!r}.")
    stmt = (select(Feedback, Product.name).outerjoin(Product, Product.id == Feedback.product_id)
            .where(Feedback.store_id == store_id))
    if status:
        stmt = stmt.where(Feedback.status == status)
    stmt = stmt.order_by((Feedback.status == "resolved"), Feedback.created_at.desc()).limit(limit)
    return [FeedbackRow(f, name) for f, name in session.execute(stmt)]


def set_status(session: Session, feedback_id: str, status: str, store_id: str | None) -> Feedback:
    """Move a report to a new status; `store_id` None lets head office change any store's."""
    if status not in STATUSES:
        raise ApiError(400, f"Status must be one of {', '.join(STATUSES)}, not {status!r}.")
    fb = session.get(Feedback, feedback_id) if len(feedback_id) <= 36 else None
    if fb is None:
        raise ApiError(404, f"No feedback {feedback_id!r}.")
    if store_id is not None and fb.store_id != store_id:
        raise ApiError(403, "That report belongs to another store.")
    fb.status = status
    return fb
