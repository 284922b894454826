"""Member search and the member page's queries: every figure aggregated in SQL, baskets paged.

All history queries filter on (member_id, purchased_at) so they use the composite indexes
and, on PostgreSQL, touch only the monthly partitions inside the two-year window.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, cast, func, or_, select
from sqlalchemy.orm import Session

from db.models import Member, Offer, OfferRedemption, Product, Purchase, PurchaseLine
from server.errors import ApiError
from server.params import is_digits

HISTORY_DAYS = 730
PER_PAGE = 20
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class MemberHit:
    """One search result."""

    id: int
    card_number: str
    name: str
    store_id: str
    tier: str
    erased: bool


@dataclass(frozen=True)
class Basket:
    """One basket in the history list."""

    id: int
    purchased_at: datetime
    total_minor: int
    discount_minor: int
    source: str
    lines: int


@dataclass(frozen=True)
class BasketPage:
    """One page of the basket list, newest first."""

    baskets: list[Basket]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Line:
    """One line of a basket."""

    product_id: int
    name: str
    category: str
    quantity: int
    sales_minor: int
    discount_minor: int


@dataclass(frozen=True)
class Ranked:
    """A category or product with what the member spent on it."""

    label: str
    spend_minor: int
    quantity: int
    baskets: int
    category: str = ""


@dataclass(frozen=True)
class OfferRow:
    """A personal offer issued to the member and how often it was redeemed."""

    id: int
    product: str
    kind: str
    reward_type: str
    reward_value: int
    valid_from: datetime
    valid_to: datetime
    redeemed: int
    discount_minor: int


def history_start(now: datetime) -> datetime:
    """The start of the two-year window the console shows."""
    return now - timedelta(days=HISTORY_DAYS)


@dataclass(frozen=True)
class SearchPage:
    """One page of a member search: the hits, how many matched in all, the page and the page count."""

    hits: list[MemberHit]
    total: int
    page: int
    pages: int


def search_members(session: Session, query: str, store_id: str | None, page: int = 1,
                   per_page: int = 25) -> SearchPage:
    """Members by card number, household id or name, a page at a time; `store_id` None searches every store."""
    q = query.strip()
    if not q:
        return SearchPage([], 0, 1, 1)
    if len(q) > 120:
        raise ApiError(400, "Search text is too long; use a card number, household id or part of a name.")
    conds: list[ColumnElement[bool]] = []
    digits = re.sub(r"[\s-]", "", q)
    if is_digits(digits, high_len=120):
        if int(digits) <= MAX_INT:
            conds.append(Member.id == int(digits))
        conds.append(Member.card_number == digits)
        if len(digits) >= 6:
            conds.append(Member.card_number.like(digits + "%"))
    literal = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    conds.append(func.lower(Member.name).like(f"%{literal}%", escape="\\"))
    where = [or_(*conds)] + ([Member.store_id == store_id] if store_id is not None else [])
    total = int(session.scalar(select(func.count()).select_from(Member).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    stmt = select(Member).where(*where).order_by(Member.id).offset((page - 1) * per_page).limit(per_page)
    hits = [MemberHit(m.id, m.card_number, m.name or "(no name)", m.store_id, m.tier, m.erased_at is not None)
            for m in session.scalars(stmt)]
    return SearchPage(hits, total, page, pages)


def get_member(session: Session, member_id: int) -> Member:
    """The member, or 404."""
    member = session.get(Member, member_id) if 0 < member_id <= MAX_INT else None
    if member is None:
        raise ApiError(404, f"No member with household id {member_id}.")
    return member


def basket_page(session: Session, member_id: int, page: int, since: datetime, total: int,
                per_page: int = PER_PAGE) -> BasketPage:
    """One page of baskets newest first; `total` is the basket count already aggregated."""
    pages = max(1, -(-total // per_page))
    if page < 1 or page > pages:
        raise ApiError(404, f"Page {page} does not exist; this history has {pages} page(s).")
    rows = session.execute(
        select(Purchase.id, Purchase.purchased_at, Purchase.total_minor, Purchase.discount_minor, Purchase.source)
        .where(Purchase.member_id == member_id, Purchase.purchased_at >= since)
        .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    counts: dict[int, int] = {}
    if rows:
        lo, hi = min(r.purchased_at for r in rows), max(r.purchased_at for r in rows)
        counts = dict(session.execute(
            select(PurchaseLine.purchase_id, func.count())
            .where(PurchaseLine.member_id == member_id, PurchaseLine.purchased_at >= lo,
                   PurchaseLine.purchased_at <= hi, PurchaseLine.purchase_id.in_([r.id for r in rows]))
            .group_by(PurchaseLine.purchase_id)).all())
    baskets = [Basket(r.id, r.purchased_at, r.total_minor, r.discount_minor, r.source, counts.get(r.id, 0))
               for r in rows]
    return BasketPage(baskets, page, pages, total)


def basket_lines(session: Session, member_id: int, purchase_id: int) -> tuple[Purchase, list[Line]]:
    """A basket of this member and its lines, biggest spend first; 404 if it is not theirs."""
    purchase = session.get(Purchase, purchase_id) if 0 < purchase_id < 2**63 else None
    if purchase is None or purchase.member_id != member_id:
        raise ApiError(404, f"Basket {purchase_id} is not in member {member_id}'s history.")
    rows = session.execute(
        select(PurchaseLine.product_id, Product.name, Product.category, PurchaseLine.quantity,
               PurchaseLine.sales_minor, PurchaseLine.discount_minor)
        .outerjoin(Product, Product.id == PurchaseLine.product_id)
        # purchased_at lets PostgreSQL go straight to the basket's monthly partition
        .where(PurchaseLine.purchase_id == purchase_id, PurchaseLine.purchased_at == purchase.purchased_at)
        .order_by(PurchaseLine.sales_minor.desc(), PurchaseLine.id)).all()
    return purchase, [Line(r[0], r[1] or f"Product {r[0]}", r[2] or "", r[3], r[4], r[5]) for r in rows]


def _month_of(session: Session, column: ColumnElement[datetime]) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_back(now: datetime, count: int) -> list[str]:
    """The last `count` calendar months (UTC) as 'YYYY-MM', oldest first."""
    y, m = now.year, now.month
    out: list[str] = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def monthly_spend(session: Session, member_id: int, now: datetime, months: int = 24) -> list[tuple[str, int, int]]:
    """(month, spend, baskets) for each of the last `months` months, zero-filled, oldest first."""
    keys = months_back(now, months)
    start = datetime(int(keys[0][:4]), int(keys[0][5:]), 1, tzinfo=now.tzinfo)
    month = _month_of(session, Purchase.purchased_at)
    got = {k: (int(s), int(n)) for k, s, n in session.execute(
        select(month, func.sum(Purchase.total_minor), func.count())
        .where(Purchase.member_id == member_id, Purchase.purchased_at >= start)
        .group_by(month))}
    return [(k, *got.get(k, (0, 0))) for k in keys]


def spend_by_product(session: Session, member_id: int, since: datetime) -> list[Ranked]:
    """Every product the member bought since `since`, biggest spend first, with its category.

    One pass over the member's lines (aggregated per product in SQL, then joined to the
    catalogue), so the page's top products and top categories share a single scan.
    """
    spend = func.sum(PurchaseLine.sales_minor).label("spend")
    per_product = (select(PurchaseLine.product_id, spend, func.sum(PurchaseLine.quantity).label("qty"),
                          func.count(func.distinct(PurchaseLine.purchase_id)).label("baskets"))
                   .where(PurchaseLine.member_id == member_id, PurchaseLine.purchased_at >= since)
                   .group_by(PurchaseLine.product_id).subquery())
    rows = session.execute(
        select(per_product.c.product_id, Product.name, Product.category, per_product.c.spend, per_product.c.qty,
               per_product.c.baskets)
        .outerjoin(Product, Product.id == per_product.c.product_id)
        .order_by(per_product.c.spend.desc(), per_product.c.product_id)).all()
    return [Ranked(r[1] or f"Product {r[0]}", int(r[3] or 0), int(r[4] or 0), int(r[5]), r[2] or "Uncategorised")
            for r in rows]


def top_products(by_product: list[Ranked], limit: int = 10) -> list[Ranked]:
    """The products the member spends most on."""
    return by_product[:limit]


def top_categories(by_product: list[Ranked], limit: int = 8) -> list[Ranked]:
    """The categories the member spends most on; `baskets` here counts distinct products."""
    spend: dict[str, list[int]] = {}
    for p in by_product:
        acc = spend.setdefault(p.category, [0, 0, 0])
        acc[0] += p.spend_minor
        acc[1] += p.quantity
        acc[2] += 1
    ranked = sorted(spend.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [Ranked(cat, s, q, n, cat) for cat, (s, q, n) in ranked]


def member_offers(session: Session, member_id: int, limit: int = 50) -> list[OfferRow]:
    """Offers issued to the member, newest first, with their redemptions."""
    red = (select(OfferRedemption.offer_id, func.count().label("n"),
                  func.sum(OfferRedemption.discount_minor).label("d"))
           .where(OfferRedemption.member_id == member_id).group_by(OfferRedemption.offer_id).subquery())
    rows = session.execute(
        select(Offer.id, Product.name, Offer.kind, Offer.reward_type, Offer.reward_value, Offer.valid_from,
               Offer.valid_to, func.coalesce(red.c.n, 0), cast(func.coalesce(red.c.d, 0), Integer))
        .outerjoin(Product, Product.id == Offer.product_id)
        .outerjoin(red, red.c.offer_id == Offer.id)
        .where(Offer.member_id == member_id)
        .order_by(Offer.valid_from.desc(), Offer.id.desc()).limit(limit)).all()
    return [OfferRow(r[0], r[1] or "?", r[2], r[3], r[4], r[5], r[6], int(r[7]), int(r[8])) for r in rows]


def redemption_totals(session: Session, member_id: int) -> tuple[int, int]:
    """(offers issued, redemptions) for the member, in one round trip."""
    issued = select(func.count()).select_from(Offer).where(Offer.member_id == member_id).scalar_subquery()
    redeemed = (select(func.count()).select_from(OfferRedemption)
                .where(OfferRedemption.member_id == member_id).scalar_subquery())
    row = session.execute(select(issued, redeemed)).one()
    return int(row[0]), int(row[1])


__all__ = ["Basket", "BasketPage", "Line", "MemberHit", "OfferRow", "Ranked", "basket_lines", "basket_page",
           "get_member", "history_start", "member_offers", "monthly_spend", "months_back", "redemption_totals",
           "search_members", "spend_by_product", "top_categories", "top_products"]
