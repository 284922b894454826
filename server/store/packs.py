"""Store side of campaign packs: pull from head office, verify, apply in order, acknowledge.

`pull` is what the scheduler's "pack-pull" job and the store's notify endpoint run. It
re-sends acknowledgements head office has not confirmed, fetches the packs after the last
one applied, and applies each: the Ed25519 signature must match head office's public key
(`server.head_office_public_key`), the pack must be for this store, and its sequence number
must be exactly the last applied plus one. A tampered, foreign, replayed or out-of-order pack
is refused with a logged reason and changes nothing. Activating a pack writes one `Offer`
(kind "campaign") per exposed member and product, valid for the campaign's window, and keeps
exposed and hold-out members in `campaign_audience`; withdrawing ends the campaign's offers.
A store that was offline simply pulls everything after its last pack when it is back.
What goes up to head office goes by the store's feed (server/store/chain_feed.py), not here.

Head office's answer is read with a size cap (MAX_PACKS_ANSWER_BYTES) and its shape checked
(a list of at most MAX_PACKS_PER_ANSWER objects, each a seq after the one asked for, a body
and a signature, as text) before any pack is applied; a malformed or oversized answer
applies nothing and is reported in `PullReport.error`, never raised.
The store's token for head office is kept in `site_state` under "head_office_token",
encrypted (server.head_office.link_secret).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date as dt_date
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Campaign, CampaignAudience, Member, Offer, Product, SiteState, StorePack
from server.head_office import link_secret
from server.head_office.compiler import MAX_ACKS, PACK_FORMAT
from server.head_office.link_secret import LinkTokenError
from server.head_office.signing import SignatureError, load_public_key, verify
from server.head_office.wire import LinkError, call
from server.store.personal_offers import Proposal, write_offers

log = logging.getLogger(__name__)
TOKEN_KEY = "head_office_token"
MAX_PACKS_ANSWER_BYTES = 64 * 1024 * 1024  # head office sends at most 20 packs a call, each a store's audience
MAX_PACKS_PER_ANSWER = 1000
MAX_SEQ = 2**31 - 1  # store_packs.seq is an INTEGER column


class PackAnswerError(ValueError):
    """Head office's answer to a pack fetch is not the list of packs the API promises."""


@dataclass
class PullReport:
    """What one pull did."""

    fetched: int = 0
    applied: list[int] = field(default_factory=list)  # seqs activated, withdrawn or expired
    refused: list[tuple[int, str]] = field(default_factory=list)
    acked: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        """For the notify endpoint and the CLI."""
        return {"fetched": self.fetched, "applied": self.applied, "refused": [list(r) for r in self.refused],
                "acked": self.acked, "error": self.error}


def last_applied(session: Session) -> int:
    """The sequence number of the newest pack this store accepted (0 before the first)."""
    return session.scalar(select(func.max(StorePack.seq)).where(StorePack.status != "refused")) or 0


def head_office_token(session: Session, cfg: Mapping[str, Any] | None = None) -> str:
    """The token head office gave this store, or ''; LinkTokenError when it cannot be decrypted.

    A token an older ShopGo kept in plain text is returned once more and encrypted in the
    session (the caller commits)."""
    row = session.get(SiteState, TOKEN_KEY)
    if row is None or not row.value:
        return ""
    path = link_secret.key_path(cfg)
    if link_secret.is_sealed(row.value):
        return link_secret.unseal(row.value, path)
    token = row.value
    row.value = link_secret.seal(token, path)
    session.flush()
    log.warning("the head-office token was kept in plain text; it is encrypted now (key %s)", path)
    return token


def set_head_office_token(session: Session, token: str, cfg: Mapping[str, Any] | None = None) -> None:
    """Keep the token `shopgo head-office store-add` printed at head office, encrypted."""
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise LinkTokenError("a head-office token is one word, as `shopgo head-office store-add` printed it")
    sealed = link_secret.seal(token, link_secret.key_path(cfg))
    row = session.get(SiteState, TOKEN_KEY)
    if row is None:
        session.add(SiteState(key=TOKEN_KEY, value=sealed))
    else:
        row.value = sealed


def read_packs_answer(answer: Any, after: int) -> list[tuple[int, str, str]]:
    """(seq, body, signature) of each pack in head office's answer; PackAnswerError naming the
    first thing wrong, before anything is applied."""
    packs = answer.get("packs") if isinstance(answer, dict) else None
    if not isinstance(packs, list):
        raise PackAnswerError("head office's answer holds no list of packs")
    if len(packs) > MAX_PACKS_PER_ANSWER:
        raise PackAnswerError(f"head office's answer holds {len(packs)} packs, more than {MAX_PACKS_PER_ANSWER}")
    out = []
    for i, item in enumerate(packs):
        if not isinstance(item, dict):
            raise PackAnswerError(f"packs[{i}] in head office's answer is not an object")
        seq, body, signature = item.get("seq"), item.get("body"), item.get("signature")
        if isinstance(seq, bool) or not isinstance(seq, int) or not after < seq <= MAX_SEQ:
            raise PackAnswerError(f"packs[{i}].seq in head office's answer must be a pack number after {after}, "
                                  f"not {str(seq)[:40]!r}")
        if not isinstance(body, str) or not isinstance(signature, str):
            raise PackAnswerError(f"packs[{i}] in head office's answer needs a body and a signature as text")
        out.append((seq, body, signature))
    return out


def _refuse(session: Session, seq: int, reason: str, doc: Mapping[str, Any] | None = None) -> StorePack:
    log.warning("campaign pack %s refused: %s", seq, reason)
    camp = (doc or {}).get("campaign") or {}
    row = StorePack(seq=seq, campaign_id=camp.get("id") if isinstance(camp.get("id"), int) else None,
                    campaign_version=camp.get("version") if isinstance(camp.get("version"), int) else None,
                    status="refused", reason=reason, offers_written=0, received_at=utcnow())
    session.add(row)
    session.flush()
    return row


def apply_pack(session: Session, cfg: Mapping[str, Any], body: str, signature: str,
               now: datetime | None = None, listed_seq: int | None = None) -> StorePack:
    """Verify and apply one pack; a refused pack is recorded with its reason and changes nothing else.

    `listed_seq` is the number head office listed the pack under: a refused pack is recorded
    (and acknowledged) under it, as it is one head office issued to this store, whatever the
    pack's own text claims."""
    now = now or utcnow()
    store_id = cfg["site"]["store_id"]

    def refuse(claimed_seq: Any, reason: str, doc: Mapping[str, Any] | None) -> StorePack:
        seq = listed_seq if listed_seq is not None else claimed_seq
        return _refuse(session, seq if isinstance(seq, int) and not isinstance(seq, bool)
                       and 0 <= seq <= MAX_SEQ else 0, reason, doc)

    try:
        doc = verify(load_public_key(cfg["server"]["head_office_public_key"]), body, signature)
    except SignatureError as exc:
        claimed = _unverified(body)  # only to name the refused pack in the log and the acknowledgement
        return refuse(claimed.get("seq"), f"signature: {exc}", claimed)
    seq = doc.get("seq")
    chain = CHAIN_PACKS.get(str(doc.get("action")))  # a pack that names no campaign: (check, apply)
    if doc.get("format") != PACK_FORMAT or not isinstance(seq, int) or not (
            chain[0](doc) if chain else isinstance(doc.get("campaign"), dict)):
        return refuse(seq, f"not a {PACK_FORMAT} pack", doc)
    if doc.get("store_id") != store_id:
        return refuse(seq, f"pack is for store {doc.get('store_id')}, this is {store_id}", doc)
    last = last_applied(session)
    if seq <= last:
        return refuse(seq, f"replayed: pack {seq} is not newer than the last applied ({last})", doc)
    if seq != last + 1:
        return refuse(seq, f"out of order: expected pack {last + 1}, got {seq}", doc)
    if chain:
        reason, written = chain[1](session, cfg, doc, now)
        row = StorePack(seq=seq, campaign_id=None, campaign_version=None, status="applied",
                        reason=reason, offers_written=written, received_at=now)
        session.add(row)
        session.flush()
        log.info("%s pack %s: %s", doc["action"], seq, row.reason)
        return row
    camp = doc["campaign"]
    status, reason, written = _activate(session, doc, now) if doc.get("action") == "activate" else \
        _withdraw(session, camp, now)
    row = StorePack(seq=seq, campaign_id=camp["id"], campaign_version=camp["version"], status=status,
                    reason=reason, offers_written=written, received_at=now)
    session.add(row)
    session.flush()
    log.info("campaign pack %s: campaign %s v%s %s (%s)", seq, camp["id"], camp["version"], status, reason)
    return row


def _roster_ok(doc: Mapping[str, Any]) -> bool:
    members, erase = doc.get("members"), doc.get("erase")
    return isinstance(members, list) and isinstance(erase, list) and all(
        isinstance(m, dict) and type(m.get("member_id")) is int and isinstance(m.get("tier"), str)
        and isinstance(m.get("consent"), bool) for m in members) and all(type(e) is int for e in erase)


def _roster(session: Session, cfg: Mapping[str, Any], doc: Mapping[str, Any], now: datetime) -> tuple[str, int]:
    """The chain's members' changes and erasures, for the members this store holds (no echo to the feed)."""
    from server.store.loyalty import erase_member

    updated = erased = 0
    for m in doc["members"]:
        member = session.get(Member, m["member_id"])
        if member is not None and member.erased_at is None:
            member.consent_personalisation = m["consent"]  # the tier is each store's, from its own spend
            updated += 1
    for member_id in doc["erase"]:
        member = session.get(Member, member_id)
        if member is not None and member.erased_at is None:
            erase_member(session, member_id, "head office", now=now, record=False)
            erased += 1
    session.flush()
    return (f"{updated} of {len(doc['members'])} members updated, {erased} of {len(doc['erase'])} erasures "
            "applied (the rest are not members here)"), 0


OFFER_KEYS = {"member_id": int, "product_id": int, "kind": str, "reward_type": str, "reward_value": int,
              "valid_from": str, "valid_to": str, "score": (int, float)}


def _offers_ok(doc: Mapping[str, Any]) -> bool:
    members, offers, cap = doc.get("members"), doc.get("offers"), doc.get("max_live_offers")
    if not isinstance(members, list) or not isinstance(offers, list) or not isinstance(doc.get("start"), str) \
            or type(cap) is not int or cap < 0 or not all(type(m) is int for m in members):
        return False
    try:
        datetime.fromisoformat(doc["start"])
        for o in offers:
            if not isinstance(o, dict) or set(o) != set(OFFER_KEYS) or not all(
                    isinstance(o[k], t) and not isinstance(o[k], bool) for k, t in OFFER_KEYS.items()):
                return False
            dt_date.fromisoformat(o["valid_from"]), dt_date.fromisoformat(o["valid_to"])
    except ValueError:
        return False
    return True


def _offers(session: Session, cfg: Mapping[str, Any], doc: Mapping[str, Any], now: datetime) -> tuple[str, int]:
    """Head office's personal offers for the members it names: their engine offers from the pack's start on,
    never redeemed, are replaced, under the chain's cap on live offers (the store's own offers build
    stands aside while it is linked)."""
    proposals = [Proposal(o["member_id"], o["product_id"], o["kind"], o["reward_type"], o["reward_value"],
                          dt_date.fromisoformat(o["valid_from"]), dt_date.fromisoformat(o["valid_to"]),
                          float(o["score"])) for o in doc["offers"]]
    members = select(Member.id).where(Member.id.in_(doc["members"] or [-1]))
    written, replaced, skipped = write_offers(session, cfg, proposals, members, datetime.fromisoformat(doc["start"]),
                                              doc["max_live_offers"])
    return (f"{written} personal offers written for {len(doc['members'])} members, {replaced} earlier ones "
            f"replaced, {skipped} skipped (not members here, no consent, unknown product or over the cap)"), written


CHAIN_PACKS = {"roster": (_roster_ok, _roster), "offers": (_offers_ok, _offers)}


def _unverified(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _mirror(session: Session, camp: Mapping[str, Any], status: str) -> Campaign:
    """The store's copy of the campaign row its offers point at (same id as at head office)."""
    row = session.get(Campaign, camp["id"])
    if row is None:
        row = Campaign(id=camp["id"], name=camp["name"], status=status, version=camp["version"],
                       definition=dict(camp))
        session.add(row)
    else:
        row.name, row.status, row.version, row.definition = camp["name"], status, camp["version"], dict(camp)
    session.flush()
    return row


def _end_offers(session: Session, campaign_id: int, now: datetime) -> None:
    session.execute(update(Offer).where(Offer.campaign_id == campaign_id, Offer.valid_to > now)
                    .values(valid_to=now).execution_options(synchronize_session=False))


def _activate(session: Session, doc: Mapping[str, Any], now: datetime) -> tuple[str, str, int]:
    camp = doc["campaign"]
    valid_from, valid_to = datetime.fromisoformat(camp["valid_from"]), datetime.fromisoformat(camp["valid_to"])
    _mirror(session, camp, "published")
    _end_offers(session, camp["id"], now)  # a new version replaces the old one's offers
    store_id = doc["store_id"]
    session.execute(delete(CampaignAudience).where(CampaignAudience.campaign_id == camp["id"]))
    session.add_all([CampaignAudience(campaign_id=camp["id"], store_id=store_id, member_id=m, grp=grp,
                                      version=camp["version"])
                     for grp in ("exposed", "holdout") for m in doc.get(grp, [])])
    if valid_to <= now:
        return "expired", f"window ended {valid_to.isoformat()}; nothing activated", 0
    wanted = [int(m) for m in doc.get("exposed", [])]
    here = set(session.scalars(select(Member.id).where(Member.id.in_(wanted), Member.erased_at.is_(None)))) \
        if wanted else set()
    products = set(session.scalars(select(Product.id).where(Product.id.in_(camp["product_ids"])))) \
        if camp["product_ids"] else set()
    rows = [{"member_id": m, "product_id": p, "kind": "campaign", "reward_type": camp["reward_type"],
             "reward_value": camp["reward_value"], "score": 0.0, "valid_from": valid_from, "valid_to": valid_to,
             "campaign_id": camp["id"], "max_redemptions": camp["max_per_member"], "created_at": now}
            for m in sorted(here) for p in sorted(products)]
    for i in range(0, len(rows), 5000):
        session.execute(insert(Offer), rows[i:i + 5000])
    reason = (f"{len(rows)} offers for {len(here)} members on {len(products)} products, "
              f"{len(doc.get('holdout', []))} held out")
    if len(here) < len(wanted) or len(products) < len(camp["product_ids"]):
        reason += f"; {len(wanted) - len(here)} members and {len(camp['product_ids']) - len(products)} products unknown here"
    return "activated", reason, len(rows)


def _withdraw(session: Session, camp: Mapping[str, Any], now: datetime) -> tuple[str, str, int]:
    _mirror(session, camp, "withdrawn")
    _end_offers(session, camp["id"], now)
    return "withdrawn", "campaign offers ended", 0


def _session(target: Session | Engine) -> tuple[Session, bool]:
    if isinstance(target, Session):
        return target, False
    from db.session import make_session_factory

    return make_session_factory(target)(), True


def pull(target: Session | Engine, cfg: Mapping[str, Any],
         max_answer_bytes: int = MAX_PACKS_ANSWER_BYTES) -> PullReport:
    """Fetch, verify, apply and acknowledge new packs from head office.

    Never raises for what head office or the link did: an unreachable, refusing, malformed or
    oversized answer, or a token that cannot be read, is in the report's `error`."""
    report = PullReport()
    url = str(cfg["server"]["head_office_url"]).rstrip("/")
    if not url:
        report.error = "server.head_office_url is empty; this store takes no campaign packs"
        return report
    session, owned = _session(target)
    try:
        try:
            token = head_office_token(session, cfg)
            session.commit()  # keeps a plain-text token's encryption
        except LinkTokenError as exc:
            session.rollback()
            report.error = str(exc)
            log.warning("pack pull: %s", exc)
            return report
        if not token:
            report.error = "no head-office token; run `shopgo head-office link --token-file PATH` on this store"
            return report
        try:
            after = last_applied(session)
            answer = call("GET", f"{url}/api/v1/head-office/packs?after={after}", token=token,
                          max_bytes=max_answer_bytes)
            for seq, body, signature in read_packs_answer(answer, after):
                report.fetched += 1
                row = apply_pack(session, cfg, body, signature, listed_seq=seq)
                session.commit()
                if row.status == "refused":
                    report.refused.append((row.seq, row.reason))
                    break  # later packs would be out of order until this one is sorted out
                report.applied.append(row.seq)
            report.acked = _send_acks(session, url, token)
        except (LinkError, PackAnswerError) as exc:
            session.rollback()
            report.error = str(exc)
            log.warning("pack pull: %s", exc)
        return report
    finally:
        if owned:
            session.close()


def _send_acks(session: Session, url: str, token: str) -> int:
    """Tell head office what happened to every pack it has not heard about yet; returns how many it took.

    Head office refuses (422) a batch naming a pack it never issued to this store, such as
    one an older ShopGo recorded under the number a tampered pack claimed. Then each ack is
    sent alone, and one head office refuses is logged and not sent again, so it cannot hold
    up the others forever."""
    rows = list(session.scalars(select(StorePack).where(StorePack.acked_at.is_(None)).order_by(StorePack.id)))
    stamp, sent = utcnow(), 0
    for r in rows:
        if r.seq < 1:  # head office numbers packs from 1: there is nobody to tell about pack 0
            r.acked_at = stamp
    rows = [r for r in rows if r.seq >= 1]
    for i in range(0, len(rows), MAX_ACKS):
        chunk = rows[i:i + MAX_ACKS]
        try:
            _post_acks(url, token, chunk)
            sent += len(chunk)
        except LinkError as exc:
            if exc.status != 422:
                raise
            for r in chunk:
                try:
                    _post_acks(url, token, [r])
                    sent += 1
                except LinkError as one:
                    if one.status != 422:
                        raise
                    log.warning("head office refused the acknowledgement of pack %s; not sent again: %s", r.seq, one)
                r.acked_at = stamp
                session.commit()
        for r in chunk:
            r.acked_at = stamp
        session.commit()
    session.commit()
    return sent


def _post_acks(url: str, token: str, rows: list[StorePack]) -> None:
    call("POST", f"{url}/api/v1/head-office/acks", {"acks": [
        {"seq": r.seq, "status": r.status, "reason": r.reason} for r in rows]}, token=token)
