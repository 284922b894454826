"""Retention purge benchmark: dropping monthly partitions against deleting rows in batches.

A year of purchase history older than the retention cutoff (plus a month of recent history
that must stay) is loaded into fresh databases and purged with `server.store.retention.purge`:
- PostgreSQL with monthly partitions: whole partitions are dropped (the production path);
- baseline, same run: the same PostgreSQL rows with no monthly partitions (all in the default
  partition), so the purge deletes them in batches of retention.batch_size;
- SQLite, batched delete, for reference.
Both PostgreSQL runs then delete the emptied purchases in batches (that table is not
partitioned), so the table shows the time until the old lines are gone and the whole purge.
Target: the old lines are gone in at most a fifth of the baseline's time, and the whole purge
is faster than the baseline.

    python bench/bench_purge.py [--quick]
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import Row, print_table, row, timed  # noqa: E402
from db import localpg  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.partitions import ensure_month_partitions  # noqa: E402
from db.session import make_engine  # noqa: E402
from server.store.retention import purge  # noqa: E402

NOW = datetime(2027, 6, 15, tzinfo=timezone.utc)
CFG = {"retention": {"days": 730, "batch_size": 5000}}
LINES_PER_BASKET = 10


def history(lines_per_month: int, seed: int = 7) -> tuple[list[tuple], list[tuple]]:
    """(purchases, lines): twelve months before the cutoff and one month after it."""
    rng = np.random.default_rng(seed)
    cutoff = NOW - timedelta(days=CFG["retention"]["days"])
    start = cutoff - timedelta(days=365)
    purchases: list[tuple] = []
    lines: list[tuple] = []
    months = [(start + timedelta(days=30.4 * m), lines_per_month) for m in range(12)]
    months.append((NOW - timedelta(days=31), lines_per_month))
    pid = 0
    for first, n in months:
        offsets = np.sort(rng.uniform(0, 30 * 86400, n // LINES_PER_BASKET))
        for off in offsets:
            pid += 1
            at = first + timedelta(seconds=float(off))
            member = int(rng.integers(1, 2500))
            sales = rng.integers(50, 900, LINES_PER_BASKET)
            purchases.append((pid, "S001", member, at, int(sales.sum()), 0, 0, "import"))
            lines.extend((pid, member, int(p), 1, int(s), 0, at)
                         for p, s in zip(rng.integers(1, 90000, LINES_PER_BASKET), sales))
    return purchases, lines


def _load_pg(url: str, purchases: list[tuple], lines: list[tuple], partitions: bool) -> None:
    eng = make_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("INSERT INTO stores (id, name, timezone, created_at) VALUES ('S001', 'Bench', 'UTC', now())")
        if partitions:
            ensure_month_partitions(conn, purchases[0][3], purchases[-1][3])
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols, data in (
                ("purchases", "id, store_id, member_id, purchased_at, total_minor, discount_minor, points_awarded, "
                              "source", purchases),
                ("purchase_lines", "purchase_id, member_id, product_id, quantity, sales_minor, discount_minor, "
                                   "purchased_at", lines)):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for rec in data:
                    copy.write_row(rec)
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        eng.dispose()


def _load_sqlite(url: str, purchases: list[tuple], lines: list[tuple]) -> None:
    def stamp(t: datetime) -> str:
        return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")

    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        conn.execute("INSERT INTO stores (id, name, timezone, created_at) VALUES ('S001', 'Bench', 'UTC', '2027-01-01')")
        conn.executemany("INSERT INTO purchases (id, store_id, member_id, purchased_at, total_minor, discount_minor, "
                         "points_awarded, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [(*p[:3], stamp(p[3]), *p[4:]) for p in purchases])
        conn.executemany("INSERT INTO purchase_lines (purchase_id, member_id, product_id, quantity, sales_minor, "
                         "discount_minor, purchased_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(*ln[:6], stamp(ln[6])) for ln in lines])


def _purge(url: str, old_lines: int) -> tuple[float, float, int, int]:
    """(seconds in all, seconds until the old lines were gone, lines removed, partitions dropped)."""
    eng = make_engine(url)
    t0 = time.perf_counter()
    lines_done: list[float] = []

    def progress(done: int, total: int) -> None:
        # Lines go first, then the emptied purchases: note when the lines were all gone.
        if done >= old_lines and not lines_done:
            lines_done.append(time.perf_counter() - t0)

    try:
        seconds, report = timed(lambda: purge(eng, CFG, NOW, progress=progress))
    finally:
        eng.dispose()
    return seconds, (lines_done or [seconds])[0], report.lines_removed, len(report.partitions_dropped)


def run(quick: bool = False) -> list[Row]:
    """Purge a year of old history three ways; rows for the table."""
    per_month = 20_000 if quick else 100_000
    purchases, lines = history(per_month)
    old = per_month * 12
    out: list[Row] = []
    made: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            results = {}
            for name, kind, partitions in (("pg-partitions", "pg", True), ("pg-batched", "pg", False),
                                           ("sqlite-batched", "sqlite", False)):
                url = localpg.create_database("shopgo_bench") if kind == "pg" else f"sqlite:///{folder}/{name}.db"
                if kind == "pg":
                    made.append(url)
                upgrade(url)
                if kind == "pg":
                    _load_pg(url, purchases, lines, partitions)
                else:
                    _load_sqlite(url, purchases, lines)
                results[name] = _purge(url, old)
                assert results[name][2] == old, (name, results[name], old)
    finally:
        for url in made:
            localpg.drop_database(url)
    base_all, base_lines = results["pg-batched"][:2]
    fast_all, fast_lines = results["pg-partitions"][:2]
    parts = results["pg-partitions"][3]
    out.append(row("purge", f"PostgreSQL, old lines gone: drop {parts} partitions ({old:,} lines)", fast_lines, "s",
                   "PostgreSQL batched delete", base_lines, "<= 0.2x baseline", fast_lines <= 0.2 * base_lines))
    out.append(row("purge", "PostgreSQL, whole purge incl. emptied purchases", fast_all, "s",
                   "PostgreSQL batched delete", base_all, "< baseline", fast_all < base_all))
    out.append(row("purge", "PostgreSQL lines removed per second", old / fast_lines if fast_lines else float("nan"),
                   "lines/s", "PostgreSQL batched delete", old / base_lines if base_lines else float("nan"), "-", None))
    out.append(row("purge", f"SQLite batched delete, whole purge ({old:,} lines)", results["sqlite-batched"][0], "s",
                   "PostgreSQL batched delete", base_all, "-", None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 lines a month instead of 100,000")
    args = parser.parse_args()
    print_table(run(quick=args.quick), "Retention purge: partition drop vs batched delete")


if __name__ == "__main__":
    main()
