"""A member is the chain's: a card enrolled at another store works here, online and with head office away.

Head office runs on loopback and knows a member of store S002 that this store (S001, its
imported database on SQLite and PostgreSQL) has never seen. The store's real app asks head
office at the trip's start; with head office stopped, the trip starts on the card as a
guest's and the purchase goes to the member once head office answers again, once.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, OutboxFact, PointsEntry, Product, Purchase, PurchaseLine, Trip
from server.auth.accounts import add_device, ensure_store
from server.store import chain_feed
from tests.chain.conftest import Office
from tests.conftest import app_config
from tests.loopback import dispose_when_idle

CARD, MEMBER = "4900000123451", 99_000_001  # enrolled at store S002, known to head office only


@pytest.fixture
def site(store: Session, office: Office, imported_url: str, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, dict[str, str]]]:
    """The store's app linked to head office, a handheld and a till, and the S002 member at head office."""
    from server.app import create_app
    from server.database import engine as app_engine
    from server.head_office.link_secret import KEY_ENV
    from server.store.packs import set_head_office_token

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "link.key"))
    with office.session() as ho:
        ensure_store(ho, "S002", "Store Two")
        ho.add(Member(id=MEMBER, card_number=CARD, store_id="S002", tier="gold", consent_personalisation=True))
        ho.commit()
    set_head_office_token(store, office.token)
    tokens = {"handheld": add_device(store, "S001", "handheld")[1], "till": add_device(store, "S001", "till", "till")[1]}
    store.commit()
    app = create_app(app_config(imported_url, tmp_path, server={"head_office_url": office.server.url},
                                audit={"first_trip": False, "base_probability": 0.0}))
    yield app, tokens
    dispose_when_idle(app_engine(app))


def _shop(app: Flask, tokens: dict[str, str], store: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a trip on CARD, scan two products, finish and check out at the till: (start, receipt)."""
    client, trip = app.test_client(), str(uuid.uuid4())
    handheld = add_device(store, "S001", f"handheld {trip[:8]}")[1]  # a device numbers its events from 1
    store.commit()
    auth = {"Authorization": f"Bearer {handheld}"}
    started = client.post("/api/v1/trips", json={"trip_id": trip, "card_number": CARD}, headers=auth)
    assert started.status_code == 201, started.get_json()
    gtins = list(store.scalars(select(Product.gtin).where(Product.sold_by_weight.is_(False), Product.price_minor > 150)
                               .order_by(Product.id).limit(2)))
    now = utcnow().isoformat()
    events = [{"id": str(uuid.uuid4()), "seq": i + 1, "kind": "scan", "occurred_at": now,
               "payload": {"gtin": g, "barcode": g}} for i, g in enumerate(gtins)]
    assert client.post(f"/api/v1/trips/{trip}/events", json={"events": events}, headers=auth).status_code == 200
    finish = client.post(f"/api/v1/trips/{trip}/finish", json={"event_count": 2}, headers=auth).get_json()
    assert finish["audit"] is False
    receipt = client.post(f"/api/v1/trips/{trip}/checkout", json={},
                          headers={"Authorization": f"Bearer {tokens['till']}"})
    assert receipt.status_code == 200, receipt.get_json()
    return started.get_json(), receipt.get_json()


def test_a_card_enrolled_at_another_store_works_here_and_is_kept(site: tuple[Flask, dict[str, str]], store: Session,
                                                                  office: Office) -> None:
    app, tokens = site
    started, receipt = _shop(app, tokens, store)
    assert started["member"]["id"] == MEMBER and started["card_pending"] is False
    assert receipt["member_id"] == MEMBER and receipt["points_awarded"] > 0
    store.expire_all()
    kept = store.get(Member, MEMBER)
    assert kept is not None and (kept.card_number, kept.store_id, kept.tier) == (CARD, "S002", "gold")
    office.server.stop()  # known here now: the next trip needs no head office
    again, _ = _shop(app, tokens, store)
    assert again["member"]["id"] == MEMBER


def test_with_head_office_away_the_trip_starts_on_the_card_and_the_purchase_is_attributed_once(
        site: tuple[Flask, dict[str, str]], store: Session, office: Office) -> None:
    app, tokens = site
    office.server.stop()
    started, receipt = _shop(app, tokens, store)
    assert started["member"] is None and started["card_pending"] is True and "cannot be checked" in started["notice"]
    assert receipt["member_id"] is None and receipt["points_awarded"] == 0
    fact = store.scalars(select(OutboxFact).where(OutboxFact.kind == "purchase")).all()[-1]
    assert fact.payload["card_number"] == CARD and fact.payload["member_id"] is None
    cfg = app.config["SHOPGO"]
    assert chain_feed.ship_configured(store, cfg).error  # still away: nothing attributed, nothing lost
    assert store.get(Purchase, receipt["purchase_id"]).member_id is None  # type: ignore[union-attr]

    office.server.start()
    for _ in range(2):  # the chain-feed job runs again and again: the purchase is attributed once
        report = chain_feed.ship_configured(store, cfg)
        assert report.error == ""
    store.expire_all()
    purchase = store.get(Purchase, receipt["purchase_id"])
    assert purchase is not None and purchase.member_id == MEMBER and purchase.points_awarded > 0
    assert set(store.scalars(select(PurchaseLine.member_id).where(PurchaseLine.purchase_id == purchase.id))) == {MEMBER}
    entries = store.scalars(select(PointsEntry).where(PointsEntry.member_id == MEMBER)).all()
    assert [e.points for e in entries] == [purchase.points_awarded]
    assert store.get(Member, MEMBER).points == purchase.points_awarded  # type: ignore[union-attr]
    assert store.scalar(select(Trip.pending_card).where(Trip.id == receipt["trip_id"])) is None
    in_lake = office.lake.table().to_pyarrow_table(columns=["purchase_id", "member_id"]).to_pylist()
    assert {r["member_id"] for r in in_lake if r["purchase_id"] == purchase.id} == {MEMBER}  # head office's copy too


def test_a_card_head_office_does_not_know_either_is_unknown(site: tuple[Flask, dict[str, str]], store: Session) -> None:
    app, tokens = site
    answer = app.test_client().post("/api/v1/trips", json={"trip_id": str(uuid.uuid4()), "card_number": "4900000999995"},
                                    headers={"Authorization": f"Bearer {tokens['handheld']}"})
    assert answer.status_code == 404 and "no member holds card" in answer.get_json()["message"]
    assert store.scalar(select(func.count()).select_from(Member).where(Member.card_number == "4900000999995")) == 0


@pytest.mark.parametrize("card, status", [(CARD, 200), ("4900000999995", 404), ("49x", 400), ("1" * 15, 400)])
def test_head_office_answers_a_card_to_a_linked_store_only(office: Office, card: str, status: int) -> None:
    import json
    import urllib.error
    import urllib.request

    with office.session() as ho:
        ensure_store(ho, "S002", "Store Two")
        ho.add(Member(id=MEMBER, card_number=CARD, store_id="S002", tier="gold", consent_personalisation=True))
        ho.commit()

    def get(token: str | None) -> tuple[int, Any]:
        req = urllib.request.Request(f"{office.server.url}/api/v1/head-office/cards/{card}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert get(None)[0] == 401
    got, body = get(office.token)
    assert got == status
    if status == 200:
        assert body["member"] == {"member_id": MEMBER, "card_number": CARD, "store_id": "S002", "tier": "gold",
                                  "consent": True, "joined_at": body["member"]["joined_at"], "erased": False}
