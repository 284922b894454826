"""The one pricing function: shelf and member prices, promotions, labels, personal offers.

Pure and shared: the handheld prices its cache with it (indicative), the checkout with it
(price of record), and the tests with it. Money is integer minor units throughout.

The rules, in the order they are applied:
- A price-embedded label line costs what the label says; it takes no promotion or offer
  (the store has already set its price). A weight-embedded line costs weight x price per
  kg / 1000, rounded by `PricingRules.weight_rounding`, and is one unit for promotions.
- No stacking: each unit gets the best single discount among the member price (members
  only), percentage and fixed promotions on its product or category, a multi-buy, or a
  personal offer. Percentages round half up; no discount exceeds the unit's price.
- Multi-buys count units of the same product. A full group costs the cheaper of the deal
  and the units at their best single discount; a partial group never costs more than a
  full one, so adding an item never lowers the bill and removing one never raises it.
- Personal offers: per product the best-saving price offer (percent, fixed, member_price)
  applies to at most `max_redemptions` units, placed where it saves most. At most
  `max_redemptions_per_trip` offers are redeemed per trip: price offers by saving first,
  then points offers by points. Ties go to the lower offer id.
The result depends only on the basket's contents, never on the order of the scans.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Mapping, Sequence

from shop.basket import BasketLine


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
    points_offer_id: int | None = None


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


ROUNDINGS = ("half_up", "down", "up")
PRICE_OFFER_TYPES = ("percent", "fixed", "member_price")


def weighed_price(weight_g: int, per_kg_minor: int, rounding: str = "half_up") -> int:
    """Price of a weighed item: weight x price per kg / 1000, rounded as the store configures."""
    amount = max(0, weight_g) * max(0, per_kg_minor)
    if rounding == "down":
        return amount // 1000
    if rounding == "up":
        return -(-amount // 1000)
    return (amount + 500) // 1000


def percent_off(amount: int, percent: int) -> int:
    """The discount `percent` % of `amount` gives, rounded half up and never above the amount."""
    return (max(0, amount) * min(max(percent, 0), 100) + 50) // 100


@dataclass(frozen=True)
class _Work:
    """A known line on its way to a price: its unit price and the promotions that fit it."""

    line: BasketLine
    info: PriceInfo
    units: int
    unit_price: int                                   # weighed and label lines: the line's price
    locked: bool                                      # price-embedded label: no discounts
    simple: int = 0                                   # best per-unit discount without a multi-buy
    simple_name: str | None = None
    multibuys: tuple[tuple[str, int, int], ...] = ()  # (name, group size, group price)

    def promo_cost(self, n: int) -> tuple[int, tuple[str, ...]]:
        """The cheapest cost of n units under public promotions, and the promotions used."""
        u = self.unit_price - self.simple
        plain = (self.simple_name,) if self.simple_name and self.simple and n else ()
        best = (n * u, plain)
        for name, size, price in self.multibuys:
            groups, rest = divmod(n, size)
            cost = groups * min(price, size * u) + min(rest * u, price)
            if cost < best[0]:
                best = (cost, (name,) + plain)
        return best


def _multibuy(rule: PromotionRule, price: int) -> tuple[str, int, int] | None:
    """A multi-buy as (name, group size, group price), or None when malformed or no saving."""
    try:
        n = int(rule.params["n"])
        group = int(rule.params["m"]) * price if rule.kind == "n_for_m" else int(rule.params["price_minor"])
    except (KeyError, TypeError, ValueError):
        return None
    if n < 2 or group < 0 or group >= n * price:
        return None
    return (rule.name, n, group)


def _prepare(line: BasketLine, info: PriceInfo, promotions: Sequence[PromotionRule], member: bool,
             rules: PricingRules) -> _Work | None:
    """Work out a line's unit price and best single discounts; None for an empty line."""
    if line.label_price_minor is not None:
        return _Work(line, info, 1, max(0, line.label_price_minor), True)
    if line.weight_g is not None:
        units, price = 1, weighed_price(line.weight_g, info.price_minor, rules.weight_rounding)
    else:
        units, price = line.quantity, max(0, info.price_minor)
    if units <= 0:
        return None
    simple, simple_name = 0, None
    if member and info.member_price_minor is not None:
        mp = (weighed_price(line.weight_g, info.member_price_minor, rules.weight_rounding)
              if line.weight_g is not None else info.member_price_minor)
        simple, simple_name = max(0, price - max(0, mp)), "member price"
    multibuys = []
    for rule in sorted(promotions, key=lambda r: r.id):
        fits = (rule.product_id is not None and rule.product_id == info.product_id) or (
            rule.product_id is None and rule.category is not None and rule.category == info.category)
        if not fits or (rule.member_only and not member):
            continue
        try:
            if rule.kind == "percent":
                off = percent_off(price, int(rule.params["percent"]))
            elif rule.kind == "fixed":
                off = min(price, max(0, int(rule.params["amount_minor"])))
            elif rule.kind in ("n_for_m", "n_for_price") and line.weight_g is None:
                mb = _multibuy(rule, price)
                multibuys += [mb] if mb else []
                continue
            else:
                continue
        except (KeyError, TypeError, ValueError):
            continue
        if off > simple:
            simple, simple_name = off, rule.name
    return _Work(line, info, units, price, False, simple, simple_name if simple else None, tuple(multibuys))


def _offer_unit_cost(w: _Work, offer: PersonalOffer, rules: PricingRules) -> int:
    """What one unit of the line costs under a price offer (never more than its price)."""
    p, v = w.unit_price, offer.reward_value
    if offer.reward_type == "percent":
        return p - percent_off(p, v)
    if offer.reward_type == "fixed":
        return max(0, p - max(0, v))
    if w.line.weight_g is not None:  # a member_price offer on a weighed item is per kg
        return min(p, weighed_price(w.line.weight_g, v, rules.weight_rounding))
    return min(p, max(0, v))


def _allocate(works: Sequence[_Work], offer: PersonalOffer,
              rules: PricingRules) -> tuple[int, dict[str, int], dict[str, int]]:
    """Best saving of a price offer over its product's lines: (saving, units per line, unit cost)."""
    cap = max(0, offer.max_redemptions)
    costs = {w.line.key: _offer_unit_cost(w, offer, rules) for w in works}
    states: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}  # units used -> (saving, per line)
    for w in works:
        base, o = w.promo_cost(w.units)[0], costs[w.line.key]
        nxt: dict[int, tuple[int, tuple[int, ...]]] = {}
        for used, (saving, alloc) in states.items():
            for r in range(min(w.units, cap - used) + 1):
                s = saving + base - (r * o + w.promo_cost(w.units - r)[0])
                if used + r not in nxt or s > nxt[used + r][0]:
                    nxt[used + r] = (s, alloc + (r,))
        states = nxt
    used = min(states, key=lambda k: (-states[k][0], k))
    saving, alloc = states[used]
    return saving, {w.line.key: r for w, r in zip(works, alloc)}, costs


def price_basket(lines: Sequence[BasketLine], prices: Mapping[str, PriceInfo],
                 promotions: Sequence[PromotionRule] = (), offers: Sequence[PersonalOffer] = (), *,
                 member: bool = False, rules: PricingRules = PricingRules()) -> PricedBasket:
    """Price a basket. Unknown GTINs are left out and listed in `unknown`."""
    works: list[_Work] = []
    unknown: set[str] = set()
    for line in lines:
        info = prices.get(line.gtin)
        if info is None:
            unknown.add(line.gtin)
            continue
        w = _prepare(line, info, promotions, member, rules)
        if w is not None:
            works.append(w)
    by_product: dict[int, list[_Work]] = {}
    for w in sorted(works, key=lambda w: w.line.key):
        if not w.locked:
            by_product.setdefault(w.info.product_id, []).append(w)

    # Price offers: per product the one that saves most, then the best products up to the cap.
    chosen: list[tuple[int, PersonalOffer, dict[str, int], dict[str, int]]] = []
    price_offers = sorted((o for o in offers if o.reward_type in PRICE_OFFER_TYPES and o.product_id in by_product),
                          key=lambda o: (o.product_id, o.offer_id))
    for _, group in groupby(price_offers, key=lambda o: o.product_id):
        best = None
        for offer in group:
            saving, alloc, costs = _allocate(by_product[offer.product_id], offer, rules)
            if saving > 0 and (best is None or saving > best[0]):
                best = (saving, offer, alloc, costs)
        if best:
            chosen.append(best)
    chosen.sort(key=lambda c: (-c[0], c[1].offer_id))
    slots = max(0, rules.max_redemptions_per_trip)
    chosen = chosen[:slots]
    offer_units = {k: (c[1], r, c[3][k]) for c in chosen for k, r in c[2].items() if r}

    # Points offers fill the slots left, by points; the bonus goes to the product's lines in key order.
    points: dict[str, tuple[PersonalOffer, int]] = {}
    ranked = []
    for offer in offers:
        if offer.reward_type == "points" and offer.product_id in by_product and offer.reward_value > 0:
            units = min(max(0, offer.max_redemptions), sum(w.units for w in by_product[offer.product_id]))
            if units:
                ranked.append((units * offer.reward_value, offer, units))
    ranked.sort(key=lambda t: (-t[0], t[1].offer_id))
    applied = [c[1].offer_id for c in chosen]
    for _, offer, units in ranked[:max(0, slots - len(chosen))]:
        applied.append(offer.offer_id)
        for w in by_product[offer.product_id]:
            take = min(units, w.units)
            units -= take
            if take:
                prev = points.get(w.line.key)
                points[w.line.key] = (prev[0] if prev else offer, (prev[1] if prev else 0) + take * offer.reward_value)

    priced: list[PricedLine] = []
    for w in works:
        gross = w.units * w.unit_price
        offer, r, unit_cost = offer_units.get(w.line.key, (None, 0, 0))
        rest, names = w.promo_cost(w.units - r) if not w.locked else (gross, ())
        net = max(0, r * unit_cost + rest)
        bonus_offer, bonus = points.get(w.line.key, (None, 0))
        shown = offer or bonus_offer
        priced.append(PricedLine(
            key=w.line.key, gtin=w.line.gtin, product_id=w.info.product_id, name=w.info.name,
            quantity=w.units, weight_g=w.line.weight_g, unit_price_minor=w.unit_price if w.line.weight_g is None
            else w.info.price_minor, gross_minor=gross, discount_minor=gross - net, net_minor=net,
            promotions=names, offer_id=shown.offer_id if shown else None,
            offer_text=shown.description if shown else None, points_bonus=bonus,
            age_check=bool(w.info.min_age), points_offer_id=bonus_offer.offer_id if bonus_offer else None))
    gross = sum(p.gross_minor for p in priced)
    total = sum(p.net_minor for p in priced)
    return PricedBasket(lines=tuple(priced), gross_minor=gross, discount_minor=gross - total, total_minor=total,
                        item_count=sum(p.quantity for p in priced), points_bonus=sum(p.points_bonus for p in priced),
                        offers_applied=tuple(sorted(applied)), unknown=tuple(sorted(unknown)))


@dataclass(frozen=True)
class ScanNote:
    """What the handheld tells the shopper about a line just scanned: an offer that applies or why
    it does not, or a multi-buy one item short. `text` may hold {saving}, which the caller fills
    in with `saving_minor` in its currency."""

    text: str
    saving_minor: int = 0
    applies: bool = True


def scan_note(line: BasketLine, info: PriceInfo, promotions: Sequence[PromotionRule], offer: PersonalOffer | None,
              priced: PricedLine | None, offers_applied: Sequence[int], *, member: bool = False,
              rules: PricingRules = PricingRules()) -> ScanNote | None:
    """The note for a scanned line priced as `priced` in a basket that applied `offers_applied`."""
    w = _prepare(line, info, promotions, member, rules)
    if w is None:
        return None
    if offer is not None:
        what = offer.description or "your personal offer"
        if priced is not None and offer.offer_id in (priced.offer_id, priced.points_offer_id):
            if offer.reward_type == "points":
                return ScanNote(f"Your offer applies: {what} ({priced.points_bonus} bonus points).")
            return ScanNote(f"Your offer applies: {what}. You save {{saving}}.", priced.discount_minor)
        if w.locked:
            why = "it does not apply to an item with a price label"
        elif offer.reward_type in PRICE_OFFER_TYPES and _offer_unit_cost(w, offer, rules) >= w.unit_price - w.simple:
            why = ("your member price is already lower" if w.simple_name == "member price"
                   else f"\"{w.simple_name}\" already gives a lower price" if w.simple_name
                   else "it saves nothing on this item")
        elif len(offers_applied) >= rules.max_redemptions_per_trip:
            why = f"a trip takes at most {rules.max_redemptions_per_trip} offers, and this one has them"
        else:
            why = "a better offer of yours is in use"
        return ScanNote(f"Your offer ({what}) does not apply: {why}.", 0, False)
    u = w.unit_price - w.simple
    for name, size, group in w.multibuys:
        rest = w.units % size
        saving = size * u - min(group, size * u)
        if rest and saving > 0:
            more = size - rest
            return ScanNote(f"Add {'one more' if more == 1 else f'{more} more'} for \"{name}\": save {{saving}}.",
                            saving)
    return None
