"""The one pricing function: shelf and member prices, promotions, labels, personal offers.

Pure and shared: the handheld prices its cache with it (indicative), the checkout with it
(price of record), and the tests with it. Money is integer minor units throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from server.basket import BasketLine


@dataclass(frozen=True)
class PriceInfo:
    """What the till knows of a product."""

    gtin: str
    product_id: int
    name: str
    price_minor: int                       # per unit, or per kg when sold by weight
    member_price_minor: int | None = None
    category: str | None = None
    sold_by_weight: bool = False
    min_age: int | None = None


@dataclass(frozen=True)
class PromotionRule:
    """A public promotion. kind: n_for_m {n, m} | n_for_price {n, price_minor} | percent {percent} | fixed {amount_minor}."""

    id: int
    name: str
    kind: str
    params: Mapping[str, Any]
    product_id: int | None = None
    category: str | None = None
    member_only: bool = False


@dataclass(frozen=True)
class PersonalOffer:
    """A member's personal offer. reward_type: percent | fixed | member_price | points."""

    offer_id: int
    product_id: int
    reward_type: str
    reward_value: int
    description: str = ""
    max_redemptions: int = 1


@dataclass(frozen=True)
class PricingRules:
    """Store settings that change prices ([pricing] in config.toml)."""

    weight_rounding: str = "half_up"
    max_redemptions_per_trip: int = 5


@dataclass(frozen=True)
class PricedLine:
    """A basket line with its price of record."""

    key: str
    gtin: str
    product_id: int
    name: str
    quantity: int
    weight_g: int | None
    unit_price_minor: int
    gross_minor: int
    discount_minor: int
    net_minor: int
    promotions: tuple[str, ...] = ()
    offer_id: int | None = None
    offer_text: str | None = None
    points_bonus: int = 0
    age_check: bool = False


@dataclass(frozen=True)
class PricedBasket:
    """A priced basket: lines newest first and the totals a shopper sees."""

    lines: tuple[PricedLine, ...]
    gross_minor: int
    discount_minor: int
    total_minor: int
    item_count: int
    points_bonus: int = 0
    offers_applied: tuple[int, ...] = ()
    unknown: tuple[str, ...] = field(default_factory=tuple)


def price_basket(lines: Sequence[BasketLine], prices: Mapping[str, PriceInfo],
                 promotions: Sequence[PromotionRule] = (), offers: Sequence[PersonalOffer] = (), *,
                 member: bool = False, rules: PricingRules = PricingRules()) -> PricedBasket:
    """Price a basket. Unknown GTINs are left out and listed in `unknown`."""
    raise NotImplementedError("implemented with the store server (issue 5)")
