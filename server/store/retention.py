"""Two-year retention: purchase lines older than `retention.days` are removed, baskets left empty, and old trips.

On PostgreSQL purchase_lines is partitioned by month, so every partition that ends before
the cutoff is dropped whole (no row-by-row delete, no bloat). Rows older than the cutoff
that sit in the default partition or in the month that straddles the cutoff are deleted in
bounded batches, as everything is on SQLite. Each batch is its own transaction: a stop flag
or Ctrl-C between or during batches leaves every table consistent, and a rerun carries on.

Nothing is kept per member beyond the window: the offers engine only ever reads the window
itself, so no aggregate (spend, visits, favourite products) outlives the lines it came from.

Trips past the window go too, with everything recorded about them. A trip's scan events say
what a member picked up, aisle by aisle, so they are personal history just as purchase lines
are. A trip is old when its last moment (checked out, else finished, else started) is before
the cutoff; its events, staff actions, rescan audit and offer redemptions go with it, and
shopper feedback that named it stays, unlinked. No index on the trip times is needed: old
trips were written first, and a batch asks for any `limit` old trips, not the oldest, so the
scan stops as soon as it has found them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import Connection, Engine, delete, exists, func, select, text, update
from sqlalchemy.exc import OperationalError

from db.models import (
    Audit,
    Feedback,
    OfferRedemption,
    OutboxFact,
    Purchase,
    PurchaseLine,
    StaffAction,
    Trip,
    TripEvent,
)
from db.partitions import ensure_month_partitions, existing_partitions, month_start, next_month, partition_name

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
StopFlag = Callable[[], bool]
LOCK_TIMEOUT_MS = 3000
LINES = PurchaseLine.__table__
PURCHASES = Purchase.__table__


@dataclass
class PurgeReport:
    """What a purge removed (or, on a dry run, would remove)."""

    cutoff: datetime
    dialect: str
    dry_run: bool
    lines_removed: int = 0
    purchases_removed: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    lines_in_dropped_partitions: int = 0
    trips_removed: int = 0
    trip_events_removed: int = 0
    outbox_removed: int = 0  # facts never shipped to a head office and now past retention themselves
    batches: int = 0
    interrupted: bool = False

    def summary(self) -> str:
        """One sentence a person can read."""
        verb = "would remove" if self.dry_run else "removed"
        parts = [f"{verb} {self.lines_removed:,} purchase lines and {self.purchases_removed:,} empty purchases "
                 f"older than {self.cutoff.isoformat(timespec='seconds')}",
                 f"and {self.trips_removed:,} handheld trips with their {self.trip_events_removed:,} events"]
        if self.outbox_removed:
            parts.append(f"and {self.outbox_removed:,} outbox facts no head office took")
        if self.partitions_dropped:
            parts.append(f"({'would drop' if self.dry_run else 'dropped'} partitions "
                         f"{', '.join(self.partitions_dropped)} holding {self.lines_in_dropped_partitions:,} lines)")
        if self.interrupted:
            parts.append("- interrupted; run again to finish")
        return " ".join(parts)


def cutoff_for(cfg: Mapping[str, Any], now: datetime) -> datetime:
    """The moment before which history is purged."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass a UTC-aware time")
    return now.astimezone(timezone.utc) - timedelta(days=int(cfg["retention"]["days"]))


def _month_start_utc(first: date) -> datetime:
    return datetime(first.year, first.month, first.day, tzinfo=timezone.utc)


def droppable_partitions(conn: Connection, cutoff: datetime) -> dict[str, date]:
    """Monthly partitions whose whole range lies before `cutoff` (PostgreSQL; empty on SQLite)."""
    return {name: first for name, first in sorted(existing_partitions(conn).items(), key=lambda kv: kv[1])
            if _month_start_utc(next_month(first)) <= cutoff}


def _count_lines(conn: Connection, cutoff: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(LINES).where(LINES.c.purchased_at < cutoff)).scalar_one())


def _empty_purchases(cutoff: datetime) -> Any:
    """Purchases before the cutoff with no line at or after it: empty once old lines are gone."""
    keeps = exists().where(LINES.c.purchase_id == PURCHASES.c.id, LINES.c.purchased_at >= cutoff)
    return select(PURCHASES.c.id).where(PURCHASES.c.purchased_at < cutoff, ~keeps)


def _stopped(stop: StopFlag | None) -> bool:
    return bool(stop is not None and stop())


def purge(engine: Engine, cfg: Mapping[str, Any], now: datetime, dry_run: bool = False,
          progress: Progress | None = None, stop: StopFlag | None = None) -> PurgeReport:
    """Remove history older than the retention window; `dry_run` only counts."""
    cutoff = cutoff_for(cfg, now)
    batch = int(cfg["retention"]["batch_size"])
    report = PurgeReport(cutoff=cutoff, dialect=engine.dialect.name, dry_run=dry_run)
    with engine.connect() as conn:
        partitions = droppable_partitions(conn, cutoff)
        in_partitions = {name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                         for name in partitions}
        old_lines = _count_lines(conn, cutoff)
        old_purchases = int(conn.execute(select(func.count()).select_from(_empty_purchases(cutoff).subquery()))
                            .scalar_one())
        old_trips, old_events = count_old_trips(conn, cutoff)
    report.lines_removed = 0 if not dry_run else old_lines
    report.purchases_removed = 0 if not dry_run else old_purchases
    report.trips_removed = 0 if not dry_run else old_trips
    report.trip_events_removed = 0 if not dry_run else old_events
    report.partitions_dropped = list(partitions)
    report.lines_in_dropped_partitions = sum(in_partitions.values())
    if dry_run:
        return report
    report.partitions_dropped = []
    report.lines_in_dropped_partitions = 0
    total = old_lines + old_purchases + old_trips + old_events
    done = 0
    if progress:
        progress(0, total)

    def advance(removed: int) -> None:
        nonlocal done
        done += removed
        if progress:
            progress(min(done, total), total)

    try:
        for name in partitions:
            if _stopped(stop):
                raise _Stopped
            if not _drop_partition(engine, name):
                continue  # its rows are older than the cutoff, so the batched delete below takes them
            report.partitions_dropped.append(name)
            report.lines_in_dropped_partitions += in_partitions[name]
            report.lines_removed += in_partitions[name]
            log.info("retention: dropped partition %s (%d lines)", name, in_partitions[name])
            advance(in_partitions[name])
        for (lines,) in _batches(engine, stop, lambda conn: (_delete_batch(conn, "lines", cutoff, batch),)):
            report.batches += 1
            report.lines_removed += lines
            advance(lines)
        for (purchases,) in _batches(engine, stop, lambda conn: (_delete_batch(conn, "purchases", cutoff, batch),)):
            report.batches += 1
            report.purchases_removed += purchases
            advance(purchases)
        trip_step = trips_per_batch(batch)
        for trips, events in _batches(engine, stop, lambda conn: delete_trip_batch(conn, cutoff, trip_step)):
            report.batches += 1
            report.trips_removed += trips
            report.trip_events_removed += events
            advance(trips + events)
        with engine.begin() as conn:  # a store without a head office keeps no more of its outbox than of history
            report.outbox_removed = conn.execute(delete(OutboxFact).where(
                OutboxFact.created_at < cutoff, OutboxFact.batch_seq.is_(None),  # a numbered batch may be held
                OutboxFact.kind != "erasure")).rowcount or 0  # an erasure head office must still hear of
    except _Stopped:
        report.interrupted = True
    except KeyboardInterrupt:
        # The open batch was rolled back by engine.begin(); what was committed stays removed.
        report.interrupted = True
        log.warning("retention: interrupted; %s", report.summary())
    return report


class _Stopped(Exception):
    """The stop flag was set between two batches."""


def _batches(engine: Engine, stop: StopFlag | None,
             step: Callable[[Connection], tuple[int, ...]]) -> Iterator[tuple[int, ...]]:
    """Run `step` in a transaction of its own until its first count is 0; yield each batch's counts.
    Raises _Stopped when `stop` is set before a batch."""
    while True:
        if _stopped(stop):
            raise _Stopped
        with engine.begin() as conn:
            removed = step(conn)
        if not removed[0]:
            return
        yield removed


def _drop_partition(engine: Engine, name: str) -> bool:
    """Drop one partition; give up (False) rather than queue behind a long reader's lock."""
    try:
        with engine.begin() as conn:
            # DROP needs an exclusive lock on the parent; waiting in line would stall every
            # checkout behind it, so a busy table is left to the row-by-row path instead.
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
            conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    except OperationalError as exc:
        log.warning("retention: partition %s is busy (%s); deleting its rows in batches", name, exc.orig)
        return False
    return True


def _delete_batch(conn: Connection, what: str, cutoff: datetime, batch: int) -> int:
    """Delete up to `batch` old lines (or empty old purchases) in the caller's transaction."""
    if what == "lines":
        ids = select(LINES.c.id).where(LINES.c.purchased_at < cutoff).order_by(LINES.c.purchased_at).limit(batch)
        return conn.execute(delete(LINES).where(LINES.c.id.in_(ids.scalar_subquery()))).rowcount or 0
    ids = _empty_purchases(cutoff).limit(batch)
    return conn.execute(delete(PURCHASES).where(PURCHASES.c.id.in_(ids.scalar_subquery()))).rowcount or 0


def ensure_future_partitions(engine: Engine, now: datetime, months: int = 2) -> list[str]:
    """Create this month's and the next `months` monthly partitions (PostgreSQL); return those made.

    Lines for a month with no partition yet wait in the default partition; PostgreSQL refuses
    to attach a partition whose range the default still holds, so those rows move in the
    same transaction.
    """
    if engine.dialect.name != "postgresql":
        return []
    made: list[str] = []
    month = month_start(now)
    for _ in range(months + 1):
        upper = next_month(month)
        with engine.begin() as conn:
            lo, hi = _month_start_utc(month), _month_start_utc(upper)
            waiting = conn.execute(text("SELECT count(*) FROM purchase_lines_default "
                                        "WHERE purchased_at >= :lo AND purchased_at < :hi"),
                                   {"lo": lo, "hi": hi}).scalar_one()
            if waiting and not existing_partitions(conn).get(partition_name(month)):
                conn.execute(text("CREATE TEMP TABLE shopgo_moving (LIKE purchase_lines) ON COMMIT DROP"))
                conn.execute(text("WITH moved AS (DELETE FROM purchase_lines_default WHERE purchased_at >= :lo "
                                  "AND purchased_at < :hi RETURNING *) INSERT INTO shopgo_moving SELECT * FROM moved"),
                             {"lo": lo, "hi": hi})
                made += ensure_month_partitions(conn, month, month)
                conn.execute(text("INSERT INTO purchase_lines SELECT * FROM shopgo_moving"))
            else:
                made += ensure_month_partitions(conn, month, month)
        month = upper
    return made


# --- trips past the window ------------------------------------------------------------------
ROWS_PER_TRIP = 50  # a trip brings its events (30 or so) along: batches are sized in rows, not trips
_DEPENDENTS = (StaffAction, Audit, OfferRedemption)  # besides the events, which are counted


def _old(cutoff: datetime) -> Any:
    return func.coalesce(Trip.checked_out_at, Trip.finished_at, Trip.started_at) < cutoff


def count_old_trips(conn: Connection, cutoff: datetime) -> tuple[int, int]:
    """How many trips are past the window, and how many events they hold."""
    trips = int(conn.execute(select(func.count()).select_from(Trip).where(_old(cutoff))).scalar_one())
    events = int(conn.execute(select(func.count()).select_from(TripEvent).join(Trip, Trip.id == TripEvent.trip_id)
                              .where(_old(cutoff))).scalar_one())
    return trips, events


def trips_per_batch(batch_rows: int) -> int:
    """Trips to take per transaction for a batch of about `batch_rows` rows."""
    return max(1, batch_rows // ROWS_PER_TRIP)


def delete_trip_batch(conn: Connection, cutoff: datetime, limit: int) -> tuple[int, int]:
    """Delete up to `limit` old trips with their records in the caller's transaction; (trips, events) removed."""
    ids = list(conn.execute(select(Trip.id).where(_old(cutoff)).limit(limit)).scalars())
    if not ids:
        return 0, 0
    events = conn.execute(delete(TripEvent).where(TripEvent.trip_id.in_(ids))).rowcount or 0
    for model in _DEPENDENTS:
        conn.execute(delete(model).where(model.trip_id.in_(ids)))
    conn.execute(update(Feedback).where(Feedback.trip_id.in_(ids)).values(trip_id=None))
    conn.execute(delete(Trip).where(Trip.id.in_(ids)))
    return len(ids), events
