"""Fixtures for the handheld: a seeded local store, an in-process device, a real store server on loopback."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from firmware_bridge import BarcodeSettings, Scan, default_settings, interpret
from handheld.catalogue import Catalogue
from handheld.device import Handheld
from handheld.store import LocalStore
from shop.numbering import card_number, product_gtin
from tests.loopback import LoopbackServer, dispose_when_idle

MILK, BREAD, WINE, APPLES, CHEESE = 1, 2, 3, 4, 5
ALWAYS = {"starts_at": "2020-01-01T00:00:00+00:00", "ends_at": "2099-01-01T00:00:00+00:00", "active": True}


def product(pid: int, name: str, price: int, member: int | None = None, *, weighed: bool = False,
            plu: str | None = None, min_age: int | None = None, category: str = "GROCERY") -> dict[str, Any]:
    """One product as GET /api/v1/catalogue lists it."""
    return {"product_id": pid, "gtin": product_gtin(pid), "name": name, "category": category,
            "price_minor": price, "member_price_minor": member, "sold_by_weight": weighed, "plu": plu,
            "min_age": min_age, "active": True}


def catalogue_answer(version: int = 1) -> dict[str, Any]:
    """A small full catalogue: member prices, a weighed item with a PLU, an age limit, a 3-for-2."""
    return {"version": version, "full": True,
            "products": [product(MILK, "Milk 2L", 150, 120), product(BREAD, "Bread", 100),
                         product(WINE, "Red wine", 800, min_age=18, category="WINE"),
                         product(APPLES, "Apples loose", 300, weighed=True, plu="10001", category="PRODUCE"),
                         product(CHEESE, "Cheddar", 400)],
            "promotions": [{"id": 1, "name": "3 for 2", "kind": "n_for_m", "params": {"n": 3, "m": 2},
                            "product_id": BREAD, "category": None, "member_only": False, **ALWAYS}],
            "barcode_rules": []}


def gtin(pid: int) -> str:
    """The barcode on product `pid`."""
    return product_gtin(pid)


def with_check(body: str) -> str:
    """A 12-digit body with its GS1 check digit."""
    from biip.checksums import gs1_standard_check_digit

    return body + str(gs1_standard_check_digit(body))


def weight_label(plu: str, grams: int) -> str:
    """An in-store weight label (21 IIIII WWWWW K)."""
    return with_check(f"21{plu}{grams:05d}")


def price_label(plu: str, pence: int) -> str:
    """A UK in-store price label (20 IIIII C PPPP K) with its price check digit."""
    from biip.checksums import gs1_price_weight_check_digit

    value = f"{pence:04d}"
    return with_check(f"20{plu}{gs1_price_weight_check_digit(value)}{value}")


CARD = card_number(1)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `predicate()` is truthy (a guard against hangs, not a timing check)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def barcodes() -> BarcodeSettings:
    return default_settings().barcodes


@pytest.fixture
def scan(barcodes: BarcodeSettings) -> Callable[[str], Scan]:
    """Interpret barcode data as the bridge would."""
    return lambda data: interpret(data, "unknown", barcodes)


@pytest.fixture
def seeded_dir(tmp_path: Path) -> Path:
    """A handheld data folder whose catalogue cache already holds catalogue_answer()."""
    folder = tmp_path / "handheld"
    store = LocalStore(folder)
    Catalogue(store).apply(catalogue_answer())
    store.close()
    return folder


@pytest.fixture
def device(seeded_dir: Path, barcodes: BarcodeSettings) -> Iterator[Handheld]:
    """An in-process handheld (no scanner, no network) on the seeded folder."""
    store = LocalStore(seeded_dir)
    yield Handheld(store, Catalogue(store), barcodes)
    store.close()


@pytest.fixture
def store_server(imported_url: str, tmp_path: Path) -> Iterator[tuple[LoopbackServer, str, str]]:
    """The store server on the imported database, a registered device token, and the database URL."""
    from db.session import make_engine, make_session_factory
    from server.app import create_app
    from server.auth.accounts import add_device, ensure_store

    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        ensure_store(sess, "S001", "Test Store")
        _, token = add_device(sess, "S001", "handheld-test")
        sess.commit()
    eng.dispose()
    app = create_app({"database": {"url": imported_url}, "server": {"secret_key": "test-secret"},
                      "site": {"store_id": "S001", "store_name": "Test Store"}})
    server = LoopbackServer(app).start()  # stop() and start() keep the port it was given
    yield server, token, imported_url
    server.stop()
    from server.database import engine as app_engine

    dispose_when_idle(app_engine(app))


def pick_products(url: str) -> dict[str, Any]:
    """Real products of the imported catalogue: plain items, a weighed one with a PLU, an age-limited one; a card."""
    from sqlalchemy import select

    from db.models import Member, Product
    from db.session import make_engine, make_session_factory

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            plain = list(s.scalars(select(Product).where(Product.active.is_(True), Product.sold_by_weight.is_(False),
                                                         Product.min_age.is_(None)).order_by(Product.id).limit(6)))
            weighed = s.scalars(select(Product).where(Product.sold_by_weight.is_(True), Product.plu.is_not(None),
                                                      Product.active.is_(True)).order_by(Product.id).limit(1)).one()
            aged = s.scalars(select(Product).where(Product.min_age.is_not(None), Product.active.is_(True))
                             .order_by(Product.id).limit(1)).one()
            member = s.scalars(select(Member).where(Member.erased_at.is_(None)).order_by(Member.id).limit(1)).one()
            return {"plain": [p.gtin for p in plain], "weighed_plu": weighed.plu, "weighed": weighed.gtin,
                    "aged": aged.gtin, "card": member.card_number}
    finally:
        eng.dispose()


def server_trip(url: str, trip_id: str) -> tuple[list[Any], Any]:
    """The server's copy of a trip: its events (device order) and the trip row."""
    from sqlalchemy import select

    from db.models import Trip, TripEvent
    from db.session import make_engine, make_session_factory
    from shop.basket import Event

    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            rows = s.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id).order_by(TripEvent.seq)).all()
            trip = s.get(Trip, trip_id)
            events = [Event(r.id, r.seq, r.kind, dict(r.payload)) for r in rows]
            return events, (trip.status, trip.handheld_total_minor, trip.event_count) if trip else None
    finally:
        eng.dispose()
