"""Packs: per store, one campaign version and its audience there, signed and in sequence.

A pack's body is canonical JSON (server.head_office.signing.canonical) and is stored as the
exact text that was signed, so what a store downloads is byte for byte what was signed.
Sequence numbers are per store and rise by one with every pack: a store applies seq n+1
after n and nothing else, which is how it refuses replays and skipped packs.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Pack, StoreLink
from server.auth.accounts import hash_token, new_token
from server.head_office.definition import CampaignError, body_number
from server.head_office.signing import canonical, sign

PACK_FORMAT = "shopgo-pack/1"
ACK_STATUSES = ("activated", "withdrawn", "expired", "applied", "refused")
MAX_ACKS = 1000  # per request; a store sends its unacknowledged packs in chunks of at most this many


def add_store(session: Session, store_id: str, name: str, url: str = "") -> tuple[StoreLink, str]:
    """Link a store to head office; returns the link and its token (shown once, stored hashed)."""
    if session.get(StoreLink, store_id) is not None:
        raise CampaignError(f"store {store_id} is already linked; use --rotate to give it a new token")
    token = new_token()
    link = StoreLink(store_id=store_id, name=name, url=url.rstrip("/"), token_hash=hash_token(token), acked_seq=0,
                     last_ack_status="", last_ack_reason="", notify_error="", created_at=utcnow())
    session.add(link)
    session.flush()
    return link, token


def rotate_token(session: Session, store_id: str) -> str:
    """Give a linked store a new token (the old one stops working)."""
    link = session.get(StoreLink, store_id)
    if link is None:
        raise CampaignError(f"store {store_id} is not linked")
    token = new_token()
    link.token_hash = hash_token(token)
    return token


def store_for_token(session: Session, token: str) -> StoreLink | None:
    """The linked store holding this token."""
    return session.scalar(select(StoreLink).where(StoreLink.token_hash == hash_token(token)))


def pack_document(store_id: str, seq: int, campaign_id: int, version: int, action: str,
                  definition: Mapping[str, Any], products: Sequence[int], exposed: Sequence[int],
                  holdout: Sequence[int], issued_at: datetime) -> dict[str, Any]:
    """The document a pack signs."""
    return {
        "format": PACK_FORMAT, "store_id": store_id, "seq": seq, "issued_at": issued_at.isoformat(), "action": action,
        "campaign": {"id": campaign_id, "version": version, "name": definition["name"],
                     "reward_type": definition["reward"]["type"], "reward_value": definition["reward"]["value"],
                     "product_ids": list(products), "valid_from": definition["valid_from"],
                     "valid_to": definition["valid_to"], "max_per_member": definition["max_per_member"],
                     "budget": dict(definition["budget"])},
        "exposed": sorted(exposed), "holdout": sorted(holdout),
    }


def compile_pack(session: Session, key: Ed25519PrivateKey, store_id: str, campaign_id: int, version: int,
                 action: str, definition: Mapping[str, Any], products: Sequence[int], exposed: Sequence[int],
                 holdout: Sequence[int], issued_at: datetime) -> Pack:
    """Sign and store the store's next pack."""
    link = session.get(StoreLink, store_id, with_for_update=True)
    if link is None:
        raise CampaignError(f"store {store_id} is not linked to head office")
    seq = (session.scalar(select(func.max(Pack.seq)).where(Pack.store_id == store_id)) or 0) + 1
    body = canonical(pack_document(store_id, seq, campaign_id, version, action, definition, products, exposed,
                                   holdout, issued_at))
    pack = Pack(store_id=store_id, seq=seq, campaign_id=campaign_id, campaign_version=version, action=action,
                body=body, signature=sign(key, body), created_at=issued_at, acked_status="", acked_reason="")
    session.add(pack)
    session.flush()
    return pack


def compile_roster(session: Session, key: Ed25519PrivateKey, store_id: str, members: Sequence[Mapping[str, Any]],
                   erase: Sequence[int], issued_at: datetime) -> Pack:
    """Sign and store the store's next pack as a roster: members' states (consent, tier) and erasures."""
    return _compile_chain_pack(session, key, store_id, "roster", {"members": [dict(m) for m in members],
                                                                  "erase": sorted(erase)}, issued_at)


def compile_offers(session: Session, key: Ed25519PrivateKey, store_id: str, members: Sequence[int],
                   offers: Sequence[Mapping[str, Any]], issued_at: datetime, start: datetime,
                   max_live_offers: int) -> Pack:
    """Sign and store the store's next pack as its members' personal offers from the chain's offers run:
    `members` are the members it covers (their engine offers from `start` on are replaced), `offers` the
    new ones, and no member is to hold more than `max_live_offers` live at once."""
    return _compile_chain_pack(session, key, store_id, "offers", {
        "start": start.isoformat(), "max_live_offers": int(max_live_offers),
        "members": sorted(int(m) for m in members), "offers": [dict(o) for o in offers]}, issued_at)


def _compile_chain_pack(session: Session, key: Ed25519PrivateKey, store_id: str, action: str,
                        content: Mapping[str, Any], issued_at: datetime) -> Pack:
    """A pack that names no campaign (roster, offers), numbered after the store's last and signed."""
    link = session.get(StoreLink, store_id, with_for_update=True)
    if link is None:
        raise CampaignError(f"store {store_id} is not linked to head office")
    seq = (session.scalar(select(func.max(Pack.seq)).where(Pack.store_id == store_id)) or 0) + 1
    body = canonical({"format": PACK_FORMAT, "store_id": store_id, "seq": seq, "issued_at": issued_at.isoformat(),
                      "action": action, **content})
    pack = Pack(store_id=store_id, seq=seq, campaign_id=None, campaign_version=None, action=action, body=body,
                signature=sign(key, body), created_at=issued_at, acked_status="", acked_reason="")
    session.add(pack)
    session.flush()
    return pack


def packs_after(session: Session, store_id: str, after: int, limit: int = 20) -> list[Pack]:
    """The store's packs after a sequence number, oldest first."""
    return list(session.scalars(select(Pack).where(Pack.store_id == store_id, Pack.seq > after)
                                .order_by(Pack.seq).limit(limit)))


def record_acks(session: Session, link: StoreLink, acks: Sequence[Mapping[str, Any]]) -> int:
    """Keep what a store did with its packs; the newest applied one becomes its active version.

    Every ack must name a pack head office issued to this store: a batch with one that does
    not is refused whole (CampaignError) before anything is recorded, so `acked_seq` never
    moves past the newest pack issued."""
    if len(acks) > MAX_ACKS:
        raise CampaignError(f"at most {MAX_ACKS} acks a request, not {len(acks)}")
    checked: list[tuple[int, str, str]] = []
    for i, ack in enumerate(acks):
        if not isinstance(ack, Mapping):
            raise CampaignError(f"acks[{i}] must be an object {{seq, status, reason}}")
        seq = body_number(ack.get("seq"), f"acks[{i}].seq", low=1)
        status, reason = ack.get("status"), ack.get("reason")
        if status not in ACK_STATUSES:
            raise CampaignError(f"acks[{i}] needs a status of {', '.join(ACK_STATUSES)}")
        if reason is not None and not isinstance(reason, str):
            raise CampaignError(f"acks[{i}].reason must be text")
        checked.append((seq, status, (reason or "")[:2000]))
    wanted = {seq for seq, _, _ in checked}
    issued = {p.seq: p for p in session.scalars(select(Pack).where(Pack.store_id == link.store_id,
                                                                   Pack.seq.in_(wanted)))} if wanted else {}
    never = sorted(wanted - set(issued))
    if never:
        raise CampaignError(f"head office issued no pack(s) {', '.join(map(str, never[:10]))} to store "
                            f"{link.store_id}; nothing recorded")
    stamp = utcnow()
    for seq, status, reason in checked:
        pack = issued[seq]
        pack.acked_status, pack.acked_reason, pack.acked_at = status, reason, stamp
        if status != "refused" and seq > link.acked_seq:
            link.acked_seq = seq
        link.last_ack_status, link.last_ack_reason = status, reason
    link.last_contact_at = stamp
    return len(checked)


def store_status(session: Session) -> list[dict[str, Any]]:
    """Per linked store: newest pack issued, newest acknowledged, what it said, and whether it lags."""
    out = []
    for link in session.scalars(select(StoreLink).order_by(StoreLink.store_id)):
        newest = session.scalar(select(func.max(Pack.seq)).where(Pack.store_id == link.store_id)) or 0
        active = session.execute(select(Pack.campaign_id, Pack.campaign_version, Pack.action, Pack.acked_status)
                                 .where(Pack.store_id == link.store_id, Pack.seq <= link.acked_seq)
                                 .order_by(Pack.seq)).all()
        campaigns: dict[int, tuple[int, str]] = {}
        for cid, version, action, acked in active:
            if cid is not None and acked in ("activated", "withdrawn", "expired"):
                campaigns[cid] = (version, "active" if action == "activate" and acked == "activated" else acked)
        out.append({"store_id": link.store_id, "name": link.name, "url": link.url, "issued_seq": newest,
                    "acked_seq": link.acked_seq, "pending": newest - link.acked_seq,
                    "last_ack_status": link.last_ack_status, "last_ack_reason": link.last_ack_reason,
                    "last_contact_at": link.last_contact_at.isoformat() if link.last_contact_at else None,
                    "notify_error": link.notify_error,
                    "campaigns": {cid: {"version": v, "state": s} for cid, (v, s) in sorted(campaigns.items())}})
    return out
