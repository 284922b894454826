"""The catalogue handhelds cache: a version number, full snapshots and deltas, price lookups.

The version lives in SiteState "catalogue_version". `bump_version` publishes what changed
since the last bump by stamping those rows with the next version, so a handheld holding
version v fetches exactly the rows stamped above v. Writers need do nothing special for
products (their `updated_at` moves); a promotion is picked up when it is new, when its
window opens or closes, or when an editor sets its `catalogue_version` to 0. Rows are
withdrawn by setting `active` false, never deleted, so a delta can say so.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import BarcodeRule, Product, Promotion, SiteState
from shop.catalogue import PRODUCT_FIELDS, price_info, promotion_rule
from shop.pricing import PriceInfo, PromotionRule

VERSION_KEY = "catalogue_version"
BUMPED_AT_KEY = "catalogue_bumped_at"
PROMOTION_MAX_ID_KEY = "catalogue_promotion_max_id"


def _state(session: Session, key: str) -> str | None:
    row = session.get(SiteState, key)
    return row.value if row else None


def _set_state(session: Session, key: str, value: str) -> None:
    row = session.get(SiteState, key)
    if row is None:
        session.add(SiteState(key=key, value=value))
    else:
        row.value = value


def current_version(session: Session) -> int:
    """The published catalogue version (1 before the first bump)."""
    value = _state(session, VERSION_KEY)
    return int(value) if value and value.isascii() and value.isdigit() else 1


def bump_version(session: Session, now: datetime | None = None) -> int:
    """Publish changes since the last bump under a new version; return the version now current.

    The first bump on a database only starts the clock: an import publishes every row at
    the current version, so stamping them all again would make every handheld download
    the whole catalogue twice.
    """
    now = now or utcnow()
    version = current_version(session)
    raw = _state(session, BUMPED_AT_KEY)
    top = session.scalar(select(Promotion.id).order_by(Promotion.id.desc()).limit(1)) or 0
    if raw is not None:
        last = datetime.fromisoformat(raw)
        max_id = int(_state(session, PROMOTION_MAX_ID_KEY) or 0)
        # One UPDATE per table: a price file can touch most of the catalogue at once.
        products = session.execute(
            update(Product).where(Product.updated_at > last, Product.updated_at <= now)
            .values(catalogue_version=version + 1, updated_at=Product.updated_at)
            .execution_options(synchronize_session=False))
        promotions = session.execute(
            update(Promotion).where(or_(Promotion.id > max_id, Promotion.catalogue_version == 0,
                                        Promotion.starts_at.between(last, now), Promotion.ends_at.between(last, now)))
            .values(catalogue_version=version + 1).execution_options(synchronize_session=False))
        if products.rowcount or promotions.rowcount:  # type: ignore[attr-defined]
            version += 1
            _set_state(session, VERSION_KEY, str(version))
        top = max(top, max_id)
    _set_state(session, PROMOTION_MAX_ID_KEY, str(top))
    _set_state(session, BUMPED_AT_KEY, now.isoformat())
    session.flush()
    return version


def promotion_json(p: Promotion) -> dict[str, Any]:
    """A promotion as the catalogue answer carries it."""
    return {"id": p.id, "name": p.name, "kind": p.kind, "params": p.params, "product_id": p.product_id,
            "category": p.category, "member_only": p.member_only, "starts_at": p.starts_at.isoformat(),
            "ends_at": p.ends_at.isoformat(), "active": p.active}  # PROMOTION_FIELDS (shop/catalogue.py)


def snapshot(session: Session, since: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The full catalogue, or with `since` the rows changed after that version (withdrawn ones inactive)."""
    now = now or utcnow()
    version = current_version(session)
    cols = [getattr(Product, "id" if name == "product_id" else name).label(name) for name in PRODUCT_FIELDS]
    products = select(*cols).order_by(Product.id)  # plain rows: a full catalogue is ~100k products
    promotions = select(Promotion).order_by(Promotion.id)
    if since is None:
        products = products.where(Product.active.is_(True))
        promotions = promotions.where(Promotion.active.is_(True), Promotion.ends_at > now)
    else:
        products = products.where(Product.catalogue_version > since)
        promotions = promotions.where(Promotion.catalogue_version > since)
    rules = session.scalars(select(BarcodeRule).where(BarcodeRule.active.is_(True)).order_by(BarcodeRule.id))
    return {"version": version, "full": since is None,
            "products": [dict(row) for row in session.execute(products).mappings()],
            "promotions": [promotion_json(p) for p in session.scalars(promotions)],
            "barcode_rules": [{"name": r.name, "prefix": r.prefix, "kind": r.kind, "item_digits": r.item_digits,
                               "value_digits": r.value_digits, "value_check_digit": r.value_check_digit}
                              for r in rules]}


def products_by_gtin(session: Session, gtins: Iterable[str]) -> dict[str, Product]:
    """Active products with these GTINs."""
    wanted = sorted(set(gtins))
    out: dict[str, Product] = {}
    for i in range(0, len(wanted), 500):
        rows = session.scalars(select(Product).where(Product.gtin.in_(wanted[i:i + 500]), Product.active.is_(True)))
        out.update({p.gtin: p for p in rows})
    return out


_PRICE_COLUMNS = select(*[getattr(Product, "id" if name == "product_id" else name).label(name)
                          for name in PRODUCT_FIELDS]).where(Product.gtin.in_(bindparam("gtins", expanding=True)),
                                                             Product.active.is_(True))


def price_infos(session: Session, gtins: Iterable[str]) -> Mapping[str, PriceInfo]:
    """PriceInfo of the active products with these GTINs (unknown ones are absent); plain rows, no ORM objects."""
    wanted = sorted(set(gtins))
    out: dict[str, PriceInfo] = {}
    for i in range(0, len(wanted), 500):
        for row in session.execute(_PRICE_COLUMNS, {"gtins": wanted[i:i + 500]}).mappings():
            out[row["gtin"]] = price_info(row)
    return out


_RUNNING = select(Promotion.id, Promotion.name, Promotion.kind, Promotion.params, Promotion.product_id,
                  Promotion.category, Promotion.member_only).where(
    Promotion.active.is_(True), Promotion.starts_at <= bindparam("now"), Promotion.ends_at > bindparam("now")
).order_by(Promotion.id)


def active_promotions(session: Session, now: datetime | None = None) -> list[PromotionRule]:
    """The public promotions running at `now`, as pricing rules."""
    now = now or utcnow()
    rows = session.execute(_RUNNING, {"now": now}).mappings()
    return [promotion_rule(row) for row in rows]
