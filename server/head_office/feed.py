"""Head office's side of the store feed: each (store, batch number) applied exactly once.

A batch (its wire format: batch.py) carries purchases with their lines and campaign
redemptions, members' states and erasures, read and checked whole before anything is
written. Applying batch N of a store, where head office holds N - 1:
1. In one SQL transaction, `store_links.feed_seq` moves from N - 1 to N by a guarded UPDATE
   (a second worker on the same batch waits on that row and then finds nothing to move).
2. Its purchase lines are committed to the lake under the store's application transaction
   version N (server/head_office/lake.py: skipped if the lake already holds N), and its
   erasures are deleted there.
3. Members are upserted, then erasures anonymise them (the order the store recorded them in:
   an erased member shops no more), the campaign results it implies are
   derived (spend on a campaign's products by its audience in its window, and
   redemptions of campaigns head office sent this store), and the transaction commits.
A crash anywhere is completed by the store's retry: the lake skips what it holds, SQL
applies what it does not. A batch numbered N or lower changes nothing and is answered with
the number held; one above N + 1 is refused (409), as is a malformed one (422), and the
refusal is kept on the link for the console.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import CampaignAudience, CampaignResult, Member, Pack, ResultBatch, StoreLink
from server.auth import accounts
from server.head_office.batch import Batch, read_batch
from server.head_office.compiler import compile_roster
from server.head_office.definition import CampaignError
from server.head_office.lake import Lake, lines_table
from server.store import loyalty


class FeedGap(CampaignError):
    """A batch beyond the next one head office expects (answered 409 with the number held)."""


@dataclass
class Applied:
    """What applying one batch did."""

    held: int
    applied: bool
    facts: int = 0
    lines: int = 0
    results: int = 0
    campaigns: set[int] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    roster_to: list[str] = field(default_factory=list)


ROSTER_MEMBERS = 10_000  # members' states per roster pack


class NoSigningKey(RuntimeError):
    """Head office cannot sign the roster packs a batch calls for (answered 503: the store retries)."""


def roster(session: Session, key: Ed25519PrivateKey | None, members: list[dict[str, Any]], erase: list[int],
           but: str | None = None) -> list[str]:
    """A roster pack (members' consent and tier, erasures) for every linked store but `but`; returns them."""
    stores = [s for s in session.scalars(select(StoreLink.store_id).order_by(StoreLink.store_id)) if s != but]
    if not stores:
        return []
    if key is None:
        raise NoSigningKey("head office has no signing key for the roster packs that carry members' changes to "
                           "the other stores; run `shopgo head-office keygen` (the store sends the batch again)")
    now = utcnow()
    for store_id in stores:  # a store fetches up to 20 packs a call: each stays well under a megabyte
        for i in range(0, max(len(members), 1), ROSTER_MEMBERS):
            compile_roster(session, key, store_id, members[i:i + ROSTER_MEMBERS], erase if i == 0 else [], now)
    return stores


def erase_everywhere(session: Session, lake: Lake, key: Ed25519PrivateKey, member_id: int,
                     actor: str) -> list[str]:
    """Erase a member at head office: its members table, the lake, and (by roster packs) every store."""
    member = session.get(Member, member_id)
    if member is not None and member.erased_at is None:
        loyalty.erase_member(session, member_id, actor, record=False)
    lake.delete_members([member_id])
    lake.vacuum()
    return roster(session, key, [], [member_id])


def apply_batch(session: Session, lake: Lake, link: StoreLink, body: Mapping[str, Any],
                key: Ed25519PrivateKey | None = None) -> Applied:
    """Apply the store's batch once (see the module text); the caller commits, then notifies
    `Applied.roster_to`, the stores a roster pack was issued to (signed with `key`)."""
    batch = read_batch(body)
    seq = batch.seq
    moved = session.execute(update(StoreLink).where(StoreLink.store_id == link.store_id,
                                                    StoreLink.feed_seq == seq - 1).values(feed_seq=seq))
    session.expire(link)
    if seq == 0 or moved.rowcount != 1:
        held = link.feed_seq
        if seq > held:
            raise FeedGap(f"batch {seq} of store {link.store_id} comes after batch {held + 1}, which head office "
                          f"never received; the store sends its batches in order, so its outbox lost batches")
        _mark(link, batch.backlog, error="")
        return Applied(held=held, applied=False)
    purchases = _attributed(session, batch)
    lines = lines_table(link.store_id, purchases, batch.lines)
    if lines.num_rows:
        lake.append(link.store_id, seq, lines)
    if batch.erasures:  # deleted, and the files that held them physically gone (only files a commit removed)
        lake.delete_members(e["member_id"] for e in batch.erasures)
        lake.vacuum()
    out = Applied(held=seq, applied=True, facts=batch.facts, lines=lines.num_rows)
    for member in batch.members:
        _member(session, member)
    erased = [e["member_id"] for e in batch.erasures if _erase(session, e)]
    changed = [{"member_id": m["member_id"], "tier": m["tier"], "consent": m["consent"]}
               for m in batch.members if not m["erased"]]
    if changed or erased:
        out.roster_to = roster(session, key, changed, erased, but=link.store_id)
    batch_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"shopgo-feed:{link.store_id}/{seq}"))  # fits result_batches.id
    session.add(ResultBatch(id=batch_id, store_id=link.store_id, rows=batch.facts, received_at=utcnow()))
    session.flush()
    results, out.skipped = _campaign_results(session, link.store_id, batch_id, batch, purchases, lines)
    session.add_all(results)
    out.results, out.campaigns = len(results), {r.campaign_id for r in results}
    link.feed_facts += batch.facts
    link.feed_lines += lines.num_rows
    _mark(link, batch.backlog, error="; ".join(out.skipped[:3]))
    session.flush()
    return out


def store_feeds(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per linked store: the newest batch held, facts and lines applied, lag in rows (what the store
    still held at its last call) and in seconds (since the store was last caught up), the last error."""
    now = now or utcnow()
    out = []
    for link in session.scalars(select(StoreLink).order_by(StoreLink.store_id)):
        lag = (now - link.feed_caught_up_at).total_seconds() if link.feed_caught_up_at else None
        out.append({"store_id": link.store_id, "name": link.name, "last_seq": link.feed_seq,
                    "facts": link.feed_facts, "lines": link.feed_lines,
                    "lag_facts": link.feed_backlog_facts, "lag_lines": link.feed_backlog_lines,
                    "lag_seconds": round(max(lag, 0.0), 1) if lag is not None else None,
                    "last_batch_at": link.feed_at.isoformat() if link.feed_at else None, "error": link.feed_error})
    return out


def chain_overview(session: Session, lake: Lake, now: datetime | None = None, days: int = 28) -> list[dict[str, Any]]:
    """Per store of the chain: its members (by home store) and its sales in the lake over the last `days`."""
    from datetime import timedelta

    from sqlalchemy import case, func

    now = now or utcnow()
    members = {store: (total, consenting, erased) for store, total, consenting, erased in session.execute(
        select(Member.store_id, func.count(), func.sum(case((Member.consent_personalisation.is_(True), 1), else_=0)),
               func.sum(case((Member.erased_at.is_not(None), 1), else_=0))).group_by(Member.store_id))}
    sales = lake.sales_by_store(now - timedelta(days=days))
    stores = sorted(set(members) | set(sales) | set(session.scalars(select(StoreLink.store_id))))
    return [{"store_id": s, "members": int(members.get(s, (0, 0, 0))[0]), "consenting": int(members.get(s, (0, 0, 0))[1] or 0),
             "erased": int(members.get(s, (0, 0, 0))[2] or 0), **sales.get(s, {"purchases": 0, "lines": 0, "sales_minor": 0})}
            for s in stores]


def record_refusal(session: Session, link: StoreLink, message: str) -> None:
    """Keep why a batch was refused on the link, for the console (the caller commits)."""
    link.feed_error = message[:1000]
    link.feed_at = utcnow()


def _mark(link: StoreLink, backlog: Mapping[str, Any], error: str) -> None:
    link.feed_backlog_facts, link.feed_backlog_lines = backlog["facts"], backlog["lines"]
    if link.feed_caught_up_at is None or backlog["caught_up_at"] > link.feed_caught_up_at:
        link.feed_caught_up_at = backlog["caught_up_at"]
    link.feed_at = link.last_contact_at = utcnow()
    link.feed_error = error


def _member(session: Session, data: Mapping[str, Any]) -> None:
    accounts.ensure_store(session, data["store_id"], data["store_id"])
    member = session.get(Member, data["member_id"])
    if member is None:
        member = Member(id=data["member_id"], card_number=data["card_number"], store_id=data["store_id"],
                        joined_at=data["joined_at"])
        session.add(member)
    if member.erased_at is not None:
        return  # an erasure is final: a late state of the member changes nothing
    holder = session.scalar(select(Member.id).where(Member.card_number == data["card_number"], Member.id != member.id))
    if holder is None:  # a card another member holds here stays theirs (the chain's numbering keeps cards unique)
        member.card_number = data["card_number"]
    member.store_id = data["store_id"]
    member.tier, member.consent_personalisation = data["tier"], data["consent"]
    session.flush()
    if data["erased"]:
        loyalty.erase_member(session, member.id, "chain feed", record=False)


def _erase(session: Session, data: Mapping[str, Any]) -> bool:
    """Erase the member here; False when head office had erased them already (nothing to pass on)."""
    member = session.get(Member, data["member_id"])
    if member is not None and member.erased_at is not None:
        return False
    if member is not None:
        loyalty.erase_member(session, member.id, "chain feed", now=data["at"], record=False)
    return True


def _campaign_results(session: Session, store_id: str, batch_id: str, batch: Batch, purchases: pa.Table,
                      lines: pa.Table) -> tuple[list[CampaignResult], list[str]]:
    """Spend on campaign products by audience members in the window, and campaign redemptions, of
    campaigns head office sent this store; a redemption of any other campaign is left out and named."""
    named = {r["campaign_id"] for r in batch.redemptions}
    sent = set(session.scalars(select(Pack.campaign_id).distinct().where(Pack.store_id == store_id,
                                                                         Pack.campaign_id.is_not(None))))
    skipped = sorted(named - sent)
    note = [f"redemptions of campaign(s) {skipped[:10]} head office never sent this store left out"] if skipped else []
    members = [m for m in pc.unique(purchases.column("member_id")).to_pylist() if m is not None]
    if not sent or not members:
        return [], note
    audience: dict[int, list[int]] = {}
    for i in range(0, len(members), 5000):  # bounded IN lists
        for campaign_id, member_id in session.execute(
                select(CampaignAudience.campaign_id, CampaignAudience.member_id)
                .where(CampaignAudience.store_id == store_id, CampaignAudience.campaign_id.in_(sent),
                       CampaignAudience.member_id.in_(members[i:i + 5000]))):
            audience.setdefault(member_id, []).append(campaign_id)
    windows = _windows(session, {c for cs in audience.values() for c in cs})
    spend: dict[tuple[int, int], list[Any]] = {}  # (purchase, campaign) -> [member, at, spend]
    if audience:
        mine = lines.filter(pc.is_in(lines.column("member_id"), pa.array(list(audience), pa.int64())))
        for row in mine.select(["purchase_id", "member_id", "product_id", "sales_minor", "purchased_at"]).to_pylist():
            for campaign_id in audience[row["member_id"]]:
                start, end, products = windows[campaign_id]
                if row["product_id"] in products and start <= row["purchased_at"] < end:
                    key = (row["purchase_id"], campaign_id)
                    spend.setdefault(key, [row["member_id"], row["purchased_at"], 0])[2] += row["sales_minor"]
    rows = [CampaignResult(batch_id=batch_id, store_id=store_id, campaign_id=campaign_id, member_id=member, kind="purchase",
                           ref=str(purchase_id), spend_minor=total, at=at)
            for (purchase_id, campaign_id), (member, at, total) in spend.items() if total > 0]
    if batch.redemptions:
        ids = pa.array([r["purchase_id"] for r in batch.redemptions], pa.int64())
        who = {p["purchase_id"]: p for p in purchases.filter(pc.is_in(purchases.column("purchase_id"), ids))
               .select(["purchase_id", "member_id", "purchased_at"]).to_pylist()}
        for r in batch.redemptions:
            p = who[r["purchase_id"]]
            if r["campaign_id"] in sent and p["member_id"] is not None:
                rows.append(CampaignResult(batch_id=batch_id, store_id=store_id, campaign_id=r["campaign_id"],
                                           member_id=p["member_id"], kind="redemption",
                                           ref=f"{r['purchase_id']}:{r['offer_id']}", discount_minor=r["discount_minor"],
                                           points=r["points"], at=p["purchased_at"]))
    return rows, note


def _attributed(session: Session, batch: Batch) -> pa.Table:
    """The batch's purchases, each guest's purchase made on a card head office knows given to that
    card's member (the store could not ask head office when its trip started), and none given to a
    member head office has erased: a store that had not heard of the erasure yet shipped them with
    the member's id, and they must not bring the member back."""
    named = [m for m in pc.unique(batch.purchases.column("member_id")).to_pylist() if m is not None]
    erased = set(session.scalars(select(Member.id).where(Member.id.in_(named), Member.erased_at.is_not(None)))) \
        if named else set()
    if not batch.cards and not erased:
        return batch.purchases
    owners = dict(session.execute(select(Member.card_number, Member.id).where(
        Member.card_number.in_(set(batch.cards.values())), Member.erased_at.is_(None))).all()) if batch.cards else {}
    ids = batch.purchases.column("purchase_id").to_pylist()
    members = [None if m in erased else m if m is not None else owners.get(batch.cards.get(p, ""))
               for p, m in zip(ids, batch.purchases.column("member_id").to_pylist())]
    return batch.purchases.set_column(1, "member_id", pa.array(members, pa.int64()))


def _windows(session: Session, campaign_ids: set[int]) -> dict[int, tuple[datetime, datetime, set[int]]]:
    from db.models import Campaign

    out = {}
    for camp in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))) if campaign_ids else ():
        d = camp.definition
        out[camp.id] = (datetime.fromisoformat(d["valid_from"]), datetime.fromisoformat(d["valid_to"]),
                        {int(p) for p in d.get("product_ids") or []})
    return out
