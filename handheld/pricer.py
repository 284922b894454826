"""`price_basket`, re-run only where the basket changed since the last scan.

`shop.pricing.price_basket` is the one pricing function; this module never prices
anything itself. It relies on one property of that function (see its docstring): a line
whose product has no personal offer is priced from that line alone (its unit price,
member price, and the public promotions naming its product or category; multi-buys count
units of the line's product, which is one line per product for unit items, and labels
take no multi-buy). Personal offers are the only thing that couples lines, through the
per-trip redemption cap. So the basket splits into

- lines of products with a personal offer: priced together, every time, by price_basket;
- every other line: priced alone by price_basket and remembered, keyed by everything
  its price depends on (the line, the product's PriceInfo, the promotions that fit it,
  member or not, the store's rules), so a scan re-prices one line, not the basket.

The result equals `price_basket(lines, ...)` field for field (property-tested in
tests/handheld/test_pricer.py).
"""
from __future__ import annotations

from typing import Mapping, Sequence

from shop.basket import BasketLine
from shop.pricing import PersonalOffer, PricedBasket, PricedLine, PriceInfo, PricingRules, PromotionRule, price_basket

# Per line key: the line, its PriceInfo, the promotions that fit it, member, rules -> its price.
_Memo = tuple[BasketLine, PriceInfo, tuple[PromotionRule, ...], bool, PricingRules, "PricedLine | None"]


class IncrementalPricer:
    """Prices a growing basket scan by scan with the result of a full `price_basket`."""

    def __init__(self) -> None:
        self._memo: dict[str, _Memo] = {}
        self.last: PricedBasket | None = None  # the latest answer (the device's scan notes read it)

    def price(self, lines: Sequence[BasketLine], prices: Mapping[str, PriceInfo],
              promotions: Sequence[PromotionRule] = (), offers: Sequence[PersonalOffer] = (), *,
              member: bool = False, rules: PricingRules = PricingRules()) -> PricedBasket:
        """What `price_basket(lines, prices, promotions, offers, member=..., rules=...)` answers."""
        offered = {o.product_id for o in offers}
        by_product: dict[int, list[PromotionRule]] = {}
        by_category: dict[str, list[PromotionRule]] = {}
        for rule in promotions:
            if rule.product_id is not None:
                by_product.setdefault(rule.product_id, []).append(rule)
            elif rule.category is not None:
                by_category.setdefault(rule.category, []).append(rule)

        alone: dict[str, PricedLine | None] = {}
        coupled: list[BasketLine] = []
        unknown: set[str] = set()
        memo: dict[str, _Memo] = {}
        for line in lines:
            info = prices.get(line.gtin)
            if info is None:
                unknown.add(line.gtin)
                continue
            if info.product_id in offered:
                coupled.append(line)
                continue
            fitting = (*by_product.get(info.product_id, ()), *by_category.get(info.category or "", ()))
            hit = self._memo.get(line.key)
            # Unchanged lines are the very same objects scan after scan, so `is` settles most checks.
            if hit is not None and _same(hit[0], line) and (hit[1] is info or hit[1] == info) \
                    and hit[2] == fitting and hit[3] == member and (hit[4] is rules or hit[4] == rules):
                priced = hit[5]
            else:
                one = price_basket([line], {line.gtin: info}, fitting, (), member=member, rules=rules)
                priced = one.lines[0] if one.lines else None
            memo[line.key] = (line, info, fitting, member, rules, priced)
            alone[line.key] = priced
        self._memo = memo  # only what this basket uses: the memo never outgrows the basket

        together = price_basket(coupled, prices, promotions, offers, member=member, rules=rules)
        from_offers = {p.key: p for p in together.lines}
        out: list[PricedLine] = []
        for line in lines:
            p = alone[line.key] if line.key in alone else from_offers.get(line.key)
            if p is not None:
                out.append(p)
        gross = sum(p.gross_minor for p in out)
        total = sum(p.net_minor for p in out)
        self.last = PricedBasket(lines=tuple(out), gross_minor=gross, discount_minor=gross - total, total_minor=total,
                                 item_count=sum(p.quantity for p in out), points_bonus=sum(p.points_bonus for p in out),
                                 offers_applied=together.offers_applied, unknown=tuple(sorted(unknown)))
        return self.last


def _same(a: BasketLine, b: BasketLine) -> bool:
    """Same line for pricing (sequence numbers do not change a price)."""
    return a is b or (a.gtin == b.gtin and a.quantity == b.quantity and a.weight_g == b.weight_g
                      and a.label_price_minor == b.label_price_minor)
