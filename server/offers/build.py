"""The nightly offers build: the store's history in, the engine's proposals out as Offer rows.

The engine (`server.offers.build_offers`) is pure; this module is its database side. It reads
the history window (purchase lines of this store's members before the as-of time), the members
with their consent and their live offers, calls the engine and, in the caller's transaction,
replaces the engine's offers that have not started yet with the new proposals. Offers already
live are kept (a shopper may have seen them at trip start) and counted against the cap, and
campaign offers from head office are never touched. Running it twice for the same as-of date
writes the same offers once.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Member, Offer, Purchase, PurchaseLine
from server.store.personal_offers import ENGINE_KINDS, first_day, write_offers

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ["household_id", "basket_id", "product_id", "quantity", "sales_value", "timestamp", "discount"]
Builder = Callable[..., Sequence[Any]]


@dataclass(frozen=True)
class BuildReport:
    """What one offers build read and wrote."""

    as_of: dt.datetime
    members: int
    consenting: int
    history_lines: int
    proposals: int
    offers_written: int
    offers_replaced: int
    skipped: int


def history_frame(session: Session, store_id: str, as_of: dt.datetime, days: int, exponent: int = 2) -> pd.DataFrame:
    """Purchase lines of the store's members in the `days` before `as_of`, in the engine's columns."""
    rows = session.execute(
        select(PurchaseLine.member_id, PurchaseLine.purchase_id, PurchaseLine.product_id, PurchaseLine.quantity,
               PurchaseLine.sales_minor, PurchaseLine.purchased_at, PurchaseLine.discount_minor)
        .join(Purchase, Purchase.id == PurchaseLine.purchase_id)
        .join(Member, Member.id == PurchaseLine.member_id)
        .where(Purchase.store_id == store_id, Member.store_id == store_id, Member.erased_at.is_(None),
               PurchaseLine.purchased_at >= as_of - dt.timedelta(days=days), PurchaseLine.purchased_at < as_of)
    ).all()
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for money in ("sales_value", "discount"):  # the engine counts major units
        frame[money] = frame[money].astype("float64") / 10**exponent
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def _engine_offers(store_id: str) -> Any:
    """Offers this job owns: the engine's kinds, for members of this store."""
    members = select(Member.id).where(Member.store_id == store_id)
    return (Offer.kind.in_(ENGINE_KINDS), Offer.campaign_id.is_(None), Offer.member_id.in_(members))


def members_frame(session: Session, store_id: str, start: dt.datetime) -> pd.DataFrame:
    """The store's members: household_id, consent and live_offers (earlier offers still valid at `start`)."""
    live = dict(session.execute(
        select(Offer.member_id, func.count()).where(*_engine_offers(store_id), Offer.valid_from < start,
                                                    Offer.valid_to > start)
        .group_by(Offer.member_id)).all())
    rows = session.execute(select(Member.id, Member.consent_personalisation)
                           .where(Member.store_id == store_id, Member.erased_at.is_(None)).order_by(Member.id)).all()
    return pd.DataFrame({"household_id": [int(r[0]) for r in rows], "consent": [bool(r[1]) for r in rows],
                         "live_offers": [int(live.get(r[0], 0)) for r in rows]})


def _default_builder() -> Builder:
    from server.offers import build_offers

    return build_offers


def _policy(cfg: Mapping[str, Any]) -> Any:
    from server.offers.policy import OfferPolicy

    return OfferPolicy.from_config(cfg.get("offers", {}))


def build_store_offers(session: Session, cfg: Mapping[str, Any], as_of: dt.datetime,
                       builder: Builder | None = None) -> BuildReport:
    """Run the engine for the configured store and replace its not-yet-started offers (caller commits)."""
    if as_of.tzinfo is None:
        raise ValueError(f"naive datetime {as_of!r}: pass a UTC-aware as-of time")
    store_id = cfg["site"]["store_id"]
    exponent = int(cfg["site"]["currency_exponent"])
    history = history_frame(session, store_id, as_of, int(cfg["retention"]["days"]), exponent)
    policy = _policy(cfg)
    start = first_day(as_of, policy.start_days)
    members = members_frame(session, store_id, start)
    consenting = set(members.loc[members["consent"], "household_id"].astype(int))
    build = builder or _default_builder()
    proposals = list(build(history, members, pd.Timestamp(as_of), policy)) if len(members) else []
    mine = select(Member.id).where(Member.store_id == store_id)
    written, replaced, skipped = write_offers(session, cfg, proposals, mine, start, policy.max_live_offers)
    return BuildReport(as_of=as_of, members=len(members), consenting=len(consenting), history_lines=len(history),
                       proposals=len(proposals), offers_written=written, offers_replaced=replaced, skipped=skipped)
