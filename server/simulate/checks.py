"""The end-of-day checks: every event exactly once, every trip at the right price, no stray 5xx.

The price check is independent of `shop.pricing`: it re-prices the shopper's own record
(what it scanned, removed and changed) from the catalogue's shelf and member prices with
its own arithmetic, so a bug in the shared pricing or in the event path shows as a mismatch.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from server.simulate.setup import ShelfPrice

ACCESS_LINE = re.compile(r'^\[(?P<t>[^\]]+)\] (?P<status>\d{3}) "(?P<method>\S+) (?P<path>\S+)" (?P<us>\d+)')


# --- prices -----------------------------------------------------------------------------------------
def weighed_minor(weight_g: int, per_kg_minor: int) -> int:
    """grams x price per kg / 1000, halves rounded up (the store's configured rounding), in decimal arithmetic."""
    exact = Decimal(weight_g) * Decimal(per_kg_minor) / Decimal(1000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_total(lines: Iterable[tuple[str, int, int | None]], prices: Mapping[str, ShelfPrice],
                   member: bool) -> int:
    """What a basket of (gtin, quantity, weight_g) lines costs at shelf price, or member price for members."""
    total = 0
    for gtin, quantity, weight_g in lines:
        p = prices[gtin]
        unit = p.price_minor
        if member and p.member_price_minor is not None and 0 <= p.member_price_minor < unit:
            unit = p.member_price_minor
        total += weighed_minor(weight_g, unit) if weight_g is not None else quantity * unit
    return total


# --- events -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalEvent:
    """One event of a handheld's own log."""

    id: str
    trip_id: str
    kind: str
    occurred_at: str
    sent: int


def local_log(data_dir: Path) -> list[LocalEvent]:
    """Every event in a handheld's local SQLite log (read-only)."""
    conn = sqlite3.connect(f"file:{data_dir / 'handheld.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, trip_id, kind, occurred_at, sent FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [LocalEvent(*row) for row in rows]


_CATALOGUE_LOADED = re.compile(r"catalogue version \d+ \((\d+) products changed\)")


def catalogue_downloads(handheld_log: Path) -> list[int]:
    """Products in each catalogue answer a handheld stored, from its log (0 for an answer with no change)."""
    if not handheld_log.exists():
        return []
    return [int(m.group(1)) for m in _CATALOGUE_LOADED.finditer(handheld_log.read_text(errors="replace"))]


@dataclass
class EventCheck:
    """Local logs against the server's trip_events."""

    made: int = 0
    on_server: int = 0
    lost: list[str] = field(default_factory=list)          # in a local log, not on the server
    duplicated: list[str] = field(default_factory=list)    # more than once on the server, or counted twice
    stray: list[str] = field(default_factory=list)         # on the server for these devices but in no local log
    refused: int = 0                                       # marked sent=2: the server refused them
    trips_mismatched: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


def compare_events(local: Sequence[LocalEvent], server_ids: Sequence[tuple[str, str]],
                   server_counts: Mapping[str, int]) -> EventCheck:
    """Match every local event with the server's rows by id, and per-trip counts with the trips' event_count."""
    check = EventCheck(made=len(local), on_server=len(server_ids))
    check.kinds.update(e.kind for e in local)
    seen = Counter(eid for eid, _ in server_ids)
    check.duplicated = sorted(eid for eid, n in seen.items() if n > 1)
    local_ids = {e.id for e in local}
    check.lost = [e.id for e in local if e.id not in seen]
    check.stray = sorted(eid for eid in seen if eid not in local_ids)
    check.refused = sum(1 for e in local if e.sent == 2)
    per_trip_local = Counter(e.trip_id for e in local)
    per_trip_rows = Counter(tid for _, tid in server_ids)
    for trip_id, n in per_trip_local.items():
        counted = server_counts.get(trip_id)
        if per_trip_rows.get(trip_id, 0) != n or (counted is not None and counted != n):
            check.trips_mismatched.append(trip_id)
            rows = per_trip_rows.get(trip_id, 0)
            if counted is not None and counted > rows:  # the trip counted an event twice
                check.duplicated.append(f"trip {trip_id}: event_count {counted} for {rows} events")
    return check


# --- HTTP 5xx ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccessEntry:
    """One line of gunicorn's access log."""

    at: float      # epoch seconds (whole seconds: gunicorn's %(t)s)
    status: int
    method: str
    path: str
    micros: int


def read_access_log(path: Path) -> list[AccessEntry]:
    """The access log's requests."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        m = ACCESS_LINE.match(line)
        if m:
            at = datetime.strptime(m["t"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
            out.append(AccessEntry(at, int(m["status"]), m["method"], m["path"], int(m["us"])))
    return out


def errors_outside(entries: Sequence[AccessEntry], windows: Sequence[tuple[float, float]],
                   grace: float = 3.0) -> list[AccessEntry]:
    """5xx answers that fall outside every outage window (widened by `grace` seconds on each side).

    A request is logged when it ends, to the whole second, so a request that began in an
    outage can be logged just after it: the grace covers that and the log's rounding.
    """
    return [e for e in entries if e.status >= 500
            and not any(start - grace <= e.at <= end + grace for start, end in windows)]
