"""Tiny hand-built stores, members and histories for the loyalty, retention and scheduler tests."""
from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from db import localpg
from db.models import Member, Product, Purchase, PurchaseLine, Store
from db.partitions import ensure_month_partitions
from db.session import make_engine, make_session_factory

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]

NOW = datetime(2027, 3, 15, 12, 0, tzinfo=timezone.utc)
PRODUCTS = {1: "Milk 1l", 2: "Bread", 3: "Eggs x6", 4: "Coffee", 5: "Apples"}


@dataclass
class Shop:
    """A store with products, members and a way to add purchases."""

    engine: Engine
    session: Session
    next_purchase: int = 1

    def member(self, member_id: int, consent: bool = True, name: str | None = None, store: str = "S001") -> Member:
        m = Member(id=member_id, card_number=f"{2900000000000 + member_id:013d}", store_id=store,
                   name=name or f"Member {member_id}", email=f"m{member_id}@example.org",
                   consent_personalisation=consent, joined_at=NOW - timedelta(days=900))
        self.session.add(m)
        self.session.flush()
        return m

    def purchase(self, member_id: int | None, at: datetime, lines: Sequence[tuple[int, int]],
                 store: str = "S001") -> Purchase:
        """A basket of (product_id, sales_minor) lines bought at `at`."""
        p = Purchase(id=self.next_purchase, store_id=store, member_id=member_id, purchased_at=at,
                     total_minor=sum(s for _, s in lines), source="import")
        self.next_purchase += 1
        self.session.add(p)
        for product_id, sales in lines:
            self.session.add(PurchaseLine(purchase_id=p.id, member_id=member_id, product_id=product_id, quantity=1,
                                          sales_minor=sales, purchased_at=at))
        self.session.flush()
        return p


def clone_template(kind: str, templates: dict[str, str], folder: Path) -> str:
    """A fresh copy of the migrated empty template of `kind`."""
    template = templates[f"{kind}-empty"]
    if kind == "sqlite":
        target = folder / f"ops-{uuid.uuid4().hex[:8]}.db"
        shutil.copy(template[len("sqlite:///"):], target)
        return f"sqlite:///{target}"
    url = localpg.create_database("shopgo_ops")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
    return url


def seed(engine: Engine, partitions: bool = False) -> None:
    """Stores S001 and S002 and five products; optionally monthly partitions around NOW."""
    with engine.begin() as conn:
        if partitions:  # months around the two-year cutoff and around now; older rows go to the default
            ensure_month_partitions(conn, NOW - timedelta(days=940), NOW - timedelta(days=690))
            ensure_month_partitions(conn, NOW - timedelta(days=31), NOW + timedelta(days=31))
    with make_session_factory(engine)() as sess:
        sess.add_all([Store(id="S001", name="Test Store"), Store(id="S002", name="Other Store")])
        sess.flush()
        for pid, name in PRODUCTS.items():
            sess.add(Product(id=pid, gtin=f"{2000000000000 + pid:013d}", name=name, price_minor=100 * pid))
        sess.commit()


def _savepoint_sqlite(engine: Engine) -> None:
    """pysqlite begins transactions lazily, which breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _no_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


@pytest.fixture(scope="module", params=BACKENDS)
def shared_engine(request: pytest.FixtureRequest, templates: dict[str, str],
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One seeded database of each kind per test module; tests run in transactions rolled back after."""
    url = clone_template(request.param, templates, tmp_path_factory.mktemp("ops"))
    eng = make_engine(url)
    seed(eng)
    _savepoint_sqlite(eng)
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        localpg.drop_database(url)


@pytest.fixture
def shop(shared_engine: Engine) -> Iterator[Shop]:
    """Store S001 with five products; whatever a test commits is rolled back when it ends."""
    with shared_engine.connect() as conn:
        outer = conn.begin()
        sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield Shop(engine=shared_engine, session=sess)
        finally:
            sess.close()
            outer.rollback()


@pytest.fixture
def plain_shop(engine: Engine) -> Iterator[Shop]:
    """A database of its own without monthly partitions (old rows go to PostgreSQL's default one)."""
    seed(engine)
    with make_session_factory(engine)() as sess:
        yield Shop(engine=engine, session=sess)


@pytest.fixture
def own_shop(engine: Engine) -> Iterator[Shop]:
    """A database of its own with monthly partitions, for jobs that commit in many transactions."""
    seed(engine, partitions=True)
    with make_session_factory(engine)() as sess:
        yield Shop(engine=engine, session=sess)
