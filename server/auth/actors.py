"""Who acts on a store's trips after the shopper: a till of the store or a signed-in staff member.

A checkout and a rescan audit's outcome change the books, so they take an Actor made by the
web layer from the credential (a till's device token or a console session), never from ids
in a request body. The services check the Actor's store against the trip's.
"""
from __future__ import annotations

from dataclasses import dataclass

from server.errors import ApiError


@dataclass(frozen=True)
class Actor:
    """A till device or a signed-in staff member, acting for one store."""

    store_id: str
    staff_user_id: int | None = None
    till_device_id: int | None = None

    def require_store(self, store_id: str, what: str) -> None:
        """403 unless the thing (`what`, for the message) belongs to the actor's store."""
        if store_id != self.store_id:
            raise ApiError(403, f"{what} belongs to store {store_id}; a till or staff of store {self.store_id} "
                                "cannot act on it")
