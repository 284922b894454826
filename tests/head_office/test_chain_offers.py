"""Head office's offers run over the chain's lake: each store's members' personal offers arrive in its
signed offers pack and replace what the store had; a linked store builds none of its own; the Complete
Journey's campaigns come in as past campaigns whose redemptions targeting learns from."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Campaign, CampaignResult, Member, Offer, Pack, StorePack
from server import config as config_mod
from server.head_office.compiler import add_store, compile_offers
from server.head_office.scoring import past_redemptions
from server.head_office.signing import load_public_key, public_key_b64, verify
from server.offers.offers import build_offers
from server.store.packs import apply_pack
from server.store.personal_offers import ENGINE_KINDS
from tests.head_office.conftest import chain_history, offers_run

AS_OF = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)


def store_cfg(key: Ed25519PrivateKey, **server: Any) -> dict[str, Any]:
    return config_mod.load(overrides={"site": {"store_id": "S001"},
                                      "server": {"head_office_public_key": public_key_b64(key), **server}})


def consenting(session: Session) -> set[int]:
    return set(session.scalars(select(Member.id).where(Member.consent_personalisation.is_(True),
                                                       Member.erased_at.is_(None))))


def test_each_store_gets_its_members_offers_in_a_signed_pack_and_applies_them(chain: Session, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    report = offers_run(chain, tmp_path, key, AS_OF)
    chain.commit()
    pack = chain.scalar(select(Pack).where(Pack.action == "offers"))
    assert report.packs == {"S001": pack.seq}
    doc = verify(load_public_key(public_key_b64(key)), pack.body, pack.signature)
    members = sorted(chain.scalars(select(Member.id).where(Member.store_id == "S001", Member.erased_at.is_(None))))
    assert doc["members"] == members
    # the very offers the engine makes in one process over the same history
    everyone = pd.DataFrame({"household_id": members, "consent": [m in consenting(chain) for m in members],
                             "live_offers": 0})
    expected = {(o.household_id, o.product_id, o.kind) for o in build_offers(chain_history(chain), everyone,
                                                                          pd.Timestamp(AS_OF))}
    assert {(o["member_id"], o["product_id"], o["kind"]) for o in doc["offers"]} == expected
    assert {o["member_id"] for o in doc["offers"]} <= consenting(chain) and len(expected) > 20
    # the store: an engine offer it had made for later is replaced by head office's
    member = doc["offers"][0]["member_id"]
    later = Offer(member_id=member, product_id=doc["offers"][0]["product_id"], kind="discover", reward_type="percent",
                  reward_value=5, score=0.1, valid_from=AS_OF + timedelta(days=1), valid_to=AS_OF + timedelta(days=9),
                  max_redemptions=1)
    chain.add(later)
    chain.commit()
    chain.expunge(later)
    row = apply_pack(chain, store_cfg(key), pack.body, pack.signature, now=AS_OF)
    assert (row.status, row.offers_written) == ("applied", len(doc["offers"])), row.reason
    assert chain.scalar(select(func.count()).select_from(Offer).where(Offer.reward_value == 5)) == 0
    mine = chain.execute(select(Offer.member_id, Offer.product_id, Offer.kind)
                         .where(Offer.kind.in_(ENGINE_KINDS), Offer.campaign_id.is_(None))).all()
    assert {tuple(r) for r in mine} == expected


def test_a_member_who_shops_at_another_store_finds_the_same_offers_there(chain: Session, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from tests.head_office.conftest import lake_rows

    add_store(chain, "S002", "Other Store")
    key = Ed25519PrivateKey.generate()
    rows = lake_rows(chain)
    traveller = sorted(consenting(chain))[0]
    # one of the traveller's baskets, bought again at S002 (its own purchase id there)
    theirs = rows.filter(pc.equal(rows["member_id"], traveller))
    basket = theirs.filter(pc.equal(theirs["purchase_id"], theirs["purchase_id"][0]))
    elsewhere = basket.set_column(0, "store_id", pa.array(["S002"] * basket.num_rows)) \
        .set_column(1, "purchase_id", pa.array([10**12] * basket.num_rows, pa.int64()))
    report = offers_run(chain, tmp_path, key, AS_OF, elsewhere=elsewhere)
    chain.commit()
    docs = {p.store_id: verify(load_public_key(public_key_b64(key)), p.body, p.signature)
            for p in chain.scalars(select(Pack).where(Pack.action == "offers"))}
    assert set(report.packs) == {"S001", "S002"} and docs["S002"]["members"] == [traveller]
    mine = sorted((o["product_id"], o["kind"]) for o in docs["S001"]["offers"] if o["member_id"] == traveller)
    assert mine and sorted((o["product_id"], o["kind"]) for o in docs["S002"]["offers"]) == mine


def test_a_store_linked_to_head_office_builds_no_offers_of_its_own(chain: Session) -> None:
    from server.scheduler import Jobs

    before = chain.scalar(select(func.count()).select_from(Offer))
    cfg = store_cfg(Ed25519PrivateKey.generate(), head_office_url="http://127.0.0.1:9")
    cfg["database"]["url"] = str(chain.get_bind().url.render_as_string(hide_password=False))
    jobs = Jobs(cfg)
    try:
        assert "linked to head office" in jobs.offers_build()
    finally:
        jobs.close()
    assert chain.scalar(select(func.count()).select_from(Offer)) == before


@pytest.mark.parametrize("bad", [
    {"offers": [{"member_id": 1}]},
    {"offers": [{"member_id": 1, "product_id": 2, "kind": "discover", "reward_type": "percent", "reward_value": 10,
                 "valid_from": "tomorrow", "valid_to": "2030-01-01", "score": 0.5}]},
    {"members": ["1"]},
    {"max_live_offers": -1},
    {"start": "soon"},
])
def test_a_malformed_offers_pack_is_refused_and_changes_nothing(chain: Session, bad: dict[str, Any]) -> None:
    key = Ed25519PrivateKey.generate()
    pack = compile_offers(chain, key, "S001", [1], [], AS_OF, AS_OF + timedelta(days=1), 5)
    doc = verify(load_public_key(public_key_b64(key)), pack.body, pack.signature)
    from server.head_office.signing import canonical, sign

    body = canonical({**doc, **bad})
    before = chain.scalar(select(func.count()).select_from(Offer))
    row = apply_pack(chain, store_cfg(key), body, sign(key, body), now=AS_OF)
    assert row.status == "refused" and "not a shopgo-pack/1 pack" in row.reason
    assert chain.scalar(select(func.count()).select_from(Offer)) == before
    assert chain.scalar(select(func.count()).select_from(StorePack).where(StorePack.status == "applied")) == 0


def test_complete_journey_campaigns_come_in_as_past_campaigns_with_their_redemptions(chain: Session) -> None:
    from server.head_office.results import campaign_report
    from server.importer.campaigns import import_campaigns

    added, redeemed = import_campaigns(chain.get_bind())
    assert added == 27 and redeemed > 0
    assert import_campaigns(chain.get_bind()) == (0, 0)  # a second run adds nothing
    chain.expire_all()
    results = chain.scalars(select(CampaignResult).where(CampaignResult.kind == "redemption")).all()
    assert len(results) == redeemed and {r.member_id for r in results} <= set(chain.scalars(select(Member.id)))
    busiest = max({r.campaign_id for r in results}, key=lambda c: sum(r.campaign_id == c for r in results))
    report = campaign_report(chain, busiest)
    assert report["overall"]["redemptions"] == sum(r.campaign_id == busiest for r in results)
    assert chain.get(Campaign, busiest).name.startswith("Complete Journey campaign")
    # targeting reads them, but only those before its as-of time
    middle = sorted(r.at for r in results)[len(results) // 2]
    past = past_redemptions(chain, middle)
    assert 0 < len(past) < len(results) and (past["redeemed_at"] < pd.Timestamp(middle)).all()
