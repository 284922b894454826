"""Head office's side of the store feed: each (store, batch number) applied exactly once.

A batch (server/store/chain_feed.py) is `{seq, facts, backlog}`; a fact is a purchase with
its lines and campaign redemptions, a member's state, or an erasure. Applying batch N of a
store, where head office holds N - 1:
1. In one SQL transaction, `store_links.feed_seq` moves from N - 1 to N by a guarded UPDATE
   (a second worker on the same batch waits on that row and then finds nothing to move).
2. Its purchase lines are committed to the lake under the store's application transaction
   version N (server/head_office/lake.py: skipped if the lake already holds N), and its
   erasures are deleted there.
3. Members are upserted (erasures anonymise them), the campaign results it implies are
   derived (spend on a campaign's products by its audience in its window, and
   redemptions of campaigns head office sent this store), and the transaction commits.
A crash anywhere is completed by the store's retry: the lake skips what it holds, SQL
applies what it does not. A batch numbered N or lower changes nothing and is answered with
the number held; one above N + 1 is refused (409), as is a malformed one (422), and the
refusal is kept on the link for the console.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import CampaignAudience, CampaignResult, Member, Pack, ResultBatch, StoreLink
from server.auth import accounts
from server.head_office.definition import CampaignError, body_number
from server.head_office.lake import Lake, lines_table
from server.params import MAX_ID, storable
from server.store import loyalty
from server.store.schemas import parse_time

MAX_FACTS = 5_000
MAX_LINES = 50_000
MONEY = 2**31 - 1


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


def apply_batch(session: Session, lake: Lake, link: StoreLink, body: Mapping[str, Any]) -> Applied:
    """Apply the store's batch once (see the module text); the caller commits."""
    seq = _whole(body.get("seq"), "seq", 0, MAX_ID)
    facts = _facts(body.get("facts"))
    backlog = _backlog(body.get("backlog"))
    moved = session.execute(update(StoreLink).where(StoreLink.store_id == link.store_id,
                                                    StoreLink.feed_seq == seq - 1).values(feed_seq=seq))
    session.expire(link)
    if seq == 0 or moved.rowcount != 1:
        held = link.feed_seq
        if seq > held:
            raise FeedGap(f"batch {seq} of store {link.store_id} comes after batch {held + 1}, which head office "
                          f"never received; the store sends its batches in order, so its outbox lost batches")
        _mark(link, backlog, error="")
        return Applied(held=held, applied=False)
    purchases = [f["data"] for f in facts if f["kind"] == "purchase"]
    erased = [f["data"]["member_id"] for f in facts if f["kind"] == "erasure"]
    lines = lines_table(link.store_id, purchases)
    if lines.num_rows:
        lake.append(link.store_id, seq, lines)
    if erased:
        lake.delete_members(erased)
    out = Applied(held=seq, applied=True, facts=len(facts), lines=lines.num_rows)
    for fact in facts:
        if fact["kind"] == "member":
            _member(session, fact["data"])
        elif fact["kind"] == "erasure":
            _erase(session, fact["data"])
    batch_id = f"{link.store_id}/{seq}"
    session.add(ResultBatch(id=batch_id, store_id=link.store_id, rows=len(facts), received_at=utcnow()))
    session.flush()
    results, out.skipped = _campaign_results(session, link.store_id, batch_id, purchases)
    session.add_all(results)
    out.results, out.campaigns = len(results), {r.campaign_id for r in results}
    link.feed_facts += len(facts)
    link.feed_lines += lines.num_rows
    _mark(link, backlog, error="; ".join(out.skipped[:3]))
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
    member.card_number, member.store_id = data["card_number"], data["store_id"]
    member.tier, member.consent_personalisation = data["tier"], data["consent"]
    session.flush()
    if data["erased"]:
        loyalty.erase_member(session, member.id, "chain feed")


def _erase(session: Session, data: Mapping[str, Any]) -> None:
    member = session.get(Member, data["member_id"])
    if member is not None and member.erased_at is None:
        loyalty.erase_member(session, member.id, "chain feed", now=data["at"])


def _campaign_results(session: Session, store_id: str, batch_id: str,
                      purchases: Sequence[Mapping[str, Any]]) -> tuple[list[CampaignResult], list[str]]:
    """Spend on campaign products by audience members in the window, and campaign redemptions, of
    campaigns head office sent this store; a redemption of any other campaign is left out and named."""
    named = {r["campaign_id"] for p in purchases for r in p["redemptions"]}
    members = {p["member_id"] for p in purchases if p["member_id"] is not None}
    sent = set(session.scalars(select(Pack.campaign_id).distinct().where(Pack.store_id == store_id)))
    if not sent:
        return [], [f"redemptions of campaign(s) {sorted(named)[:10]} head office never sent this store left out"] \
            if named else []
    audience: dict[int, list[int]] = {}
    if members:
        for campaign_id, member_id in session.execute(
                select(CampaignAudience.campaign_id, CampaignAudience.member_id)
                .where(CampaignAudience.store_id == store_id, CampaignAudience.campaign_id.in_(sent),
                       CampaignAudience.member_id.in_(members))):
            audience.setdefault(member_id, []).append(campaign_id)
    windows = _windows(session, {c for cs in audience.values() for c in cs})
    rows, skipped = [], sorted(named - sent)
    for p in purchases:
        at, ref = p["purchased_at"], str(p["purchase_id"])
        for campaign_id in audience.get(p["member_id"], ()):
            start, end, products = windows[campaign_id]
            spend = sum(line[3] for line in p["lines"] if line[0] in products) if start <= at < end else 0
            if spend > 0:
                rows.append(CampaignResult(batch_id=batch_id, store_id=store_id, campaign_id=campaign_id,
                                           member_id=p["member_id"], kind="purchase", ref=ref, spend_minor=spend, at=at))
        for r in p["redemptions"]:
            if r["campaign_id"] in sent and p["member_id"] is not None:
                rows.append(CampaignResult(batch_id=batch_id, store_id=store_id, campaign_id=r["campaign_id"],
                                           member_id=p["member_id"], kind="redemption", ref=f"{ref}:{r['offer_id']}",
                                           discount_minor=r["discount_minor"], points=r["points"], at=at))
    return rows, [f"redemptions of campaign(s) {skipped[:10]} head office never sent this store left out"] \
        if skipped else []


def _windows(session: Session, campaign_ids: set[int]) -> dict[int, tuple[datetime, datetime, set[int]]]:
    from db.models import Campaign

    out = {}
    for camp in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids))) if campaign_ids else ():
        d = camp.definition
        out[camp.id] = (datetime.fromisoformat(d["valid_from"]), datetime.fromisoformat(d["valid_to"]),
                        {int(p) for p in d.get("product_ids") or []})
    return out


# ---- reading a batch: every fact checked before anything is written ----

def _whole(value: Any, name: str, low: int, high: int) -> int:
    return body_number(value, name, low=low, high=high)


def _maybe(value: Any, name: str, low: int, high: int) -> int | None:
    return None if value is None else _whole(value, name, low, high)


def _time(value: Any, name: str) -> datetime:
    moment = parse_time(value) if isinstance(value, str) and len(value) <= 40 else None
    if moment is None:
        raise CampaignError(f"{name} must be an RFC 3339 (ISO 8601) time with a UTC offset, not {str(value)[:40]!r}")
    return moment


def _text(value: Any, name: str, longest: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest or not storable(value):
        raise CampaignError(f"{name} must be a text of 1 to {longest} characters (no NUL)")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise CampaignError(f"{name} must be true or false")
    return value


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CampaignError(f"{name} must be an object")
    return value


def _facts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_FACTS:
        raise CampaignError(f"facts must be a list of at most {MAX_FACTS} facts")
    out, lines = [], 0
    for i, raw in enumerate(value):
        fact = _object(raw, f"facts[{i}]")
        kind, data = fact.get("kind"), _object(fact.get("data"), f"facts[{i}].data")
        if "at" in fact:
            _time(fact["at"], f"facts[{i}].at")
        name = f"facts[{i}].data"
        if kind == "purchase":
            checked = _purchase(data, name)
            lines += len(checked["lines"])
        elif kind == "member":
            checked = {"member_id": _whole(data.get("member_id"), f"{name}.member_id", 1, MAX_ID),
                       "card_number": _text(data.get("card_number"), f"{name}.card_number", 14),
                       "store_id": _text(data.get("store_id"), f"{name}.store_id", 32),
                       "tier": _text(data.get("tier"), f"{name}.tier", 16),
                       "consent": _flag(data.get("consent", False), f"{name}.consent"),
                       "erased": _flag(data.get("erased", False), f"{name}.erased"),
                       "joined_at": _time(data.get("joined_at"), f"{name}.joined_at")}
        elif kind == "erasure":
            checked = {"member_id": _whole(data.get("member_id"), f"{name}.member_id", 1, MAX_ID),
                       "at": _time(data.get("at"), f"{name}.at")}
        else:
            raise CampaignError(f"facts[{i}].kind must be 'purchase', 'member' or 'erasure', not {str(kind)[:40]!r}")
        out.append({"kind": kind, "data": checked})
    if lines > MAX_LINES:
        raise CampaignError(f"a batch carries at most {MAX_LINES} purchase lines, not {lines}")
    return out


def _purchase(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    lines = data.get("lines")
    if not isinstance(lines, list):
        raise CampaignError(f"{name}.lines must be a list of [product_id, quantity, weight_g, sales_minor, "
                            "discount_minor]")
    checked_lines = lines if _plain_lines(lines) else [_line(line, f"{name}.lines[{j}]") for j, line in enumerate(lines)]
    redemptions = data.get("redemptions", [])
    if not isinstance(redemptions, list):
        raise CampaignError(f"{name}.redemptions must be a list")
    checked_reds = []
    for j, raw in enumerate(redemptions):
        r, where = _object(raw, f"{name}.redemptions[{j}]"), f"{name}.redemptions[{j}]"
        checked_reds.append({"offer_id": _whole(r.get("offer_id"), f"{where}.offer_id", 1, MAX_ID),
                             "campaign_id": _whole(r.get("campaign_id"), f"{where}.campaign_id", 1, MAX_ID),
                             "discount_minor": _whole(r.get("discount_minor"), f"{where}.discount_minor", 0, MONEY),
                             "points": _whole(r.get("points"), f"{where}.points", 0, MONEY)})
    return {"purchase_id": _whole(data.get("purchase_id"), f"{name}.purchase_id", 1, 2**63 - 1),
            "member_id": _maybe(data.get("member_id"), f"{name}.member_id", 1, MAX_ID),
            "purchased_at": _time(data.get("purchased_at"), f"{name}.purchased_at"),
            "lines": checked_lines, "redemptions": checked_reds}


def _plain_lines(lines: list[Any]) -> bool:
    """True when every line is five JSON integers within bounds (weight_g may be null), checked
    column by column with built-in loops; anything else goes through `_line`, which names the
    first bad value (or takes an integer-valued number such as 11.0)."""
    if not all(type(line) is list and len(line) == 5 for line in lines):
        return False
    if not lines:
        return True
    product, quantity, weight, sales, discount = zip(*lines)
    weights = [w for w in weight if w is not None]
    columns = ((product, 1, MAX_ID), (quantity, -MONEY, MONEY), (sales, -MONEY, MONEY), (discount, -MONEY, MONEY),
               (weights, 0, MONEY))
    return all(all(type(v) is int for v in col) and (not col or (low <= min(col) and max(col) <= high))
               for col, low, high in columns)


def _line(line: Any, where: str) -> list[int | None]:
    if not isinstance(line, list) or len(line) != 5:
        raise CampaignError(f"{where} must be [product_id, quantity, weight_g, sales_minor, discount_minor]")
    return [_whole(line[0], f"{where}[0]", 1, MAX_ID), _whole(line[1], f"{where}[1]", -MONEY, MONEY),
            _maybe(line[2], f"{where}[2]", 0, MONEY), _whole(line[3], f"{where}[3]", -MONEY, MONEY),
            _whole(line[4], f"{where}[4]", -MONEY, MONEY)]


def _backlog(value: Any) -> dict[str, Any]:
    data = _object(value, "backlog")
    return {"facts": _whole(data.get("facts"), "backlog.facts", 0, MONEY),
            "lines": _whole(data.get("lines"), "backlog.lines", 0, MONEY),
            "caught_up_at": _time(data.get("caught_up_at"), "backlog.caught_up_at")}
