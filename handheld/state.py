"""The screen state: a trip's event log folded and priced, as one JSON-ready dict.

Savings are measured against the shelf price, so they include promotions, member
prices and personal offers whichever way `price_basket` books a member price.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from handheld.catalogue import Catalogue
from handheld.pricer import IncrementalPricer
from handheld.store import LoggedEvent, TripRow
from shop.basket import BasketLine, EventLike, apply_event, fold, newest_first
from shop.pricing import PersonalOffer, PricedLine, PriceInfo, PricingRules, price_basket


class RunningBasket:
    """`fold` kept up to date one event at a time.

    Each new event goes through `shop.basket.apply_event`, the very step `fold` repeats
    over the whole log, so a scan costs O(lines) for the ordering instead of O(trip
    length); `fold(all events)` equals the running lines line for line (tested). Events
    the server made (staff voids) sort after every event of the device, as on the server;
    once the trip has one, a new device event is folded in its place with the whole log.
    """

    def __init__(self, events: Sequence[EventLike] = ()) -> None:
        self._refold(events)

    def _refold(self, events: Sequence[EventLike]) -> None:
        self._events = sorted(events, key=lambda e: e.seq)
        self._by_key: dict[str, BasketLine] = {}
        for ev in self._events:
            apply_event(self._by_key, ev)
        self.lines: tuple[BasketLine, ...] = newest_first(self._by_key.values())

    def add(self, event: EventLike) -> tuple[BasketLine, ...]:
        """Fold one more event into the lines."""
        if self._events and event.seq < self._events[-1].seq:
            self._refold([*self._events, event])
            return self.lines
        self._events.append(event)
        apply_event(self._by_key, event)
        self.lines = newest_first(self._by_key.values())
        return self.lines


class LineViews:
    """Each screen line as a dict and as JSON, rebuilt only when its line, price or age check changed.

    The running basket and the pricer hand back the very same objects for unchanged lines,
    so identity says what to reuse; `state_json` splices the kept JSON into the state's.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[BasketLine, PricedLine | None, PriceInfo | None, bool, dict[str, Any], str]] = {}
        self.json: list[str] = []  # the lines of the last build, as JSON

    def build(self, basket: Sequence[BasketLine], priced: dict[str, PricedLine], prices: dict[str, PriceInfo],
              age_ok_up_to: int) -> list[dict[str, Any]]:
        """The screen lines of `basket` (newest first)."""
        kept: dict[str, tuple[BasketLine, PricedLine | None, PriceInfo | None, bool, dict[str, Any], str]] = {}
        out, texts = [], []
        for line in basket:
            p, info = priced.get(line.key), prices.get(line.gtin)
            checked = line.last_seq <= age_ok_up_to
            hit = self._kept.get(line.key)
            if hit is not None and hit[0] is line and hit[1] is p and hit[2] is info and hit[3] == checked:
                view, text = hit[4], hit[5]
            else:
                view = line_view(line, p, info, checked)
                text = json.dumps(view, separators=(",", ":"))
            kept[line.key] = (line, p, info, checked, view, text)
            out.append(view)
            texts.append(text)
        self._kept, self.json = kept, texts
        return out


def line_view(line: BasketLine, p: PricedLine | None, info: PriceInfo | None, age_checked: bool) -> dict[str, Any]:
    """One line as the screen shows it (savings against the shelf price)."""
    if p is None or info is None:
        return {"key": line.key, "gtin": line.gtin, "name": "Item not in the price list: priced at the till",
                "quantity": line.quantity, "weight_g": line.weight_g, "is_label": line.is_label,
                "unit_price_minor": None, "gross_minor": 0, "discount_minor": 0, "net_minor": 0,
                "savings_minor": 0, "promotions": [], "offer_text": None, "age_check": False}
    shelf = p.gross_minor if line.is_label else info.price_minor * line.quantity
    return {"key": line.key, "gtin": line.gtin, "name": p.name, "quantity": line.quantity,
            "weight_g": line.weight_g, "is_label": line.is_label, "unit_price_minor": p.unit_price_minor,
            "gross_minor": p.gross_minor, "discount_minor": p.discount_minor, "net_minor": p.net_minor,
            "savings_minor": max(0, shelf - p.net_minor), "promotions": list(p.promotions), "offer_text": p.offer_text,
            "age_check": bool(p.age_check or info.min_age) and not age_checked}


_LINES_MARK = "\x00lines\x00"


def state_json(state: dict[str, Any], views: LineViews | None) -> str:
    """`json.dumps(state)` (compact), reusing the JSON `views` kept for the lines."""
    if views is None or len(views.json) != len(state["lines"]):
        return json.dumps(state, separators=(",", ":"))
    head = json.dumps({**state, "lines": _LINES_MARK}, separators=(",", ":"))
    # the key with the marker as its value cannot occur anywhere else (the marker holds NULs)
    return head.replace('"lines":' + json.dumps(_LINES_MARK), '"lines":[' + ",".join(views.json) + "]", 1)


def personal_offers(trip: TripRow) -> list[PersonalOffer]:
    """The trip's offers as pricing takes them."""
    out = []
    for o in trip.offers:
        try:
            out.append(PersonalOffer(int(o["offer_id"]), int(o["product_id"]), str(o["reward_type"]),
                                     int(o["reward_value"]), str(o.get("description") or ""),
                                     int(o.get("max_redemptions") or 1)))
        except (KeyError, TypeError, ValueError):
            continue  # an offer this device cannot read is applied at the till, not here
    return out


def is_member(trip: TripRow) -> bool:
    """Member prices apply to a card trip unless the server said the card is unknown."""
    return trip.card_number is not None and not trip.card_rejected


def compute_state(trip: TripRow | None, events: Sequence[LoggedEvent], catalogue: Catalogue, *,
                  pricing_rules: PricingRules | None = None, offline: bool = False, pending: int = 0,
                  message: dict[str, Any] | None = None, version: int = 0, currency: str = "GBP",
                  exponent: int = 2, lines: Sequence[BasketLine] | None = None,
                  pricer: IncrementalPricer | None = None, age_ok_up_to: int = -1,
                  views: LineViews | None = None) -> dict[str, Any]:
    """Everything the screen shows, computed from the trip's log.

    `lines` is the log's fold when the caller keeps it running; `pricer` re-prices only
    the lines that changed (same answer as `price_basket`). Staff have checked the
    shopper's age for lines last changed at or before `age_ok_up_to`. `views` keeps each
    line's screen dict (and its JSON) from the last call while the line is unchanged.
    """
    base: dict[str, Any] = {
        "version": version, "status": "idle", "trip_id": None, "member": None, "card_number": None,
        "guest": False, "lines": [], "gross_minor": 0, "discount_minor": 0, "total_minor": 0,
        "savings_minor": 0, "item_count": 0, "staff_check_needed": False, "offline": offline,
        "indicative": offline, "pending_events": pending, "offers": [], "message": message,
        "finish": None, "catalogue_version": catalogue.version, "currency": currency, "exponent": exponent,
    }
    if trip is None:
        return base
    basket = tuple(lines) if lines is not None else fold(events).lines
    prices = catalogue.prices([line.gtin for line in basket])
    priced = (pricer.price if pricer is not None else price_basket)(
        basket, prices, catalogue.promotions_for(list(prices.values())), personal_offers(trip),
                          member=is_member(trip), rules=pricing_rules or PricingRules())
    by_key = {p.key: p for p in priced.lines}
    lines = (views or LineViews()).build(basket, by_key, prices, age_ok_up_to)
    savings = sum(line["savings_minor"] for line in lines)
    answer = trip.finish_answer
    member = trip.member
    base.update({
        "status": trip.status, "trip_id": trip.id, "member": member, "card_number": trip.card_number,
        "guest": trip.card_number is None or trip.card_rejected, "lines": lines,
        "gross_minor": priced.gross_minor, "discount_minor": priced.discount_minor,
        "total_minor": priced.total_minor, "savings_minor": savings, "item_count": priced.item_count,
        "staff_check_needed": any(line["age_check"] for line in lines), "offers": trip.offers,
        "indicative": offline or not trip.on_server,
    })
    if trip.status == "finished":
        base["finish"] = {"exit_code": trip.id, "server_exit_code": (answer or {}).get("exit_code"),
                          "confirmed_by_server": answer is not None,
                          "audit": bool((answer or {}).get("audit", False)),
                          "empty": priced.item_count == 0}
    return base
