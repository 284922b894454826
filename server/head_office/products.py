"""The chain's catalogue as the campaign editor searches it: products by name, brand or category,
and categories by name, each with what a category manager needs to tell them apart."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from db.models import Product

MAX_FOUND = 20


def _pattern(text: str) -> str:
    """A LIKE pattern matching the text anywhere, its wildcards taken literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _product(p: Product) -> dict[str, Any]:
    return {"id": p.id, "gtin": p.gtin, "name": p.name, "brand": p.brand or "", "category": p.category or "",
            "size": p.package_size or "", "price_minor": p.price_minor, "active": p.active}


def find_products(session: Session, text: str, limit: int = MAX_FOUND) -> list[dict[str, Any]]:
    """Active products whose name, brand or category holds every word of the text (any case)."""
    words = text.split()[:6]
    if not words:
        return []
    query = select(Product).where(Product.active.is_(True))
    for word in words:
        like = _pattern(word)
        query = query.where(or_(func.lower(Product.name).like(like, escape="\\"),
                                func.lower(func.coalesce(Product.brand, "")).like(like, escape="\\"),
                                func.lower(func.coalesce(Product.category, "")).like(like, escape="\\")))
    return [_product(p) for p in session.scalars(query.order_by(Product.name, Product.id).limit(limit))]


def find_categories(session: Session, text: str, limit: int = 8) -> list[dict[str, Any]]:
    """Categories whose name holds the text, with how many active products each has."""
    if not text.strip():
        return []
    rows = session.execute(select(Product.category, func.count()).where(
        Product.active.is_(True), func.lower(Product.category).like(_pattern(text), escape="\\"))
        .group_by(Product.category).order_by(Product.category).limit(limit))
    return [{"name": name, "products": int(count)} for name, count in rows]


def products_by_id(session: Session, ids: Iterable[int]) -> list[dict[str, Any]]:
    """The products with these ids in the given order; an id the catalogue lacks comes back named as such."""
    wanted = list(dict.fromkeys(ids))
    found = {p.id: _product(p) for p in session.scalars(select(Product).where(Product.id.in_(wanted)))} if wanted else {}
    return [found.get(i, {"id": i, "gtin": "", "name": f"product {i} (not in the catalogue)", "brand": "", "category": "",
                          "size": "", "price_minor": None, "active": False}) for i in wanted]
