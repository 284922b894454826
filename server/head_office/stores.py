"""Each linked store as the console's Stores page shows it: the pack it runs, its feed's lag, when it
was last heard from, what went wrong, and one word for its state.

Built from the pack side (compiler.store_status) and the feed side (feed.store_feeds).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from db.base import utcnow
from server.head_office.compiler import store_status
from server.head_office.feed import store_feeds

FEED_LATE_S = 3600.0  # a store whose outbox has not been empty for an hour is behind


def _stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def stores_overview(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per linked store: pack status, feed, last contact (packs or feed, whichever is newer), errors and state."""
    now = now or utcnow()
    feeds = {f["store_id"]: f for f in store_feeds(session, now)}
    rows = []
    for packs in store_status(session):
        feed = feeds[packs["store_id"]]
        errors = []
        if packs["notify_error"]:
            errors.append(f"notify: {packs['notify_error']}")
        if packs["last_ack_status"] == "refused":
            errors.append(f"pack refused: {packs['last_ack_reason']}")
        if feed["error"]:
            errors.append(f"feed: {feed['error']}")
        heard = [t for t in (_stamp(packs["last_contact_at"]), _stamp(feed["last_batch_at"])) if t is not None]
        contact = max(heard) if heard else None
        lag = feed["lag_seconds"]
        behind = packs["pending"] > 0 or (feed["lag_facts"] > 0 and lag is not None and lag > FEED_LATE_S)
        state = ("error" if errors else "never heard from" if contact is None else "behind" if behind else "ok")
        rows.append({**packs, "feed": feed, "errors": errors, "contact_at": contact,
                     "contact_ago_s": (now - contact).total_seconds() if contact else None, "state": state})
    return rows
