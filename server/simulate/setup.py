"""The store before opening: a PostgreSQL database with real members, devices, real baskets, a catalogue cache.

Shoppers are Complete Journey households replaying baskets they really bought (the
imported purchase history). Products that a public promotion touches and members who hold
personal offers are left out of the replay, so the till's total has one independent
recomputation: shelf price, or member price for members, per unit or per kilogram.
"""
from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Member, Offer, Product, Promotion, Purchase, PurchaseLine
from db.session import make_engine, make_session_factory

MAX_LINES = 25          # longer baskets are skipped: a compressed day needs trips that end
MIN_LINES = 2
MAX_UNITS_PER_LINE = 4  # each unit is one scan; the dataset has bulk buys of 50
SKIP_DEPARTMENTS = ("KIOSK-GAS", "MISC SALES TRAN", "COUPON", "POSTAL CENTER")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Item:
    """One line of a real basket as the shopper scans it."""

    product_id: int
    gtin: str
    quantity: int
    weighed: bool = False
    plu: str | None = None


@dataclass(frozen=True)
class RealBasket:
    """A basket a household really bought, to be bought again."""

    purchase_id: int
    member_id: int
    card_number: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class ShelfPrice:
    """What the catalogue says a product costs (per unit, or per kg when weighed)."""

    product_id: int
    gtin: str
    price_minor: int
    member_price_minor: int | None
    sold_by_weight: bool


@dataclass
class StoreSetup:
    """Everything the day needs from the database."""

    url: str
    throwaway: bool
    store_id: str
    device_tokens: list[str]
    device_ids: list[int]
    till_token: str
    staff: tuple[str, str]  # the till's staff member, who approves age checks: user name, password
    baskets: list[RealBasket]
    prices: dict[str, ShelfPrice]
    catalogue_version: int


def prepare_database(database: str | None, households: int, store_id: str, store_name: str,
                     log: Log = print) -> tuple[str, bool]:
    """Migrate (and if needed fill) the database; a throw-away PostgreSQL one unless given. -> (url, throwaway)."""
    from db import localpg
    from db.migrate import upgrade
    from server.importer.completejourney import import_completejourney

    throwaway = database is None
    url = database or localpg.create_database("shopgo_storeday")
    upgrade(url)
    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            have = int(s.scalar(select(func.count()).select_from(Member)) or 0)
        if have < households:
            log(f"importing {households} Complete Journey households (the database holds {have}) ...")
            report = import_completejourney(eng, store_id=store_id, store_name=store_name, households=households)
            log(f"  {report.members_added} members, {report.purchases_added:,} baskets, {report.lines_added:,} lines")
    finally:
        eng.dispose()
    return url, throwaway


def register_devices(session: Session, store_id: str, store_name: str, count: int,
                     tag: str) -> tuple[list[str], list[int], str, tuple[str, str]]:
    """Register `count` handhelds, one till and the till's staff member: (handheld tokens, handheld
    device ids, till token, (staff user name, password))."""
    import secrets

    from server.auth.accounts import add_device, add_user, ensure_store

    ensure_store(session, store_id, store_name)
    made = [add_device(session, store_id, f"storeday-{tag}-hh{i:03d}") for i in range(count)]
    till = add_device(session, store_id, f"storeday-{tag}-till", "till")[1]
    staff = (f"storeday-{tag}-staff", secrets.token_urlsafe(16))
    add_user(session, staff[0], staff[1], "staff", store_id)
    session.commit()
    return [token for _, token in made], [device.id for device, _ in made], till, staff


def untouchable(session: Session) -> tuple[set[int], set[str], set[int]]:
    """Product ids and categories under any promotion, and members holding any offer: left out of the replay."""
    product_ids, categories = set(), set()
    for pid, category in session.execute(select(Promotion.product_id, Promotion.category)):
        if pid is not None:
            product_ids.add(int(pid))
        elif category is not None:
            categories.add(str(category))
    members = set(session.scalars(select(Offer.member_id).distinct()))
    return product_ids, categories, {int(m) for m in members}


def real_baskets(session: Session, want: int, rng: random.Random,
                 replayable: bool = True) -> tuple[list[RealBasket], dict[str, ShelfPrice]]:
    """Up to `want` imported baskets of members (2..25 lines), with the shelf prices of their products.

    `replayable` leaves out promotions and members holding offers, for the store day's independent
    price check; the demo's shoppers, whose totals nobody recomputes, take every basket as it was.
    """
    promo_products, promo_categories, offer_members = untouchable(session) if replayable else (set(), set(), set())
    members = {m.id: m.card_number for m in session.scalars(select(Member).where(Member.erased_at.is_(None)))
               if m.id not in offer_members}
    ids = list(session.scalars(select(Purchase.id).where(Purchase.source == "import",
                                                         Purchase.member_id.in_(list(members))).order_by(Purchase.id)))
    rng.shuffle(ids)
    ids = ids[:want * 3]  # some will be too long or too short
    rows = session.execute(
        select(PurchaseLine.purchase_id, PurchaseLine.member_id, PurchaseLine.quantity, Product.id, Product.gtin,
               Product.price_minor, Product.member_price_minor, Product.sold_by_weight, Product.plu,
               Product.category, Product.department)
        .join(Product, Product.id == PurchaseLine.product_id)
        .where(PurchaseLine.purchase_id.in_(ids), Product.active.is_(True))
        .order_by(PurchaseLine.purchase_id, PurchaseLine.id))
    lines: dict[int, dict[int, Item]] = {}
    owner: dict[int, int] = {}
    prices: dict[str, ShelfPrice] = {}
    for (purchase_id, member_id, qty, pid, gtin, price, member_price, weighed, plu, category,
         department) in rows:
        if (pid in promo_products or category in promo_categories or department in SKIP_DEPARTMENTS
                or qty is None or qty < 1 or price is None or price < 1 or (weighed and not plu)):
            continue
        basket = lines.setdefault(purchase_id, {})
        owner[purchase_id] = member_id
        old = basket.get(pid)
        units = 1 if weighed else min(MAX_UNITS_PER_LINE, int(qty) + (old.quantity if old else 0))
        basket[pid] = Item(pid, gtin, units, bool(weighed), plu)
        prices[gtin] = ShelfPrice(pid, gtin, int(price), None if member_price is None else int(member_price),
                                  bool(weighed))
    out = [RealBasket(p, owner[p], members[owner[p]], tuple(items.values()))
           for p, items in lines.items() if MIN_LINES <= len(items) <= MAX_LINES and owner[p] in members]
    out.sort(key=lambda b: b.purchase_id)
    rng.shuffle(out)
    return out[:want], prices


def catalogue_template(session: Session, folder: Path) -> int:
    """A handheld data dir whose catalogue cache holds today's full catalogue; return its version.

    A bump first starts the catalogue clock, so the scheduler's next bump publishes only
    real changes and the handhelds' deltas at trip start stay small. Each handheld starts
    from a copy of this folder's files (IMAGE_FILES), as devices are provisioned from an
    image, instead of 200 full downloads at opening time.
    """
    from handheld.catalogue import IMAGE_FILES, Catalogue
    from handheld.store import LocalStore
    from server.store.catalogue import bump_version, snapshot

    bump_version(session)
    session.commit()
    answer = snapshot(session, None)
    session.rollback()
    store = LocalStore(folder)
    try:
        catalogue = Catalogue(store)
        try:
            catalogue.apply(answer)
        finally:
            catalogue.close()
    finally:
        store.close()
    for name in IMAGE_FILES:  # each file whole, without a -wal beside it, so a plain copy carries it
        conn = sqlite3.connect(folder / name)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    return int(answer["version"])


def prepare_store(database: str | None, handhelds: int, workdir: Path, seed: int, store_id: str,
                  store_name: str, log: Log = print) -> StoreSetup:
    """The database, device tokens, baskets to replay and the catalogue image, ready for opening."""
    households = min(2469, max(40, 2 * handhelds))
    url, throwaway = prepare_database(database, households, store_id, store_name, log)
    eng = make_engine(url)
    try:
        with make_session_factory(eng)() as s:
            tokens, ids, till, staff = register_devices(s, store_id, store_name, handhelds,
                                                 f"{seed}-{random.randrange(10**6)}")
            baskets, prices = real_baskets(s, max(60, handhelds * 12), random.Random(seed))
            version = catalogue_template(s, workdir / "catalogue-image")
    finally:
        eng.dispose()
    if not baskets:
        raise RuntimeError("no member basket of 2-25 lines to replay: import the Complete Journey first")
    log(f"{len(baskets)} real baskets of {len({b.member_id for b in baskets})} members to replay; "
        f"catalogue version {version}")
    return StoreSetup(url, throwaway, store_id, tokens, ids, till, staff, baskets, prices, version)
