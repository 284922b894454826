"""Store side of the results feed: redemptions and campaign-product spend, sent upstream once.

Each batch gets a UUID and is written to `site_state` ("head_office_results_pending")
before it is sent, so after a timeout the very same batch (same id, same rows) is sent
again and head office counts it once. Only when head office confirms does the store move
its watermarks (the time up to which purchases were sent, the newest redemption id) forward;
a redemption-full batch leaves more for the next round.
Rows: one "purchase" per purchase of an exposed or hold-out member inside a campaign's
window with its net spend on the campaign's products (zero-spend purchases are left out:
head office counts every audience member, buyers or not), and one "redemption" per
campaign offer redeemed. The batch also carries the store's member roster changes
(tier, consent, erasure) so head office targets on current facts.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Campaign, CampaignAudience, Offer, OfferRedemption, Purchase, PurchaseLine, SiteState
from server.head_office.wire import call

PENDING_KEY = "head_office_results_pending"
MARK_PURCHASE, MARK_REDEMPTION = "head_office_results_purchases_until", "head_office_results_redemption_id"
BATCH_REDEMPTIONS = 5000
OVERLAP = timedelta(minutes=10)


def _state(session: Session, key: str, default: str = "") -> str:
    row = session.get(SiteState, key)
    return row.value if row else default


def _set_state(session: Session, key: str, value: str | None) -> None:
    row = session.get(SiteState, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(SiteState(key=key, value=value))
    else:
        row.value = value


def build_batch(session: Session, store_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The next batch of results after the watermarks, or None when there is nothing new."""
    now = now or utcnow()
    mark_p, after_r = _state(session, MARK_PURCHASE), int(_state(session, MARK_REDEMPTION, "0"))
    # Purchase ids are not a safe watermark (imported history keeps its own ids), so purchases
    # are picked by time, with an overlap that head office's (store, kind, ref) key absorbs.
    since = datetime.fromisoformat(mark_p) - OVERLAP if mark_p else None
    campaigns = list(session.scalars(select(Campaign).where(
        Campaign.id.in_(select(CampaignAudience.campaign_id).where(CampaignAudience.store_id == store_id)))))
    rows: list[dict[str, Any]] = []
    for camp in campaigns:
        d = camp.definition
        products = d.get("product_ids") or []
        start, end = datetime.fromisoformat(d["valid_from"]), datetime.fromisoformat(d["valid_to"])
        if not products or (since is not None and end < since):
            continue
        members = select(CampaignAudience.member_id).where(CampaignAudience.campaign_id == camp.id)
        query = (select(Purchase.id, Purchase.member_id, Purchase.purchased_at, func.sum(PurchaseLine.sales_minor))
                 .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
                 .where(Purchase.member_id.in_(members), Purchase.purchased_at >= start, Purchase.purchased_at < end,
                        Purchase.purchased_at <= now, PurchaseLine.product_id.in_(products))
                 .group_by(Purchase.id, Purchase.member_id, Purchase.purchased_at))
        if since is not None:
            query = query.where(Purchase.purchased_at > since)
        # Head office refuses negative amounts: a purchase whose net spend on the products is
        # not positive (returns outweigh sales) counts as zero, which head office assumes anyway.
        rows += [{"campaign_id": camp.id, "member_id": m, "kind": "purchase", "ref": str(pid), "spend_minor": int(s),
                  "at": at.isoformat()} for pid, m, at, s in session.execute(query).all() if s and s > 0]
    reds = session.execute(select(OfferRedemption, Offer.campaign_id).join(Offer, Offer.id == OfferRedemption.offer_id)
                           .where(OfferRedemption.id > after_r, Offer.campaign_id.is_not(None))
                           .order_by(OfferRedemption.id).limit(BATCH_REDEMPTIONS)).all()
    rows += [{"campaign_id": cid, "member_id": r.member_id, "kind": "redemption", "ref": str(r.id),
              "discount_minor": max(r.discount_minor, 0), "points": max(r.points, 0), "at": r.redeemed_at.isoformat()}
             for r, cid in reds]
    if not rows:
        _set_state(session, MARK_PURCHASE, now.isoformat())
        return None
    return {"batch_id": str(uuid.uuid4()), "store_id": store_id, "rows": rows,
            "marks": {"purchase": now.isoformat(), "redemption": max([after_r] + [r.id for r, _ in reds])},
            "more": len(reds) == BATCH_REDEMPTIONS}


def push_results(session: Session, cfg: Mapping[str, Any], url: str, token: str) -> int:
    """Send the pending batch, then new ones while redemptions fill them; returns rows sent."""
    sent = 0
    for _ in range(100):  # bounded: at most this many batches per run
        pending = _state(session, PENDING_KEY)
        batch = json.loads(pending) if pending else build_batch(session, cfg["site"]["store_id"])
        if batch is None:
            session.commit()
            break
        if not pending:
            _set_state(session, PENDING_KEY, json.dumps(batch))
            session.commit()  # kept before sending, so a retry resends the same batch id
        call("POST", f"{url}/api/v1/head-office/results", {"batch_id": batch["batch_id"], "rows": batch["rows"]},
             token=token, timeout=60)
        _set_state(session, MARK_PURCHASE, str(batch["marks"]["purchase"]))
        _set_state(session, MARK_REDEMPTION, str(batch["marks"]["redemption"]))
        _set_state(session, PENDING_KEY, None)
        session.commit()
        sent += len(batch["rows"])
        if not pending and not batch.get("more"):
            break
    return sent
