"""Helpers for head-office tests: a small chain (stores, products, members, history) and keys."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from db.models import Member, Product, Purchase, PurchaseLine, Store
from server.head_office.signing import public_key_b64

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
PRODUCTS = (9001, 9002, 9003)


def seed_chain(session: Session, stores: dict[str, list[int]], consent: set[int] | None = None,
               tiers: dict[int, str] | None = None) -> None:
    """Stores with members (ids), three products, and nothing else."""
    for store_id, members in stores.items():
        session.add(Store(id=store_id, name=f"Store {store_id}"))
    session.flush()
    for pid in PRODUCTS:
        session.add(Product(id=pid, gtin=f"20000000{pid:05d}", name=f"Product {pid}", category="Test",
                            price_minor=250, active=True))
    for store_id, members in stores.items():
        for m in members:
            session.add(Member(id=m, card_number=f"98{m:012d}", store_id=store_id,
                               consent_personalisation=consent is None or m in consent,
                               tier=(tiers or {}).get(m, "bronze")))
    session.flush()


def add_purchase(session: Session, store_id: str, member_id: int, at: datetime,
                 lines: list[tuple[int, int]]) -> Purchase:
    """A purchase with (product id, net sales minor) lines."""
    purchase = Purchase(store_id=store_id, member_id=member_id, purchased_at=at,
                        total_minor=sum(s for _, s in lines), source="selfscan")
    session.add(purchase)
    session.flush()
    for pid, sales in lines:
        session.add(PurchaseLine(purchase_id=purchase.id, member_id=member_id, product_id=pid, quantity=1,
                                 sales_minor=sales, purchased_at=at))
    session.flush()
    return purchase


def purchase_fact(purchase_id: int, member_id: int | None, at: datetime, lines: list[tuple[int, int]],
                  redemptions: list[dict[str, int]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A purchase as a store's outbox carries it: (product id, net sales minor) lines of one item each."""
    return {"kind": "purchase", "at": at.isoformat(), "data": {
        "purchase_id": purchase_id, "member_id": member_id, "purchased_at": at.isoformat(),
        "total_minor": sum(s for _, s in lines), "discount_minor": 0, "points_awarded": 0, "source": "selfscan",
        "lines": [[p, 1, None, s, 0] for p, s in lines], "redemptions": list(redemptions)}}


def sell(session: Session, store: str, member: int | None, at: datetime, lines: list[tuple[int, int]]) -> Purchase:
    """A purchase as checkout records it: its lines, and its fact in the outbox in the same transaction
    ((product id, net sales minor) lines of one item each; the caller commits)."""
    from db.partitions import ensure_month_partitions
    from server.store import outbox

    if session.get_bind().dialect.name == "postgresql":
        ensure_month_partitions(session.connection(), at, at)
    purchase = Purchase(store_id=store, member_id=member, purchased_at=at, total_minor=sum(s for _, s in lines))
    session.add(purchase)
    session.flush()
    rows = [{"purchase_id": purchase.id, "member_id": member, "product_id": p, "quantity": 1, "weight_g": None,
             "sales_minor": s, "discount_minor": 0, "purchased_at": at} for p, s in lines]
    session.add_all([PurchaseLine(**row) for row in rows])
    outbox.record_purchase(session, purchase, rows)
    return purchase


def feed_batch(seq: int, facts: list[dict[str, Any]], at: datetime = NOW) -> dict[str, Any]:
    """A feed batch as a store ships it (its wire format), with an empty backlog behind it."""
    from server.store.chain_feed import wire_batch

    return wire_batch(seq, [(f["kind"], f["data"]) for f in facts],
                      {"facts": 0, "lines": 0, "caught_up_at": at.isoformat()})


def definition(**changes: Any) -> dict[str, Any]:
    """A valid campaign definition, with changes."""
    base: dict[str, Any] = {
        "name": "Autumn coffee", "product_ids": [9001, 9002], "reward": {"type": "percent", "value": 20},
        "valid_from": (NOW - timedelta(days=1)).isoformat(), "valid_to": (NOW + timedelta(days=30)).isoformat(),
        "stores": ["S001"], "target": {}, "max_per_member": 2, "budget": {"kind": "redemptions", "amount": 0},
        "holdout_share": 0.0}
    base.update(changes)
    return base


@pytest.fixture(autouse=True)
def link_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The key that encrypts a store's head-office token, in the test's folder (never the repo's var/)."""
    from server.head_office.link_secret import KEY_ENV

    path = tmp_path / "head_office_token.key"
    monkeypatch.setenv(KEY_ENV, str(path))
    return path


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store_cfg(key: Ed25519PrivateKey) -> Iterator[dict[str, Any]]:
    yield {"site": {"store_id": "S001", "role": "store"},
           "server": {"head_office_public_key": public_key_b64(key), "head_office_url": ""}}


def other_key_b64() -> str:
    return public_key_b64(Ed25519PrivateKey.generate())


def raw_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def lake_rows(session: Session) -> Any:
    """Every purchase line of the session's database as rows of head office's lake (pyarrow)."""
    import pyarrow as pa
    from sqlalchemy import select

    from server.head_office.lake import SCHEMA

    rows = session.execute(select(Purchase.store_id, PurchaseLine.purchase_id, PurchaseLine.member_id,
                                  PurchaseLine.product_id, PurchaseLine.quantity, PurchaseLine.weight_g,
                                  PurchaseLine.sales_minor, PurchaseLine.discount_minor, PurchaseLine.purchased_at)
                           .join(Purchase, Purchase.id == PurchaseLine.purchase_id)).all()
    columns = list(zip(*rows))
    at = [t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in columns[8]]
    table = pa.table({**{name: list(values) for name, values in zip(SCHEMA.names[:8], columns[:8])},
                      "purchased_at": at, "month": [t.strftime("%Y-%m") for t in at]}).cast(SCHEMA)
    return table


def lake_from_sql(session: Session, path: Path) -> str:
    """Head office's lake holding every purchase line of the session's database, as the stores' feed
    would have brought them (one commit)."""
    from deltalake import write_deltalake

    write_deltalake(str(path), lake_rows(session), mode="append", partition_by=["month"])
    return str(path)


def chain_history(session: Session) -> Any:
    """The same lines in the offers engine's columns, as the chain run reads them from the lake."""
    from server.offers.chain import engine_lines

    return engine_lines(lake_rows(session).to_pandas(), 2)


def offers_run(session: Session, tmp_path: Path, key: Ed25519PrivateKey, as_of: datetime,
               elsewhere: Any = None) -> Any:
    """Head office's offers run (server/head_office/scoring.py) over the session's history (and the
    lake rows `elsewhere`, other stores' lines), on a one-worker LocalCluster, as `shopgo offers-build`
    does it at head office (the caller commits)."""
    from deltalake import write_deltalake

    from server import config as config_mod
    from server.head_office.scoring import run_configured

    lake = lake_from_sql(session, tmp_path / "lake")
    if elsewhere is not None:
        write_deltalake(lake, elsewhere, mode="append", partition_by=["month"])
    cfg = config_mod.load(overrides={"site": {"role": "head_office"},
                                     "chain": {"lake": lake, "workers": 1, "worker_memory": "1GB"}})
    return run_configured(session, cfg, key, as_of)


@pytest.fixture
def chain(imported_url: str) -> Iterator[Session]:
    """The imported slice as head office's database (and, as in the demo, the store's copy of it), S001 linked."""
    from db.session import make_engine, make_session_factory
    from server.head_office.compiler import add_store

    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        add_store(sess, "S001", "Test Store")
        sess.commit()
        yield sess
    eng.dispose()
