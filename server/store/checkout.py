"""Checkout: the price of record from the server's own copy of the trip, points, history, receipt.

The handheld's total is indicative. The till's checkout folds the events the server holds
with the same `fold` and prices them with the same `price_basket`, records the purchase,
redeems offers and awards points, and keeps the receipt on the trip so a second checkout
answers the very same receipt. A member may spend points as money off at the till
(`[loyalty] redeem_points_per_unit` points take 1.00 off): their balance falls in the same
transaction as the purchase is recorded, so once, and points are then earned on what is paid,
times the member's tier multiplier (`[loyalty] tier_benefits`).
A trip waiting for a rescan, or with an age-restricted item no staff member approved, is
refused (409) with what it waits for.
"""
from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, Member, Offer, OfferRedemption, PointsEntry, Purchase, PurchaseLine, Trip
from db.partitions import ensure_month_partitions, month_start
from server.auth.actors import Actor
from server.errors import ApiError
from server.store import outbox
from server.store.age import age_waiting
from server.store.payment import take_payment
from server.store.priced_trip import price_trip
from server.store.trips import get_trip
from shop.pricing import PricedBasket, PricedLine


def checkout(session: Session, trip_id: str, actor: Actor, cfg: Mapping[str, Any],
             handheld_total_minor: int | None = None, now: datetime | None = None,
             spend_points: int = 0, payment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check a finished trip out once (a till or staff of its store): take its payment (server/store/
    payment.py; refused: a 402 and nothing recorded), record purchase, offers and points, spending
    `spend_points` of the member's points as money off; return the receipt."""
    trip = get_trip(session, trip_id, for_update=True)
    actor.require_store(trip.store_id, f"trip {trip_id}")
    if trip.receipt is not None:
        return dict(trip.receipt)
    if trip.status != "finished":
        raise ApiError(409, f"trip {trip_id} is {trip.status}; the shopper finishes it on the handheld first")
    pending = session.scalar(select(Audit.id).where(Audit.trip_id == trip_id, Audit.status == "pending"))
    if pending is not None:
        raise ApiError(409, f"trip {trip_id} awaits rescan audit {pending}; staff record its outcome first",
                       audit_id=pending)
    unchecked = age_waiting(session, trip)
    if unchecked:
        names = ", ".join(sorted({line.name for line in unchecked}))
        raise ApiError(409, f"trip {trip_id} has age-restricted items ({names}) a staff member has not approved; "
                            "approve them at the till (or on the live trips page) first",
                       age_check=[{"key": line.key, "gtin": line.gtin, "name": line.name, "min_age": line.min_age}
                                  for line in unchecked])
    now = now or utcnow()
    priced = price_trip(session, trip, cfg, trip.finished_at or now)
    basket, member = priced.basket, priced.member
    exponent = int(cfg.get("site", {}).get("currency_exponent", 2))
    spent, points_off = points_to_spend(member, spend_points, basket.total_minor, exponent,
                                        int(cfg.get("loyalty", {}).get("redeem_points_per_unit", 100)))
    paid = basket.total_minor - points_off
    settled = take_payment(trip, paid, payment, cfg)  # before anything is written: a refusal leaves the trip open
    points = 0
    if member is not None:
        per_unit = int(cfg.get("loyalty", {}).get("points_per_unit", 1))
        points = int(paid // 10**exponent * per_unit * points_multiplier(cfg, member.tier)) + basket.points_bonus
    _month_ready(session, now)
    purchase = Purchase(store_id=trip.store_id, member_id=member.id if member else None, trip_id=trip.id,
                        purchased_at=now, total_minor=paid, discount_minor=basket.discount_minor + points_off,
                        points_awarded=points, source="selfscan")
    session.add(purchase)
    session.flush()
    rows = [{"purchase_id": purchase.id, "member_id": purchase.member_id, "product_id": line.product_id,
             "quantity": line.quantity, "weight_g": line.weight_g, "sales_minor": line.net_minor,
             "discount_minor": line.discount_minor, "purchased_at": now} for line in basket.lines]
    if rows:
        session.execute(insert(PurchaseLine), rows)
    redeemed = _redeem_offers(session, trip, basket, member)
    outbox.record_purchase(session, purchase, rows, [r for r in redeemed if r["campaign_id"] is not None],
                           card_number=trip.pending_card)
    if member is not None and spent:
        session.add(PointsEntry(member_id=member.id, trip_id=trip.id, points=-spent, reason="redeemed",
                                earned_at=now, expires_at=None))
    if member is not None and points:
        days = int(cfg.get("loyalty", {}).get("points_expiry_days", 365))
        session.add(PointsEntry(member_id=member.id, trip_id=trip.id, points=points, reason="purchase",
                                earned_at=now, expires_at=now + timedelta(days=days)))
    if member is not None and (points or spent):
        member.points = Member.points + (points - spent)  # type: ignore[assignment]
    handheld = handheld_total_minor if handheld_total_minor is not None else trip.handheld_total_minor
    receipt = {"trip_id": trip.id, "member_id": member.id if member else None,
               "lines": [_line_json(line) for line in basket.lines],
               "gross_minor": basket.gross_minor, "discount_minor": basket.discount_minor,
               "total_minor": paid, "handheld_total_minor": handheld,
               "difference_minor": basket.total_minor - handheld if handheld is not None else None,
               "points_spent": spent, "points_discount_minor": points_off, "points_awarded": points,
               "payment": settled.as_json(),
               "offers_redeemed": [{k: v for k, v in r.items() if k != "campaign_id"} for r in redeemed], "purchase_id": purchase.id,
               "item_count": basket.item_count, "unknown": list(basket.unknown),
               "age_check": any(line.age_check for line in basket.lines), "checked_out_at": now.isoformat()}
    trip.status, trip.checked_out_at, trip.total_minor = "checked_out", now, paid
    trip.handheld_total_minor = handheld
    trip.receipt = receipt
    session.flush()
    return receipt


def points_multiplier(cfg: Mapping[str, Any], tier: str) -> float:
    """How many times the usual points a tier earns ([loyalty] tier_benefits; 1 for a tier not listed)."""
    return float(cfg.get("loyalty", {}).get("tier_benefits", {}).get(tier, {}).get("points_multiplier", 1.0))


def points_to_spend(member: Member | None, wanted: int, total_minor: int, exponent: int,
                    points_per_unit: int) -> tuple[int, int]:
    """(points spent, money off in minor units) for spending up to `wanted` points on a bill of total_minor:
    never more than the member holds (409 otherwise, nothing recorded) nor more than the bill, and only
    the points the money off needs."""
    if wanted <= 0:
        return 0, 0
    if member is None:
        raise ApiError(409, "points are spent by a member: this trip started without a loyalty card")
    if wanted > member.points:
        raise ApiError(409, f"the member holds {member.points} points, not {wanted}; spend fewer")
    off = min(wanted * 10**exponent // points_per_unit, max(total_minor, 0))
    spent = -(-off * points_per_unit // 10**exponent)  # the points that money needs, rounded up
    return spent, off


_MONTHS_READY: set[tuple[str, date]] = set()  # (database, month) whose partition this process has seen


def _month_ready(session: Session, now: datetime) -> None:
    """On PostgreSQL, the purchase-lines partition of this month exists (looked up once a month per
    process; the scheduler makes them ahead, this is the safety net when it has not run)."""
    bind = session.get_bind()
    key = (str(bind.url), month_start(now))
    if bind.dialect.name == "postgresql" and key not in _MONTHS_READY:
        ensure_month_partitions(session.connection(), now, now)
        _MONTHS_READY.add(key)


def _line_json(line: PricedLine) -> dict[str, Any]:
    """A priced line as the receipt keeps it (its fields are plain values: no deep copy needed)."""
    out = {f.name: getattr(line, f.name) for f in fields(line)}
    out["promotions"] = list(line.promotions)
    return out


def _redeem_offers(session: Session, trip: Trip, basket: PricedBasket, member: Member | None) -> list[dict[str, Any]]:
    """One OfferRedemption per offer applied, with its discount and bonus points."""
    if member is None:
        return []
    out = []
    campaigns = dict(session.execute(select(Offer.id, Offer.campaign_id)
                                     .where(Offer.id.in_(basket.offers_applied))).all())
    for offer_id in basket.offers_applied:
        discount = sum(x.discount_minor for x in basket.lines if x.offer_id == offer_id and x.points_offer_id != offer_id)
        points = sum(x.points_bonus for x in basket.lines if x.points_offer_id == offer_id)
        session.add(OfferRedemption(offer_id=offer_id, trip_id=trip.id, member_id=member.id,
                                    discount_minor=discount, points=points))
        out.append({"offer_id": offer_id, "campaign_id": campaigns.get(offer_id), "discount_minor": discount,
                    "points": points})
    return out


def hand_over_receipt(session: Session, trip_id: str, cfg: Mapping[str, Any], *, printing: bool) -> dict[str, Any]:
    """After the checkout's commit: print the receipt when asked, and e-mail it once to a member who
    gave an address and agreed. The receipt with what happened (printed/print_error, emailed_to/
    email_error); the caller commits the address it went to. Neither failure undoes the sale."""
    from server.store.email_receipts import MailError, send_receipt
    from server.store.receipts import PrinterError, open_printer, print_receipt

    trip = get_trip(session, trip_id)
    receipt = dict(trip.receipt or {})
    out = dict(receipt)
    if printing:
        try:
            print_receipt(open_printer(cfg["receipt"]["printer"]), receipt, cfg["site"])
            out["printed"] = True
        except PrinterError as exc:
            out.update(printed=False, print_error=str(exc))
    member = session.get(Member, receipt["member_id"]) if receipt.get("member_id") is not None else None
    if member is not None and member.email and member.consent_email_receipts and not receipt.get("emailed_to") \
            and member.erased_at is None:
        try:
            send_receipt(cfg["email"], cfg["site"], receipt, member.email)
            trip.receipt = {**receipt, "emailed_to": member.email, "emailed_at": utcnow().isoformat()}
            out.update(emailed_to=member.email)
        except MailError as exc:
            out["email_error"] = str(exc)
    return out
