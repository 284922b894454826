"""The store's feed to head office: the outbox shipped in numbered batches, applied once there.

Shipping (`ship`, the scheduler's "chain-feed" job and `shopgo chain ship`):
1. The oldest batch already numbered and not yet held by head office is sent again as it
   was; otherwise the oldest outbox rows (up to BATCH_LINES purchase lines or BATCH_FACTS
   facts) get the next number, 1, 2, 3, ... per store, committed before anything is sent.
2. POST /api/v1/head-office/feed with the store's link token: `{seq, facts, backlog}`.
   Head office applies each number once and answers `{"held": N}`, the newest it holds.
3. The store deletes every row of batches up to N, and goes on until the outbox is empty.
A retry after a timeout sends the very same batch under the same number, so head office
counts it once. With nothing to send the store still calls, with its last number and no
facts: head office learns the store is caught up, and its lag stays true.

Back-fill (`backfill`, `shopgo chain backfill`): the history that never passed through the
outbox (imported purchases, and self-scan purchases from before the outbox existed,
migration 0010) and every member's state are queued into the outbox in chunks, each chunk
committed with its progress mark, so a crash resumes where it stopped and nothing is
queued twice. The same shipping then carries them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, Offer, OfferRedemption, OutboxFact, Purchase, PurchaseLine, SiteState
from server.head_office.wire import LinkError, call
from server.store import outbox

log = logging.getLogger(__name__)

BATCH_LINES = 10_000
BATCH_FACTS = 2_000
BACKFILL_CHUNK = 1_000  # purchases (or members) queued per transaction
SEQ_KEY = "chain_feed_seq"
UPTO_KEY = "chain_backfill_selfscan_upto"
MEMBER_MARK, PURCHASE_MARK = "chain_backfill_member_id", "chain_backfill_purchase_id"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Backlog:
    """What the outbox still holds: facts, purchase lines, and the oldest fact's time."""

    facts: int
    lines: int
    oldest_at: datetime | None

    def as_json(self, now: datetime) -> dict[str, Any]:
        """For /healthz and the feed's answer to head office: lag in rows and seconds."""
        lag = (now - self.oldest_at).total_seconds() if self.oldest_at else 0.0
        return {"facts": self.facts, "lines": self.lines, "lag_seconds": round(max(lag, 0.0), 1),
                "oldest_at": self.oldest_at.isoformat() if self.oldest_at else None}


@dataclass
class ShipReport:
    """What one run of the feed did."""

    batches: int = 0
    facts: int = 0
    lines: int = 0
    held: int | None = None
    error: str = ""


def _state(session: Session, key: str, default: int = 0) -> int:
    row = session.get(SiteState, key)
    return int(row.value) if row else default


def _set_state(session: Session, key: str, value: int) -> None:
    row = session.get(SiteState, key)
    if row is None:
        session.add(SiteState(key=key, value=str(value)))
    else:
        row.value = str(value)


def backlog(session: Session, after_seq: int | None = None) -> Backlog:
    """The outbox's size (leaving out batches up to `after_seq`, about to be held)."""
    query = select(func.count(), func.coalesce(func.sum(OutboxFact.lines), 0), func.min(OutboxFact.created_at))
    if after_seq is not None:
        query = query.where(or_(OutboxFact.batch_seq.is_(None), OutboxFact.batch_seq > after_seq))
    facts, lines, oldest = session.execute(query).one()
    return Backlog(int(facts), int(lines), oldest)


def next_batch(session: Session) -> tuple[int, list[OutboxFact]]:
    """The batch to send: the oldest numbered one not yet held, or the next rows under a new number
    (committed, so a crash or a timeout sends the same batch again). No rows: the last number.

    Numbering starts by writing the row of the last number, which takes the write lock (on SQLite
    the database's, on PostgreSQL the row's) before anything is read, so the scheduler's job and a
    `shopgo chain ship` at the same moment never give one number to two different sets of rows;
    the transaction ends before anything is sent."""
    session.commit()  # a fresh transaction whose first statement is the write below
    lock = update(SiteState).where(SiteState.key == SEQ_KEY).values(value=SiteState.value)
    if not session.execute(lock).rowcount:  # the write takes the lock (SQLite: the database's; PostgreSQL: the row's)
        try:
            session.add(SiteState(key=SEQ_KEY, value="0"))
            session.commit()
        except IntegrityError:  # another shipper made it first
            session.rollback()
        session.execute(lock)
    session.expire_all()  # read the number as committed now, not as this session last saw it
    seq = session.scalar(select(func.min(OutboxFact.batch_seq)))
    if seq is None:
        picked: list[int] = []
        lines = 0
        for fact_id, fact_lines in session.execute(select(OutboxFact.id, OutboxFact.lines)
                                                   .where(OutboxFact.batch_seq.is_(None))
                                                   .order_by(OutboxFact.id).limit(BATCH_FACTS)):
            if picked and lines + fact_lines > BATCH_LINES:
                break
            picked.append(fact_id)
            lines += fact_lines
        if not picked:
            last = _state(session, SEQ_KEY)
            session.commit()
            return last, []
        seq = _state(session, SEQ_KEY) + 1
        _set_state(session, SEQ_KEY, seq)
        session.execute(update(OutboxFact).where(OutboxFact.id.in_(picked)).values(batch_seq=seq))
    rows = list(session.scalars(select(OutboxFact).where(OutboxFact.batch_seq == seq).order_by(OutboxFact.id)))
    session.commit()
    return seq, rows


def batch_body(session: Session, seq: int, rows: list[OutboxFact]) -> dict[str, Any]:
    """What POST /api/v1/head-office/feed takes: the batch, and what the outbox holds behind it."""
    rest = backlog(session, after_seq=seq)
    return wire_batch(seq, [(r.kind, r.payload) for r in rows],
                      {"facts": rest.facts, "lines": rest.lines, "caught_up_at": (rest.oldest_at or utcnow()).isoformat()})


def wire_batch(seq: int, facts: list[tuple[str, Mapping[str, Any]]], backlog: Mapping[str, Any]) -> dict[str, Any]:
    """Outbox payloads in the feed's wire format (server/head_office/batch.py): purchases and their
    lines in columns, in outbox order; redemptions, members and erasures as lists."""
    purchases: dict[str, list[Any]] = {"purchase_id": [], "member_id": [], "purchased_at": [], "lines": []}
    lines: dict[str, list[Any]] = {name: [] for name in outbox.LINE_FIELDS}
    body: dict[str, Any] = {"seq": seq, "purchases": purchases, "lines": lines, "redemptions": [], "cards": [],
                            "members": [], "erasures": [], "backlog": dict(backlog)}
    for kind, data in facts:
        if kind == "purchase":
            for name in ("purchase_id", "member_id", "purchased_at"):
                purchases[name].append(data[name])
            purchases["lines"].append(len(data["lines"]))
            for name, column in zip(outbox.LINE_FIELDS, zip(*data["lines"])):
                lines[name].extend(column)
            body["redemptions"] += [{"purchase_id": data["purchase_id"], **r} for r in data.get("redemptions", ())]
            if data.get("card_number"):
                body["cards"].append({"purchase_id": data["purchase_id"], "card_number": data["card_number"]})
        else:
            body["members" if kind == "member" else "erasures"].append(dict(data))
    return body


def acknowledge(session: Session, held: int) -> None:
    """Head office holds every batch up to `held`: their rows leave the outbox."""
    session.execute(delete(OutboxFact).where(OutboxFact.batch_seq <= held))
    session.commit()


def ship(session: Session, url: str, token: str, max_batches: int | None = None,
         progress: Progress | None = None) -> ShipReport:
    """Send the outbox to head office until it is empty (or `max_batches` went); never raises for
    what the link did: an unreachable or refusing head office is the report's `error`."""
    report = ShipReport()
    total = backlog(session).facts
    while max_batches is None or report.batches < max_batches:
        seq, rows = next_batch(session)
        body = batch_body(session, seq, rows)
        try:
            answer = call("POST", f"{url}/api/v1/head-office/feed", body, token=token, timeout=120)
        except LinkError as exc:
            session.rollback()
            report.error = str(exc)
            log.warning("chain feed: batch %s not delivered: %s", seq, exc)
            return report
        held = answer.get("held")
        if not isinstance(held, int) or isinstance(held, bool):
            report.error = f"head office answered {answer!r}, not the batch number it holds"
            return report
        report.held = held
        acknowledge(session, held)
        if not rows:
            break
        report.batches += 1
        report.facts += len(rows)
        report.lines += sum(r.lines for r in rows)
        if progress:
            progress(report.facts, total)
        if held < seq:
            report.error = (f"head office holds batch {held} of this store, not {seq}: it was restored from an "
                            "older backup or refused the batch; see its feed status for this store")
            log.error("chain feed: %s", report.error)
            return report
    return report


def ship_configured(session: Session, cfg: Mapping[str, Any], max_batches: int | None = None,
                    progress: Progress | None = None) -> ShipReport:
    """`ship` to the head office config.toml names, with the link token the store keeps, after giving
    purchases made on a then-unchecked card to their members where head office now knows the card."""
    from server.store.packs import LinkTokenError, head_office_token

    url = str(cfg["server"]["head_office_url"]).rstrip("/")
    if not url:
        return ShipReport(error="server.head_office_url is empty; this store feeds no head office")
    try:
        token = head_office_token(session, cfg)
        session.commit()
    except LinkTokenError as exc:
        session.rollback()
        return ShipReport(error=str(exc))
    if not token:
        return ShipReport(error="no head-office token; run `shopgo head-office link --token-file PATH` on this store")
    from server.store.chain_members import attribute_pending

    attribute_pending(session, cfg)  # trips started on a card head office could not check, now it may
    return ship(session, url, token, max_batches=max_batches, progress=progress)


def backfill_total(session: Session) -> tuple[int, int]:
    """Members and purchases a back-fill still has to queue."""
    members = session.scalar(select(func.count()).select_from(Member)
                             .where(Member.id > _state(session, MEMBER_MARK))) or 0
    purchases = session.scalar(select(func.count()).select_from(Purchase).where(*_history(session))) or 0
    return int(members), int(purchases)


def _history(session: Session) -> tuple[Any, ...]:
    """The purchases no checkout put in the outbox, after the back-fill's mark."""
    upto = _state(session, UPTO_KEY)
    return (or_(Purchase.source != "selfscan", Purchase.id <= upto), Purchase.id > _state(session, PURCHASE_MARK))


def backfill(session: Session, progress: Progress | None = None, chunk: int = BACKFILL_CHUNK) -> tuple[int, int]:
    """Queue every member's state and the history into the outbox, resumably; returns (members, purchases)."""
    members_left, purchases_left = backfill_total(session)
    total, done = members_left + purchases_left, 0
    queued = [0, 0]
    while True:
        mark = _state(session, MEMBER_MARK)
        members = list(session.scalars(select(Member).where(Member.id > mark).order_by(Member.id).limit(chunk)))
        if not members:
            break
        for member in members:
            outbox.record_member(session, member)
        _set_state(session, MEMBER_MARK, members[-1].id)
        session.commit()
        queued[0] += len(members)
        done += len(members)
        if progress:
            progress(done, total)
    while True:
        purchases = list(session.scalars(select(Purchase).where(*_history(session)).order_by(Purchase.id).limit(chunk)))
        if not purchases:
            break
        ids = [p.id for p in purchases]
        lines: dict[int, list[dict[str, Any]]] = {}
        for row in session.execute(select(PurchaseLine.purchase_id, *(getattr(PurchaseLine, f) for f in outbox.LINE_FIELDS))
                                   .where(PurchaseLine.purchase_id.in_(ids)).order_by(PurchaseLine.id)).mappings():
            lines.setdefault(row["purchase_id"], []).append(row)
        redeemed = _redemptions(session, [p.trip_id for p in purchases if p.trip_id])
        for p in purchases:
            outbox.record_purchase(session, p, lines.get(p.id, []), redeemed.get(p.trip_id or "", []))
        _set_state(session, PURCHASE_MARK, ids[-1])
        session.commit()
        queued[1] += len(purchases)
        done += len(purchases)
        if progress:
            progress(done, total)
    return queued[0], queued[1]


def _redemptions(session: Session, trip_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if not trip_ids:
        return out
    for r, campaign_id in session.execute(select(OfferRedemption, Offer.campaign_id)
                                          .join(Offer, Offer.id == OfferRedemption.offer_id)
                                          .where(OfferRedemption.trip_id.in_(trip_ids), Offer.campaign_id.is_not(None))):
        out.setdefault(r.trip_id, []).append({"offer_id": r.offer_id, "campaign_id": campaign_id,
                                              "discount_minor": r.discount_minor, "points": r.points})
    return out


def feed_status(session: Session, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """For /healthz: whether the store feeds a head office, and how far behind it is."""
    now = utcnow()
    return {"linked": bool(str(cfg["server"].get("head_office_url", ""))), "last_seq": _state(session, SEQ_KEY),
            **backlog(session).as_json(now)}
