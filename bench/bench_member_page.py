"""Member page benchmark: p95 time to render the staff console's member page, signed in.

The page of the heaviest household of the full Complete Journey import (most purchase
lines) is rendered through the Flask test client (routing, session, every query, Jinja,
the SVG chart) on SQLite and on PostgreSQL, and again on PostgreSQL after the history is
replicated to 10x its volume (every household copied with new ids into the same store).
Baseline, measured in the same run on the same database: the page's queries alone, called
directly through the service functions (no HTTP, no template). Target: p95 under 150 ms.

    python bench/bench_member_page.py [--quick]
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from bench.common import Row, percentile, print_table, row  # noqa: E402
from db import localpg  # noqa: E402
from db.base import utcnow  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import PurchaseLine  # noqa: E402
from db.session import make_engine, make_session_factory  # noqa: E402
from server.auth import accounts  # noqa: E402
from server.importer.completejourney import import_completejourney, load_dataset  # noqa: E402
from server.staff import lifecycle, members  # noqa: E402

TARGET_MS = 150.0
STORE = "S001"
ID_STEP_MEMBER = 100_000            # copy k of household h gets id h + k * ID_STEP_MEMBER
ID_STEP_BASKET = 100_000_000_000    # Complete Journey basket ids stay below 10^11
REPLICATE_SQL = """
INSERT INTO members (id, card_number, store_id, name, email, consent_personalisation, tier, points, joined_at, erased_at)
SELECT m.id + k * {mstep}, 'R' || k || lpad(m.id::text, 12, '0'), m.store_id, m.name || ' copy ' || k, m.email,
       m.consent_personalisation, m.tier, m.points, m.joined_at, m.erased_at
FROM members m CROSS JOIN (SELECT {k} AS k) AS c WHERE m.id < {mstep};
INSERT INTO purchases (id, store_id, member_id, trip_id, purchased_at, total_minor, discount_minor, points_awarded, source)
SELECT p.id + k * {bstep}, p.store_id, p.member_id + k * {mstep}, NULL, p.purchased_at, p.total_minor,
       p.discount_minor, p.points_awarded, p.source
FROM purchases p CROSS JOIN (SELECT {k} AS k) AS c WHERE p.id < {bstep};
INSERT INTO purchase_lines (purchase_id, member_id, product_id, quantity, weight_g, sales_minor, discount_minor, purchased_at)
SELECT l.purchase_id + k * {bstep}, l.member_id + k * {mstep}, l.product_id, l.quantity, l.weight_g, l.sales_minor,
       l.discount_minor, l.purchased_at
FROM purchase_lines l CROSS JOIN (SELECT {k} AS k) AS c WHERE l.purchase_id < {bstep};
"""


def _import(url: str, data: dict[str, Any]) -> float:
    upgrade(url)
    eng = make_engine(url)
    t0 = time.perf_counter()
    import_completejourney(eng, store_id=STORE, store_name="Bench Store", data=data)
    if eng.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
        with eng.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    eng.dispose()
    return time.perf_counter() - t0


def replicate(url: str, factor: int) -> int:
    """Copy every household (factor - 1) times with new ids; returns the purchase line count.

    One transaction per copy, and copies already there are skipped, so an interrupted run
    resumes where it stopped.
    """
    eng = make_engine(url)
    for k in range(1, factor):
        with eng.begin() as conn:
            if conn.execute(text("SELECT 1 FROM members WHERE id >= :lo AND id < :hi LIMIT 1"),
                            {"lo": k * ID_STEP_MEMBER, "hi": (k + 1) * ID_STEP_MEMBER}).first():
                continue
            for stmt in REPLICATE_SQL.format(mstep=ID_STEP_MEMBER, bstep=ID_STEP_BASKET, k=k).split(";"):
                if stmt.strip():
                    conn.execute(text(stmt))
        print(f"    copy {k} of {factor - 1} done", flush=True)
    with eng.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        lines = int(conn.execute(text("SELECT count(*) FROM purchase_lines")).scalar_one())
    eng.dispose()
    return lines


def heaviest_household(url: str) -> tuple[int, int]:
    """(member id, purchase lines) of the household with the most lines."""
    eng = make_engine(url)
    with eng.connect() as conn:
        mid, n = conn.execute(select(PurchaseLine.member_id, func.count()).group_by(PurchaseLine.member_id)
                              .order_by(func.count().desc()).limit(1)).one()
    eng.dispose()
    return int(mid), int(n)


def page_queries(url: str, member_id: int) -> Callable[[], None]:
    """The member page's queries alone, as the view runs them (the baseline)."""
    factory = make_session_factory(make_engine(url))

    def once() -> None:
        with factory() as sess:
            member = members.get_member(sess, member_id)
            now = utcnow()
            since = members.history_start(now)
            stats = lifecycle.member_stats(sess, member.id, now, since)
            lifecycle.classify(stats, now)
            members.basket_page(sess, member_id, 1, since, stats.baskets)
            members.monthly_spend(sess, member_id, now)
            by_product = members.spend_by_product(sess, member_id, since)
            members.top_categories(by_product)
            members.top_products(by_product)
            members.member_offers(sess, member_id)
            members.redemption_totals(sess, member_id)

    return once


def page_render(url: str, member_id: int, tmp: Path) -> Callable[[], None]:
    """A signed-in test client fetching the member page."""
    from server.app import create_app

    app = create_app({"database": {"url": url}, "server": {"secret_key": "bench"},
                      "site": {"store_id": STORE, "store_name": "Bench Store"}})
    factory = make_session_factory(make_engine(url))
    with factory() as sess:
        if sess.scalar(select(func.count()).select_from(accounts.User).where(accounts.User.username == "bench")) == 0:
            accounts.add_user(sess, "bench", "bench-password", "staff", STORE)
            sess.commit()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/signin").get_data(as_text=True))
    assert token, "no CSRF token on the sign-in page"
    resp = client.post("/signin", data={"username": "bench", "password": "bench-password", "csrf_token": token.group(1)})
    assert resp.status_code == 302, resp.status_code
    path = f"/staff/members/{member_id}"

    def once() -> None:
        r = client.get(path)
        if r.status_code != 200:
            raise RuntimeError(f"{path} answered {r.status_code}")

    return once


def p95_pair(fn: Callable[[], None], base: Callable[[], None], samples: int, warmup: int = 3) -> tuple[float, float]:
    """p95 wall times (ms) of fn and of its baseline, sampled alternately so both see the same machine load."""
    for _ in range(warmup):
        fn()
        base()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(samples):
        for f, out in ((fn, times[0]), (base, times[1])):
            t0 = time.perf_counter()
            f()
            out.append((time.perf_counter() - t0) * 1000)
    return percentile(times[0], 95), percentile(times[1], 95)


def _measure(label: str, url: str, samples: int, tmp: Path, note: str) -> Row:
    member_id, lines = heaviest_household(url)
    page, base = p95_pair(page_render(url, member_id, tmp), page_queries(url, member_id), samples)
    print(f"  {label}: household {member_id} ({lines} lines){note}: page p95 {page:.1f} ms, queries p95 {base:.1f} ms",
          flush=True)
    return row("member page", f"p95 render, {label}", page, "ms", "page queries alone (p95)", base,
               f"< {TARGET_MS:.0f} ms", page < TARGET_MS)


def run(quick: bool = False, only: str | None = None, pg_url: str | None = None) -> list[Row]:
    """Import, measure on SQLite and PostgreSQL, replicate PostgreSQL history and measure again.

    `only` runs one database kind; `pg_url` reuses a PostgreSQL database that already holds
    the full import (it is replicated in place and not dropped).
    """
    samples = 20 if quick else 60
    factor = 3 if quick else 10
    data = load_dataset() if only != "postgresql" or pg_url is None else {}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="shopgo-bench-member-") as folder:
        tmp = Path(folder)
        if only in (None, "sqlite"):
            sqlite_url = f"sqlite:///{tmp / 'member.db'}"
            print(f"importing the full Complete Journey into SQLite ... {_import(sqlite_url, data):.0f} s", flush=True)
            rows.append(_measure("SQLite, full CJ", sqlite_url, samples, tmp, ""))
        if only == "sqlite":
            return rows
        localpg.ensure_server()
        given = pg_url is not None
        pg_url = pg_url or localpg.create_database("shopgo_bench")
        try:
            if not given:
                print(f"importing the full Complete Journey into PostgreSQL ... {_import(pg_url, data):.0f} s",
                      flush=True)
            rows.append(_measure("PostgreSQL, full CJ", pg_url, samples, tmp, ""))
            t0 = time.perf_counter()
            lines = replicate(pg_url, factor)
            print(f"replicated history to {factor}x: {lines:,} purchase lines in {time.perf_counter() - t0:.0f} s",
                  flush=True)
            rows.append(_measure(f"PostgreSQL, {factor}x history", pg_url, samples, tmp, f", {lines:,} lines in all"))
        finally:
            if not given:
                localpg.drop_database(pg_url)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and 3x instead of 10x history")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one database kind")
    parser.add_argument("--pg-url", help="an already imported PostgreSQL database to use (kept)")
    args = parser.parse_args()
    print_table(run(quick=args.quick, only=args.only, pg_url=args.pg_url), "member page render (staff console)")


if __name__ == "__main__":
    main()
