"""A trip's basket is a fold of its event log. Pure: the handheld and the server share it.

Event kinds and payloads (the wire format of /api/v1/trips/<id>/events):
  scan          {"gtin": str, "barcode": str, "weight_g"?: int, "label_price_minor"?: int}
  remove        {"key": str}                    remove a whole line
  set_quantity  {"key": str, "quantity": int}   0 removes the line; label lines stay at 1
  finish, help, feedback, age_ok, ...           do not change the basket
A unit item's line key is its GTIN, so scanning it again adds one to the same line; an
in-store label (weighed or price-embedded) is a line of its own, keyed by its scan event id.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Protocol

# Events the store server itself adds to a trip (a staff void) carry sequence numbers from
# here up: they sort after every event of the handheld, on the server and on the device.
SERVER_SEQ_BASE = 1_000_000_000


class EventLike(Protocol):
    """What the fold needs of an event: device order, kind and payload."""

    id: str
    seq: int
    kind: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Event:
    """A plain trip event (what both sides store)."""

    id: str
    seq: int
    kind: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class BasketLine:
    """One line of the basket before pricing."""

    key: str
    gtin: str
    quantity: int
    weight_g: int | None = None
    label_price_minor: int | None = None
    first_seq: int = 0
    last_seq: int = 0

    @property
    def is_label(self) -> bool:
        """True for a weighed or price-embedded in-store label line."""
        return self.weight_g is not None or self.label_price_minor is not None


@dataclass(frozen=True)
class BasketSummary:
    """The folded basket and the facts about the trip that audits use."""

    lines: tuple[BasketLine, ...]
    removals: int
    finished: bool


def apply_event(lines: dict[str, BasketLine], ev: EventLike) -> tuple[int, bool]:
    """Apply one event to `lines` (key -> line) in place; return (removals it made, whether it finishes).

    `fold` is this step over the log in device order; the handheld's running basket calls
    it once per new event, so both always agree.
    """
    p = ev.payload
    if ev.kind == "scan":
        weight, label_price = p.get("weight_g"), p.get("label_price_minor")
        if weight is not None or label_price is not None:
            lines[ev.id] = BasketLine(ev.id, str(p["gtin"]), 1, weight, label_price, ev.seq, ev.seq)
        else:
            key = str(p["gtin"])
            qty = int(p.get("quantity", 1))
            old = lines.get(key)
            lines[key] = (replace(old, quantity=old.quantity + qty, last_seq=ev.seq) if old
                          else BasketLine(key, key, qty, None, None, ev.seq, ev.seq))
    elif ev.kind == "remove":
        if lines.pop(str(p.get("key")), None) is not None:
            return 1, False
    elif ev.kind == "set_quantity":
        key, qty = str(p.get("key")), int(p.get("quantity", 0))
        old = lines.get(key)
        if old is None:
            return 0, False
        if qty <= 0:
            del lines[key]
            return 1, False
        if not old.is_label:
            lines[key] = replace(old, quantity=qty, last_seq=ev.seq)
            return int(qty < old.quantity), False
    elif ev.kind == "finish":
        return 0, True
    return 0, False


def newest_first(lines: Iterable[BasketLine]) -> tuple[BasketLine, ...]:
    """Lines ordered by their latest change, newest first (the order the screen and receipt show)."""
    return tuple(sorted(lines, key=lambda line: line.last_seq, reverse=True))


def fold(events: Iterable[EventLike]) -> BasketSummary:
    """Replay events in device order into basket lines (newest change first)."""
    lines: dict[str, BasketLine] = {}
    removals = 0
    finished = False
    for ev in sorted(events, key=lambda e: e.seq):
        removed, finishes = apply_event(lines, ev)
        removals += removed
        finished = finished or finishes
    return BasketSummary(newest_first(lines.values()), removals, finished)
