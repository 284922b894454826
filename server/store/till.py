"""The till: what it shows for an exit code before it takes the money.

The shopper shows the exit code (a QR code of the trip id) and the till reads the trip the
store holds, priced as the checkout will price it (server/store/priced_trip.py). It says
what still stands between the shopper and paying (a rescan audit, age-restricted items no
staff member has approved) and lists every difference from what the handheld showed, with
the reason where the store knows it: a staff void, a rescan's correction, a scan that never
reached the store, a price or promotion that changed. The handheld's own view comes with
its `finish` event (its lines and total); a handheld that sent no lines gets the totals
compared only. Nothing here writes: the checkout (server/store/checkout.py) does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Product, Trip, TripEvent
from server.auth.actors import Actor
from server.errors import ApiError
from server.store.age import age_waiting
from server.store.audits import audit_of
from server.store.checkout import points_to_spend
from server.store.priced_trip import price_trip
from server.store.trips import member_json
from shop.basket import SERVER_SEQ_BASE, fold
from shop.pricing import PricedLine

EXIT_CODE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Shown:
    """A line as the handheld showed it when the shopper finished."""

    gtin: str
    quantity: int
    net_minor: int


def trip_for_code(session: Session, code: str) -> Trip:
    """The trip an exit code names (400 for text that is no exit code, 404 for no such trip)."""
    code = code.strip()
    if not EXIT_CODE.match(code):
        raise ApiError(400, "That is not an exit code: scan the QR code on the handheld's exit screen "
                            "(or type the code printed under it).")
    trip = session.get(Trip, code.lower())
    if trip is None:
        raise ApiError(404, f"No trip has exit code {code}; check the code, or ask the shopper to show the "
                            "exit screen again.")
    return trip


def shown_lines(events: Iterable[TripEvent]) -> tuple[dict[str, Shown] | None, int | None]:
    """The handheld's lines by key and its total, from its finish event (None: it sent none)."""
    finish = next((e for e in events if e.kind == "finish" and e.seq < SERVER_SEQ_BASE), None)
    if finish is None:
        return None, None
    total = finish.payload.get("handheld_total_minor")
    lines = finish.payload.get("lines")
    if not isinstance(lines, list):
        return None, total if isinstance(total, int) else None
    shown = {}
    for line in lines:
        if isinstance(line, dict) and isinstance(line.get("key"), str):
            shown[line["key"]] = Shown(str(line.get("gtin") or line["key"]), int(line.get("quantity") or 0),
                                       int(line.get("net_minor") or 0))
    return shown, total if isinstance(total, int) else None


def store_changes(events: Iterable[TripEvent]) -> dict[str, str]:
    """Why the store changed a line, by line key: staff voids and rescan corrections."""
    why: dict[str, str] = {}
    for e in sorted(events, key=lambda e: e.seq):
        if e.seq < SERVER_SEQ_BASE:
            continue
        by, p = e.payload.get("by"), e.payload
        key = str(p.get("key") or p.get("gtin") or "")
        if by == "staff" and e.kind == "remove":
            why[key] = "removed by staff during the trip"
        elif by == "audit" and e.kind == "scan":
            why[key] = f"found in the rescan: {p.get('quantity', 1)} more than scanned"
        elif by == "audit" and e.kind == "set_quantity":
            why[key] = f"the rescan found {p.get('quantity')}"
        elif by == "audit" and e.kind == "remove":
            why[key] = "not found in the rescan"
    return why


def differences(shown: Mapping[str, Shown], billed: Iterable[PricedLine], names: Mapping[str, str],
                changes: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every line where the till's bill differs from the handheld's screen, with the reason."""
    out = []
    lines = {line.key: line for line in billed}
    for key in [*lines, *(k for k in shown if k not in lines)]:
        till, hand = lines.get(key), shown.get(key)
        if till is not None and hand is not None and (till.quantity, till.net_minor) == (hand.quantity, hand.net_minor):
            continue
        if hand is None:
            why = changes.get(key, "not on the handheld's screen when the shopper finished")
        elif till is None:
            why = changes.get(key, "the store never received this scan: rescan it if it is in the bag")
        elif till.quantity != hand.quantity:
            why = changes.get(key, "the store did not receive every change to this line")
        elif till.net_minor < hand.net_minor:
            why = "cheaper at the till: " + ("; ".join([*till.promotions, *([till.offer_text] if till.offer_text
                                                                            else [])]) or "today's price")
        else:
            why = "dearer at the till: the price or a promotion changed since the scan"
        gtin = till.gtin if till is not None else hand.gtin  # type: ignore[union-attr]
        out.append({"key": key, "gtin": gtin, "name": till.name if till is not None else names.get(gtin, gtin),
                    "handheld": {"quantity": hand.quantity, "net_minor": hand.net_minor} if hand else None,
                    "till": {"quantity": till.quantity, "net_minor": till.net_minor} if till else None, "why": why})
    return out


def till_bill(session: Session, code: str, actor: Actor, cfg: Mapping[str, Any],
              now: datetime | None = None) -> dict[str, Any]:
    """What the till shows for an exit code: the bill, the differences, and what waits before payment."""
    trip = trip_for_code(session, code)
    actor.require_store(trip.store_id, f"trip {trip.id}")
    if trip.receipt is not None:
        return {"trip_id": trip.id, "status": trip.status, "ready": False, "waiting_for": [],
                "receipt": dict(trip.receipt)}
    if trip.status == "active":
        raise ApiError(409, "The shopper has not finished this trip: ask them to press Finish on the handheld.")
    if trip.status != "finished":
        raise ApiError(409, f"Trip {trip.id} is {trip.status.replace('_', ' ')}; it cannot be paid.")
    events = list(session.scalars(select(TripEvent).where(TripEvent.trip_id == trip.id)))
    priced = price_trip(session, trip, cfg, trip.finished_at or now or utcnow())
    basket, member = priced.basket, priced.member
    shown, shown_total = shown_lines(events)
    handheld_total = trip.handheld_total_minor if trip.handheld_total_minor is not None else shown_total
    names = dict(session.execute(select(Product.gtin, Product.name).where(
        Product.gtin.in_(sorted({s.gtin for s in (shown or {}).values()})))).all()) if shown else {}
    audit = audit_of(session, trip.id)
    age = age_waiting(session, trip)
    waiting = [*(["rescan audit"] if audit is not None and audit.status == "pending" else []),
               *(["age approval"] if age else [])]
    exponent = int(cfg.get("site", {}).get("currency_exponent", 2))
    per_unit = int(cfg.get("loyalty", {}).get("redeem_points_per_unit", 100))
    spendable = points_to_spend(member, member.points, basket.total_minor, exponent, per_unit) \
        if member is not None and member.points > 0 else (0, 0)
    return {
        "trip_id": trip.id, "status": trip.status, "finished_at": trip.finished_at.isoformat() if trip.finished_at else None,
        "member": member_json(member, cfg),
        "lines": [{"key": x.key, "gtin": x.gtin, "name": x.name, "quantity": x.quantity, "weight_g": x.weight_g,
                   "unit_price_minor": x.unit_price_minor, "gross_minor": x.gross_minor,
                   "discount_minor": x.discount_minor, "net_minor": x.net_minor, "promotions": list(x.promotions),
                   "offer_text": x.offer_text, "age_check": x.age_check} for x in basket.lines],
        "unknown": list(basket.unknown), "item_count": basket.item_count,
        "gross_minor": basket.gross_minor, "discount_minor": basket.discount_minor, "total_minor": basket.total_minor,
        "handheld_total_minor": handheld_total,
        "difference_minor": basket.total_minor - handheld_total if handheld_total is not None else None,
        "differences": differences(shown, basket.lines, names, store_changes(events)) if shown is not None else [],
        "handheld_lines_known": shown is not None,
        "audit": None if audit is None else {
            "id": audit.id, "status": audit.status, "reason": audit.reason,
            "expected": _expected(fold(events).lines, {x.gtin: x.name for x in basket.lines}),
            "findings": audit.findings},
        "age_check": [{"key": a.key, "gtin": a.gtin, "name": a.name, "min_age": a.min_age} for a in age],
        "points": {"balance": member.points if member else 0, "redeem_points_per_unit": per_unit,
                   "most_to_spend": spendable[0], "worth_minor": spendable[1]},
        "ready": not waiting, "waiting_for": waiting,
    }


def _expected(lines: Iterable[Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rescan's list: each GTIN the log holds with its count, in the order the shopper walked."""
    qty: dict[str, int] = {}
    for line in reversed(list(lines)):
        qty[line.gtin] = qty.get(line.gtin, 0) + line.quantity
    return [{"gtin": g, "name": names.get(g, g), "expected": n} for g, n in qty.items()]
