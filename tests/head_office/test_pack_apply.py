"""Store side of packs: in-order activation, refusal of tampered, foreign, replayed and skipped packs."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignAudience, Offer, StorePack
from server.head_office.compiler import pack_document
from server.head_office.definition import parse_definition
from server.head_office.signing import canonical, sign
from server.store.packs import apply_pack, last_applied
from server.store.trips import member_offers
from tests.head_office.conftest import NOW, definition, seed_chain


def make_pack(key: Ed25519PrivateKey, seq: int, action: str = "activate", exposed: tuple[int, ...] = (1, 2),
              holdout: tuple[int, ...] = (3,), store: str = "S001", campaign_id: int = 7, version: int = 1,
              **changes: Any) -> tuple[str, str]:
    d = parse_definition(definition(**changes))
    body = canonical(pack_document(store, seq, campaign_id, version, action, d, d["product_ids"], exposed, holdout,
                                   NOW))
    return body, sign(key, body)


@pytest.fixture
def store(db_session: Session) -> Session:
    seed_chain(db_session, {"S001": [1, 2, 3, 4]})
    db_session.commit()
    return db_session


def offers_of(session: Session, member: int) -> list[int]:
    return sorted(o.product_id for o, _ in member_offers(session, member, NOW))


def test_activated_pack_gives_exposed_members_offers_and_records_holdout(store: Session, key, store_cfg) -> None:
    row = apply_pack(store, store_cfg, *make_pack(key, 1), now=NOW)
    assert (row.status, row.offers_written) == ("activated", 4)
    assert offers_of(store, 1) == offers_of(store, 2) == [9001, 9002]
    assert offers_of(store, 3) == offers_of(store, 4) == []
    groups = dict(store.execute(select(CampaignAudience.member_id, CampaignAudience.grp)).all())
    assert groups == {1: "exposed", 2: "exposed", 3: "holdout"}
    offer = store.scalars(select(Offer).where(Offer.member_id == 1)).first()
    assert (offer.kind, offer.reward_type, offer.reward_value, offer.campaign_id, offer.max_redemptions) == (
        "campaign", "percent", 20, 7, 2)
    assert store.get(Campaign, 7).status == "published"


def test_offers_wait_for_the_campaign_window(store: Session, key, store_cfg) -> None:
    apply_pack(store, store_cfg, *make_pack(key, 1, valid_from=(NOW + timedelta(days=2)).isoformat()), now=NOW)
    assert offers_of(store, 1) == []
    assert sorted(o.product_id for o, _ in member_offers(store, 1, NOW + timedelta(days=3))) == [9001, 9002]


def test_pack_whose_window_ended_activates_nothing(store: Session, key, store_cfg) -> None:
    body, sig = make_pack(key, 1, valid_from=(NOW - timedelta(days=9)).isoformat(),
                          valid_to=(NOW - timedelta(days=1)).isoformat())
    row = apply_pack(store, store_cfg, body, sig, now=NOW)
    assert row.status == "expired" and store.scalars(select(Offer)).all() == []


def test_withdrawal_ends_the_campaign_offers(store: Session, key, store_cfg) -> None:
    apply_pack(store, store_cfg, *make_pack(key, 1), now=NOW)
    row = apply_pack(store, store_cfg, *make_pack(key, 2, action="withdraw", exposed=(), holdout=(), version=2),
                     now=NOW + timedelta(hours=1))
    assert row.status == "withdrawn"
    assert sorted(o.product_id for o, _ in member_offers(store, 1, NOW + timedelta(hours=2))) == []
    assert store.get(Campaign, 7).status == "withdrawn"


def test_new_version_replaces_the_audience(store: Session, key, store_cfg) -> None:
    apply_pack(store, store_cfg, *make_pack(key, 1, exposed=(1,)), now=NOW)
    apply_pack(store, store_cfg, *make_pack(key, 2, exposed=(2,), version=2), now=NOW + timedelta(minutes=1))
    later = NOW + timedelta(minutes=2)
    assert [o.product_id for o, _ in member_offers(store, 1, later)] == []
    assert sorted(o.product_id for o, _ in member_offers(store, 2, later)) == [9001, 9002]


def _tampered(key: Ed25519PrivateKey) -> tuple[str, str]:
    body, sig = make_pack(key, 1)
    return body.replace('"exposed":[1,2]', '"exposed":[1,2,4]'), sig


@pytest.mark.parametrize("make, reason", [
    (_tampered, "signature"),
    (lambda k: make_pack(Ed25519PrivateKey.generate(), 1), "signature: the signature does not match"),
    (lambda k: make_pack(k, 1, store="S002"), "pack is for store S002"),
    (lambda k: make_pack(k, 2), "out of order: expected pack 1, got 2"),
    (lambda k: make_pack(k, 0), "replayed"),
])
def test_bad_pack_is_refused_with_reason_and_changes_nothing(store: Session, key, store_cfg, make, reason) -> None:  # type: ignore[no-untyped-def]
    row = apply_pack(store, store_cfg, *make(key), now=NOW)
    assert row.status == "refused" and reason in row.reason
    assert store.scalars(select(Offer)).all() == [] and store.get(Campaign, 7) is None
    assert last_applied(store) == 0


def test_replayed_pack_is_refused_after_it_was_applied(store: Session, key, store_cfg) -> None:
    first = make_pack(key, 1)
    apply_pack(store, store_cfg, *first, now=NOW)
    apply_pack(store, store_cfg, *make_pack(key, 2, action="withdraw", exposed=(), holdout=(), version=2), now=NOW)
    again = apply_pack(store, store_cfg, *first, now=NOW + timedelta(minutes=5))
    assert again.status == "refused" and "replayed: pack 1 is not newer than the last applied (2)" in again.reason
    assert offers_of(store, 1) == []  # the withdrawal still holds
    assert [r.status for r in store.scalars(select(StorePack).order_by(StorePack.id))] == [
        "activated", "withdrawn", "refused"]


def test_refused_pack_is_logged_under_the_sequence_it_claims(store: Session, key, store_cfg, caplog) -> None:  # type: ignore[no-untyped-def]
    row = apply_pack(store, store_cfg, *_tampered(key), now=NOW)
    assert "campaign pack 1 refused: signature" in caplog.text
    assert (row.seq, row.campaign_id) == (1, 7)
