"""The catalogue snapshot format: what GET /api/v1/catalogue sends and the handheld caches.

An answer is `{"version", "full", "products", "promotions", "barcode_rules"}`. A product is
a flat object with PRODUCT_FIELDS; a promotion carries its rule (PROMOTION_FIELDS) and its
window as RFC 3339 times. The store writes these (server/store/catalogue.py) and the
handheld reads them (handheld/catalogue.py) through the two readers below, so both price
from the very same PriceInfo and PromotionRule values.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from shop.pricing import PriceInfo, PromotionRule

PRODUCT_FIELDS = ("gtin", "product_id", "name", "category", "price_minor", "member_price_minor",
                  "sold_by_weight", "plu", "min_age", "active")
PROMOTION_FIELDS = ("id", "name", "kind", "params", "product_id", "category", "member_only",
                    "starts_at", "ends_at", "active")


def price_info(product: Mapping[str, Any]) -> PriceInfo:
    """What pricing needs of a snapshot product (a mapping, or a row read by column name)."""
    return PriceInfo(gtin=str(product["gtin"]), product_id=int(product["product_id"]), name=str(product["name"]),
                     price_minor=int(product["price_minor"]), member_price_minor=product["member_price_minor"],
                     category=product["category"], sold_by_weight=bool(product["sold_by_weight"]),
                     min_age=product["min_age"])


def promotion_rule(promotion: Mapping[str, Any]) -> PromotionRule:
    """The pricing rule of a snapshot promotion."""
    return PromotionRule(int(promotion["id"]), str(promotion["name"]), str(promotion["kind"]),
                         dict(promotion.get("params") or {}), promotion.get("product_id"), promotion.get("category"),
                         bool(promotion.get("member_only", False)))


def promotion_window(promotion: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """When a snapshot promotion starts and ends (UTC; None: open)."""
    return _when(promotion.get("starts_at")), _when(promotion.get("ends_at"))


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
