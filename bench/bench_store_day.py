"""Store-day benchmark: `shopgo simulate store-day` measured, every figure beside a same-run baseline or a floor.

Run as `python bench/bench_store_day.py [--quick] [--minutes M]`. Quick is the test's
short day (20 handhelds, 90 s); the full run is 200 handhelds for SHOPGO_BENCH_STORE_DAY_MINUTES
(default 10) minutes. Baselines come from the same run: the day's second tenth (after the
opening rush, before any fault) for events/s and latencies; the floor for scan-to-state is the serial wire time of
one frame (13 digits + CR at 9600 8N1), which a real scanner pays before the host hears it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, print_table, row  # noqa: E402

QUICK = (20, 1.5)
FULL_HANDHELDS = 200
SCAN_TO_STATE_P99_MS = 100.0   # under a whole store's load on 2 cores (one idle handheld: bench_handheld, 10 ms)
EVENTS_SHARE_OF_QUIET = 0.7    # faults may slow the day, not stop it


def wire_ms(n_bytes: int, baud: int = 9600) -> float:
    """Time to send n bytes at `baud` 8N1 (10 bits a byte), in ms."""
    return n_bytes * 10 / baud * 1000


def rows_for(report: object) -> list[Row]:
    """The table rows of one store day's report."""
    from server.simulate.report import StoreDayReport

    assert isinstance(report, StoreDayReport)
    f = report.figures()
    name = f"store day {report.handhelds} hh {report.minutes:g} min"
    floor = wire_ms(14)
    quiet = "same run, quiet 2nd tenth of the day"
    exact = [("lost events", len(report.lost)), ("duplicated events", len(report.duplicated) + len(report.stray)),
             ("mispriced trips", len(report.mispriced)), ("finished, not checked out", len(report.finished_not_checked_out)),
             ("HTTP 5xx outside outages", len(report.errors_5xx_outside))]
    done, planned = report.faults_done(), {x.kind for x in report.faults}
    out = [
        row(name, "events/s (whole day, under faults)", f["events_per_s"], "events/s", quiet, f["events_per_s_quiet"],
            f">= {EVENTS_SHARE_OF_QUIET:.0%} of quiet", f["events_per_s"] >= EVENTS_SHARE_OF_QUIET * f["events_per_s_quiet"]),
        row(name, "scan-to-state p50", f["scan_to_state_p50_ms"], "ms", "serial wire time of the frame at 9600 8N1",
            floor, "-", None),
        row(name, "scan-to-state p99", f["scan_to_state_p99_ms"], "ms", "serial wire time of the frame at 9600 8N1",
            floor, f"< {SCAN_TO_STATE_P99_MS:g} ms", f["scan_to_state_p99_ms"] < SCAN_TO_STATE_P99_MS),
        row(name, "scan-to-state p99, quiet tenth", f["scan_to_state_quiet_p99_ms"], "ms",
            "serial wire time of the frame at 9600 8N1", floor, "-", None),
        row(name, "sync latency p50", f["sync_p50_ms"], "ms", f"{quiet} p50", f["sync_quiet_p50_ms"], "-", None),
        row(name, "sync latency p99", f["sync_p99_ms"], "ms", f"{quiet} p99", f["sync_quiet_p99_ms"], "-", None),
        row(name, "handheld RSS per process", f["handheld_rss_mib_mean"], "MiB",
            "PSS of all handhelds together", f["handheld_pss_mib_total"], "-", None),
        row(name, "faults done", float(sum(done.values())), "faults", "faults planned", float(len(report.faults)),
            "all kinds", bool(planned) and all(done.get(k) for k in planned) and not report.fault_errors),
    ]
    out += [row(name, label, float(n), "count", "must be", 0.0, "= 0", n == 0) for label, n in exact]
    return out


def run(quick: bool = False) -> list[Row]:
    """Run one store day and return its rows."""
    from server.simulate.run import StoreDayOptions, run_store_day

    if quick:
        handhelds, minutes = QUICK
    else:
        handhelds, minutes = FULL_HANDHELDS, float(os.environ.get("SHOPGO_BENCH_STORE_DAY_MINUTES", "10"))
    report = run_store_day(StoreDayOptions(handhelds=handhelds, minutes=minutes),
                           log=lambda text: print(text, flush=True))
    from server.simulate.report import format_report

    print(format_report(report), flush=True)
    return rows_for(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test's short day (20 handhelds, 90 s)")
    parser.add_argument("--minutes", type=float, help="length of the full run's day (default 10)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if args.minutes:
        os.environ["SHOPGO_BENCH_STORE_DAY_MINUTES"] = str(args.minutes)
    rows = run(args.quick)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, "store day")


if __name__ == "__main__":
    main()
