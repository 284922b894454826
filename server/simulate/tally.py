"""Fill the report: the shoppers' records, the handhelds' logs and the server's rows, side by side."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from sqlalchemy import func, select

from db.models import Trip, TripEvent
from db.session import make_engine, make_session_factory
from server.simulate.checks import (
    catalogue_downloads,
    compare_events,
    errors_outside,
    expected_total,
    local_log,
    read_access_log,
)
from server.simulate.processes import HandheldProc
from server.simulate.report import Mispriced, StoreDayReport
from server.simulate.setup import StoreSetup
from server.simulate.shopper import TripRecord
from shop.basket import SERVER_SEQ_BASE


def price_check(report: StoreDayReport, setup: StoreSetup, records: Sequence[TripRecord]) -> None:
    """Every finished trip checked out, at the total the independent recomputation gives."""
    for r in records:
        if r.trip_id is None:
            continue
        lines = [(ln.gtin, ln.quantity, ln.weight_g) for ln in r.lines.values()]
        expected = expected_total(lines, setup.prices, member=True)  # every shopper is a member with a card
        if r.shown_total is not None and r.shown_total != expected:
            report.handheld_total_differs += 1
        if not r.finished:
            continue
        if r.receipt is None:
            report.finished_not_checked_out.append(r.trip_id)
            continue
        total = int(r.receipt["total_minor"])
        why = []
        if r.receipt.get("member_id") != r.basket.member_id:
            why.append(f"member {r.receipt.get('member_id')} instead of {r.basket.member_id}")
        if r.receipt.get("offers_redeemed"):
            why.append("personal offers applied")
        if r.receipt.get("unknown"):
            why.append(f"unknown items {r.receipt['unknown']}")
        if total != expected or why:
            report.mispriced.append(Mispriced(r.trip_id, expected, total, "; ".join(why)))


def tally(report: StoreDayReport, setup: StoreSetup, handhelds: Sequence[HandheldProc], records: Sequence[TripRecord],
          scans: Sequence[tuple[float, float]], access_log: Path, opened_epoch: float,
          quiet: tuple[float, float]) -> None:
    """Run every end-of-day check into `report`; `quiet` is the baseline window (day seconds) before any fault."""
    q0, q1 = quiet
    report.trips_started = sum(1 for r in records if r.trip_id)
    report.trips_finished = sum(1 for r in records if r.finished)
    report.trips_checked_out = sum(1 for r in records if r.receipt is not None)
    report.trips_cut_short = sum(1 for r in records if r.cut_short)
    report.trips_audited = sum(1 for r in records if r.audit_id is not None)
    report.scans = sum(r.scans for r in records)
    report.rescans = sum(r.rescans for r in records)
    report.scan_to_state_ms = [ms for ms, _ in scans]
    report.scan_to_state_quiet_ms = [ms for ms, at in scans if q0 <= at < q1]
    report.problems += [f"handheld {r.handheld} trip {r.trip_id}: {p}" for r in records for p in r.problems]
    price_check(report, setup, records)

    local = [e for hh in handhelds for e in local_log(hh.folder)]
    report.catalogue_products_downloaded = [n for hh in handhelds for n in catalogue_downloads(hh.log)]
    eng = make_engine(setup.url)
    try:
        with make_session_factory(eng)() as s:
            rows = s.execute(select(TripEvent.id, TripEvent.trip_id, TripEvent.occurred_at, TripEvent.received_at)
                             .where(TripEvent.device_id.in_(setup.device_ids))).all()
            counts = {tid: n for tid, n in s.execute(select(Trip.id, Trip.event_count)
                                                       .where(Trip.device_id.in_(setup.device_ids)))}
            # a trip counts the store's own events too (an age approval): the devices' are the rest
            for tid, n in s.execute(select(TripEvent.trip_id, func.count()).join(Trip, Trip.id == TripEvent.trip_id)
                                    .where(Trip.device_id.in_(setup.device_ids), TripEvent.seq >= SERVER_SEQ_BASE)
                                    .group_by(TripEvent.trip_id)):
                counts[tid] -= n
    finally:
        eng.dispose()
    check = compare_events(local, [(eid, tid) for eid, tid, _, _ in rows], counts)
    report.events_made, report.event_kinds, report.events_on_server = check.made, check.kinds, check.on_server
    report.lost, report.duplicated, report.stray, report.refused = check.lost, check.duplicated, check.stray, check.refused
    received = sorted(got.timestamp() for _, _, _, got in rows)
    report.sync_latency_ms = [(got - occurred).total_seconds() * 1000 for _, _, occurred, got in rows]
    report.sync_latency_quiet_ms = [(got - occurred).total_seconds() * 1000 for _, _, occurred, got in rows
                                    if q0 <= got.timestamp() - opened_epoch < q1]
    if received:
        span = max(received[-1] - opened_epoch, 1.0)
        report.events_per_s = len(received) / span
        report.events_per_s_quiet = sum(1 for t in received if q0 <= t - opened_epoch < q1) / max(q1 - q0, 1e-9)

    entries = read_access_log(access_log)
    report.requests = len(entries)
    report.errors_5xx = sum(1 for e in entries if e.status >= 500)
    report.errors_5xx_outside = [f"{e.status} {e.method} {e.path} at {e.at:.0f}"
                                 for e in errors_outside(entries, report.windows)]
