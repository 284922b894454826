"""The catalogue and price cache: what GET /api/v1/catalogue sent, kept in its own SQLite file.

Scanning reads only from here, never from the network. The cache is `catalogue.db`, apart
from the event log in `handheld.db`: SQLite allows one writer per file, so a catalogue
download sharing the log's file would hold every scan's event commit until it finished
(about a second for a full catalogue of 92,331 products). Here the download writes through
its own connection, one transaction per answer, while the scan path reads through another
and sees the previous catalogue whole until the new one commits (WAL snapshots). Lookups go
through a small in-memory map of the products seen (cleared when a catalogue lands), so
pricing a basket costs dictionary reads; promotions are few and held in memory whole.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from handheld.store import DB_NAME as LOG_NAME
from handheld.store import LocalStore
from shop.catalogue import PRODUCT_FIELDS, price_info, promotion_rule, promotion_window
from shop.pricing import PriceInfo, PromotionRule

DB_NAME = "catalogue.db"
IMAGE_FILES = (LOG_NAME, DB_NAME)  # what a provisioning image copies into a new device's data folder
SCHEMA_VERSION = 1
LOAD_CHUNK = 5_000  # products per executemany: progress is reported between chunks
_SCHEMA = """
CREATE TABLE products (
    gtin TEXT PRIMARY KEY,
    product_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    category TEXT,
    price_minor INTEGER NOT NULL,
    member_price_minor INTEGER,
    sold_by_weight INTEGER NOT NULL,
    plu TEXT,
    min_age INTEGER,
    active INTEGER NOT NULL
);
CREATE INDEX ix_products_plu ON products (plu);
CREATE TABLE promotions (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE barcode_rules (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class _Connection:
    """One SQLite connection to catalogue.db behind its own lock."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.lock = threading.RLock()

    def execute(self, sql: str, params: tuple[Any, ...] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.db.close()


class Catalogue:
    """Product, promotion and label-rule cache with fast lookups for the scan path."""

    def __init__(self, store: LocalStore) -> None:
        path = store.path.parent / DB_NAME
        self._writer = _Connection(path)  # downloads (the catalogue worker)
        # A cache: a power cut may lose the last download (it comes again), never corrupt it.
        self._writer.db.execute("PRAGMA journal_mode=WAL")
        self._writer.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._reader = _Connection(path)  # lookups (the scan path): never waits for a download
        self._lock = threading.Lock()
        self._by_gtin: dict[str, PriceInfo | None] = {}
        self._generation = 0  # bumped when a catalogue lands: a row read before it is not cached after it
        self._promotions: list[tuple[PromotionRule, datetime | None, datetime | None]] | None = None

    def _migrate(self) -> None:
        db = self._writer.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise RuntimeError(f"{DB_NAME}: schema version {version} is newer than this handheld ({SCHEMA_VERSION})")
        with self._write() as tx:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    tx.execute(statement)
            tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the catalogue file."""
        self._reader.close()
        self._writer.close()

    def _write(self) -> Iterator[sqlite3.Connection]:
        return _WriteTx(self._writer)  # type: ignore[return-value]

    def _meta(self, key: str) -> str | None:
        rows = self._reader.execute("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    @property
    def version(self) -> int | None:
        """The catalogue version held, or None before the first download."""
        value = self._meta("catalogue_version")
        return int(value) if value is not None else None

    @property
    def etag(self) -> str | None:
        """The ETag of the last catalogue answer."""
        return self._meta("catalogue_etag")

    def apply(self, answer: Mapping[str, Any], etag: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> int:
        """Store a full or delta catalogue answer in one transaction; return how many products changed.

        `progress(done, total)` is called after each chunk of products. Scans go on meanwhile
        against the catalogue as it was; an answer cut short (an error, a kill) changes nothing.
        """
        products = answer.get("products", [])
        rows = [tuple(_column(p, c) for c in PRODUCT_FIELDS) for p in products]
        insert = (f"INSERT OR REPLACE INTO products ({', '.join(PRODUCT_FIELDS)}) "
                  f"VALUES ({', '.join('?' * len(PRODUCT_FIELDS))})")
        with self._write() as db:
            if answer.get("full"):
                for table in ("products", "promotions", "barcode_rules"):
                    db.execute(f"DELETE FROM {table}")
            for start in range(0, len(rows), LOAD_CHUNK):
                db.executemany(insert, rows[start:start + LOAD_CHUNK])
                if progress is not None:
                    progress(min(start + LOAD_CHUNK, len(rows)), len(rows))
            db.executemany("INSERT OR REPLACE INTO promotions (id, body) VALUES (?, ?)",
                           [(int(p["id"]), json.dumps(p)) for p in answer.get("promotions", [])])
            db.executemany("INSERT OR REPLACE INTO barcode_rules (name, body) VALUES (?, ?)",
                           [(str(r["name"]), json.dumps(r)) for r in answer.get("barcode_rules", [])])
            meta = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            db.execute(meta, ("catalogue_version", str(int(answer["version"]))))
            if etag:
                db.execute(meta, ("catalogue_etag", etag))
        with self._lock:
            self._by_gtin.clear()
            self._promotions = None
            self._generation += 1
        return len(rows)

    def product(self, gtin: str) -> PriceInfo | None:
        """The active product with this GTIN, or None."""
        with self._lock:
            if gtin in self._by_gtin:
                return self._by_gtin[gtin]
            generation = self._generation
        rows = self._reader.execute("SELECT * FROM products WHERE gtin = ? AND active = 1", (gtin,))
        info = price_info(rows[0]) if rows else None
        with self._lock:
            if generation == self._generation:
                self._by_gtin[gtin] = info
        return info

    def product_by_plu(self, item_code: str) -> PriceInfo | None:
        """The active product whose in-store label item code is `item_code` (leading zeros ignored)."""
        candidates = {item_code, item_code.lstrip("0") or "0"}
        if item_code.isdigit():
            candidates.add(f"{int(item_code):05d}")
        for code in candidates:
            rows = self._reader.execute("SELECT gtin FROM products WHERE plu = ? AND active = 1", (code,))
            if rows:
                return self.product(rows[0]["gtin"])
        return None

    def min_age(self, gtin: str) -> int | None:
        """The age limit of a product (None: no limit or unknown)."""
        info = self.product(gtin)
        return info.min_age if info else None

    def prices(self, gtins: Sequence[str]) -> dict[str, PriceInfo]:
        """PriceInfo of the given GTINs that are known."""
        out = {}
        for g in gtins:
            info = self.product(g)
            if info is not None:
                out[g] = info
        return out

    def promotions(self, now: datetime | None = None) -> list[PromotionRule]:
        """Promotions active now."""
        with self._lock:
            cached, generation = self._promotions, self._generation
        if cached is None:
            cached = []
            for (body,) in self._reader.execute("SELECT body FROM promotions"):
                p = json.loads(body)
                if p.get("active", True):
                    cached.append((promotion_rule(p), *promotion_window(p)))
            with self._lock:
                if generation == self._generation:
                    self._promotions = cached
        moment = now or datetime.now(timezone.utc)
        return [r for r, start, end in cached if (start is None or start <= moment) and (end is None or moment < end)]

    def promotions_for(self, products: Sequence[PriceInfo], now: datetime | None = None) -> list[PromotionRule]:
        """Active promotions that can touch these products (by product id or category).

        price_basket applies a rule only to a line whose product or category it names, so
        handing it just these gives the same prices while its work stays proportional to
        the basket, not to every promotion in the store.
        """
        ids = {p.product_id for p in products}
        categories = {p.category for p in products if p.category is not None}
        return [r for r in self.promotions(now)
                if (r.product_id in ids) or (r.product_id is None and r.category in categories)]

    def barcode_rules(self) -> list[dict[str, Any]]:
        """The store's in-store label layouts as the server sent them."""
        return [json.loads(b) for (b,) in self._reader.execute("SELECT body FROM barcode_rules")]


def _column(product: Mapping[str, Any], column: str) -> Any:
    value = product.get(column)
    if column in ("sold_by_weight", "active"):
        return int(bool(value if value is not None else column == "active"))
    return value


class _WriteTx:
    """BEGIN IMMEDIATE ... COMMIT on the writer connection (ROLLBACK on error), holding its lock."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.lock.acquire()
        self.conn.db.execute("BEGIN IMMEDIATE")
        return self.conn.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.conn.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.conn.lock.release()
