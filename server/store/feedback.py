"""Shopper reports from the handheld: out of stock, wrong price, damaged item, other.

A report comes as a `feedback` event in the trip's log (synced with the scans, so it is
never lost or kept twice: its id is the event's) or through POST /api/v1/feedback; both
keep it here, once by id, for the staff console's feedback queue. A report naming a barcode
the catalogue does not hold is kept all the same, with the barcode in its text: a shopper's
report is never refused for that.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from db.models import Feedback
from server.store.catalogue import products_by_gtin

KINDS = ("missing", "wrong_price", "damaged", "other")  # "missing": out of stock on the shelf


def keep_feedback(session: Session, feedback_id: str, store_id: str, trip_id: str | None, member_id: int | None,
                  report: Mapping[str, Any]) -> tuple[Feedback, bool]:
    """Keep a report once by its id: (the row, whether it is new)."""
    existing = session.get(Feedback, feedback_id)
    if existing is not None:
        return existing, False
    gtin, message = report.get("gtin"), str(report.get("message") or "")
    product = products_by_gtin(session, [gtin]).get(gtin) if gtin else None
    if gtin and product is None:
        message = f"(barcode {gtin}, not in the catalogue) {message}".strip()
    row = Feedback(id=feedback_id, store_id=store_id, trip_id=trip_id, member_id=member_id,
                   product_id=product.id if product else None, kind=str(report["kind"]), message=message[:2000],
                   status="open")
    session.add(row)
    session.flush()
    return row, True
