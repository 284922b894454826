"""The catalogue and price cache: what GET /api/v1/catalogue sent, kept in the local SQLite file.

Scanning reads only from here, never from the network. Lookups go through a small
in-memory map of the products seen this session (cleared when a delta lands) so pricing
a basket costs dictionary reads; promotions are few and held in memory whole.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from handheld.store import LocalStore
from server.pricing import PriceInfo, PromotionRule

PRODUCT_COLUMNS = ("gtin", "product_id", "name", "category", "price_minor", "member_price_minor",
                   "sold_by_weight", "plu", "min_age", "active")


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Catalogue:
    """Product, promotion and label-rule cache with fast lookups for the scan path."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._by_gtin: dict[str, PriceInfo | None] = {}
        self._promotions: list[tuple[PromotionRule, datetime | None, datetime | None]] | None = None

    @property
    def version(self) -> int | None:
        """The catalogue version held, or None before the first download."""
        value = self.store.meta("catalogue_version")
        return int(value) if value is not None else None

    @property
    def etag(self) -> str | None:
        """The ETag of the last catalogue answer."""
        return self.store.meta("catalogue_etag")

    def apply(self, answer: Mapping[str, Any], etag: str | None = None) -> int:
        """Store a full or delta catalogue answer; return how many products changed."""
        products = answer.get("products", [])
        rows = [tuple(_column(p, c) for c in PRODUCT_COLUMNS) for p in products]
        with self.store.transaction() as db:
            if answer.get("full"):
                for table in ("products", "promotions", "barcode_rules"):
                    db.execute(f"DELETE FROM {table}")
            db.executemany(f"INSERT OR REPLACE INTO products ({', '.join(PRODUCT_COLUMNS)}) "
                           f"VALUES ({', '.join('?' * len(PRODUCT_COLUMNS))})", rows)
            db.executemany("INSERT OR REPLACE INTO promotions (id, body) VALUES (?, ?)",
                           [(int(p["id"]), json.dumps(p)) for p in answer.get("promotions", [])])
            db.executemany("INSERT OR REPLACE INTO barcode_rules (name, body) VALUES (?, ?)",
                           [(str(r["name"]), json.dumps(r)) for r in answer.get("barcode_rules", [])])
            self.store.set_meta("catalogue_version", str(int(answer["version"])))
            if etag:
                self.store.set_meta("catalogue_etag", etag)
        with self._lock:
            self._by_gtin.clear()
            self._promotions = None
        return len(rows)

    def product(self, gtin: str) -> PriceInfo | None:
        """The active product with this GTIN, or None."""
        with self._lock:
            if gtin in self._by_gtin:
                return self._by_gtin[gtin]
        row = self.store.execute("SELECT * FROM products WHERE gtin = ? AND active = 1", (gtin,)).fetchone()
        info = _price_info(row) if row else None
        with self._lock:
            self._by_gtin[gtin] = info
        return info

    def product_by_plu(self, item_code: str) -> PriceInfo | None:
        """The active product whose in-store label item code is `item_code` (leading zeros ignored)."""
        candidates = {item_code, item_code.lstrip("0") or "0"}
        if item_code.isdigit():
            candidates.add(f"{int(item_code):05d}")
        for code in candidates:
            row = self.store.execute("SELECT * FROM products WHERE plu = ? AND active = 1", (code,)).fetchone()
            if row:
                return self.product(row["gtin"])
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
            cached = self._promotions
        if cached is None:
            cached = []
            for (body,) in self.store.execute("SELECT body FROM promotions").fetchall():
                p = json.loads(body)
                if not p.get("active", True):
                    continue
                rule = PromotionRule(int(p["id"]), str(p["name"]), str(p["kind"]), dict(p.get("params") or {}),
                                     p.get("product_id"), p.get("category"), bool(p.get("member_only", False)))
                cached.append((rule, _when(p.get("starts_at")), _when(p.get("ends_at"))))
            with self._lock:
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
        return [json.loads(b) for (b,) in self.store.execute("SELECT body FROM barcode_rules").fetchall()]


def _column(product: Mapping[str, Any], column: str) -> Any:
    value = product.get(column)
    if column in ("sold_by_weight", "active"):
        return int(bool(value if value is not None else column == "active"))
    return value


def _price_info(row: Any) -> PriceInfo:
    return PriceInfo(gtin=row["gtin"], product_id=int(row["product_id"]), name=row["name"],
                     price_minor=int(row["price_minor"]), member_price_minor=row["member_price_minor"],
                     category=row["category"], sold_by_weight=bool(row["sold_by_weight"]), min_age=row["min_age"])
