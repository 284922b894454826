"""Store side of the results feed: redemptions and campaign-product spend, sent upstream once.

Each batch gets a UUID and is written to `site_state` ("head_office_results_pending")
before it is sent, so after a timeout the very same batch (same id, same rows) is sent
again and head office counts it once. Only when head office confirms does the store move
its watermarks (the newest purchase id and redemption id sent) forward.
Rows: one "purchase" per purchase of an exposed or hold-out member inside a campaign's
window with its net spend on the campaign's products (zero-spend purchases are left out:
head office counts every audience member, buyers or not), and one "redemption" per
campaign offer redeemed. The batch also carries the store's member roster changes
(tier, consent, erasure) so head office targets on current facts.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignAudience, Offer, OfferRedemption, Purchase, PurchaseLine, SiteState
from server.head_office.wire import call

PENDING_KEY = "head_office_results_pending"
MARK_PURCHASE, MARK_REDEMPTION = "head_office_results_purchase_id", "head_office_results_redemption_id"
BATCH_PURCHASES = 2000


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


def build_batch(session: Session, store_id: str) -> dict[str, Any] | None:
    """The next batch of results after the watermarks, or None when there is nothing new."""
    after_p, after_r = int(_state(session, MARK_PURCHASE, "0")), int(_state(session, MARK_REDEMPTION, "0"))
    campaigns = list(session.scalars(select(Campaign).where(
        Campaign.id.in_(select(CampaignAudience.campaign_id).where(CampaignAudience.store_id == store_id)))))
    top_p = session.scalar(select(func.max(Purchase.id))) or 0
    purchase_ids = list(session.scalars(select(Purchase.id).where(Purchase.id > after_p, Purchase.member_id.is_not(None))
                                        .order_by(Purchase.id).limit(BATCH_PURCHASES)))
    high_p = purchase_ids[-1] if len(purchase_ids) == BATCH_PURCHASES else max(top_p, after_p)
    rows: list[dict[str, Any]] = []
    for camp in campaigns:
        d = camp.definition
        products = d.get("product_ids") or []
        start, end = datetime.fromisoformat(d["valid_from"]), datetime.fromisoformat(d["valid_to"])
        members = select(CampaignAudience.member_id).where(CampaignAudience.campaign_id == camp.id)
        if not products:
            continue
        spend = session.execute(
            select(Purchase.id, Purchase.member_id, Purchase.purchased_at, func.sum(PurchaseLine.sales_minor))
            .join(PurchaseLine, PurchaseLine.purchase_id == Purchase.id)
            .where(Purchase.id > after_p, Purchase.id <= high_p, Purchase.member_id.in_(members),
                   Purchase.purchased_at >= start, Purchase.purchased_at < end,
                   PurchaseLine.product_id.in_(products))
            .group_by(Purchase.id, Purchase.member_id, Purchase.purchased_at))
        rows += [{"campaign_id": camp.id, "member_id": m, "kind": "purchase", "ref": str(pid), "spend_minor": int(s),
                  "at": at.isoformat()} for pid, m, at, s in spend]
    reds = session.execute(select(OfferRedemption, Offer.campaign_id).join(Offer, Offer.id == OfferRedemption.offer_id)
                           .where(OfferRedemption.id > after_r, Offer.campaign_id.is_not(None))
                           .order_by(OfferRedemption.id)).all()
    rows += [{"campaign_id": cid, "member_id": r.member_id, "kind": "redemption", "ref": str(r.id),
              "discount_minor": r.discount_minor, "points": r.points, "at": r.redeemed_at.isoformat()}
             for r, cid in reds]
    high_r = max([after_r] + [r.id for r, _ in reds])
    if not rows and high_p == after_p and high_r == after_r:
        return None
    return {"batch_id": str(uuid.uuid4()), "store_id": store_id, "rows": rows,
            "marks": {"purchase": high_p, "redemption": high_r}}


def push_results(session: Session, cfg: Mapping[str, Any], url: str, token: str) -> int:
    """Send pending and new result batches until there is nothing left; returns rows sent."""
    sent = 0
    for _ in range(100):  # bounded: at most this many batches per run
        pending = _state(session, PENDING_KEY)
        batch = json.loads(pending) if pending else build_batch(session, cfg["site"]["store_id"])
        if batch is None:
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
    return sent

