"""Member data requests from the console: export and erase through `server.store.loyalty`, which
records each one in `data_requests` (the audit trail shown here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import DataRequest, Member
from server.errors import ApiError
from server.store import loyalty


@dataclass(frozen=True)
class RequestRow:
    """One recorded export or erasure."""

    request: DataRequest
    member_store: str | None


def recent_requests(session: Session, store_id: str | None, limit: int = 50) -> list[RequestRow]:
    """The latest data requests (a store's members only, unless `store_id` is None)."""
    stmt = select(DataRequest, Member.store_id).outerjoin(Member, Member.id == DataRequest.member_id)
    if store_id is not None:
        stmt = stmt.where(Member.store_id == store_id)
    stmt = stmt.order_by(DataRequest.at.desc(), DataRequest.id.desc()).limit(limit)
    return [RequestRow(r, s) for r, s in session.execute(stmt)]


def export(session: Session, member_id: int, actor: str) -> dict[str, Any]:
    """Everything held about the member (recorded as an export request)."""
    try:
        return loyalty.export_member(session, member_id, actor)
    except loyalty.LoyaltyError as exc:
        raise ApiError(exc.status, exc.message) from None


def erase(session: Session, member_id: int, actor: str) -> dict[str, int]:
    """Erase the member's personal data (recorded as an erase request)."""
    try:
        return loyalty.erase_member(session, member_id, actor)
    except loyalty.LoyaltyError as exc:
        raise ApiError(exc.status, exc.message) from None
