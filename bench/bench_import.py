"""Import benchmark: the full Complete Journey into SQLite and PostgreSQL.

Each import is timed end to end (reading the Parquet files, deriving the catalogue,
members and baskets, chunked commits with resume markers) and compared with a baseline
measured in the same run: the very same rows, prepared in memory beforehand, loaded by
the fastest raw path of that database in one transaction (executemany on SQLite, COPY on
PostgreSQL). Target: the import takes at most 2x the raw baseline on each database.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import Row, print_table, row  # noqa: E402
from db import localpg  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.partitions import ensure_month_partitions  # noqa: E402
from db.session import make_engine  # noqa: E402
from server.importer import completejourney as cj  # noqa: E402
from server.importer.catalogue import build_catalogue  # noqa: E402


def _fresh(kind: str, folder: Path, name: str) -> str:
    if kind == "sqlite":
        url = f"sqlite:///{folder / name}.db"
    else:
        url = localpg.create_database("shopgo_bench")
    upgrade(url)
    return url


def _raw_rows(data: dict, households: int | None) -> dict[str, tuple[list[str], "object"]]:
    """The rows the import writes, prepared untimed, as DataFrames per table."""
    import pandas as pd

    tx_all = data["transactions"]
    chosen = np.sort(tx_all["household_id"].unique())
    if households:
        chosen = chosen[:households]
    tx = tx_all[tx_all["household_id"].isin(chosen)]
    shift = cj.shift_for(tx_all["transaction_timestamp"].max())
    lines = cj.prepare_history(tx, shift)
    cat = build_catalogue(data["products"], tx_all).rename(columns={"product_id": "id", "product_category": "category"})
    now = pd.Timestamp.now(tz="UTC")
    cat = cat.assign(active=True, catalogue_version=1, updated_at=now)
    members = lines.groupby("household_id")["ts"].min().reset_index().rename(
        columns={"household_id": "id", "ts": "joined_at"})
    members = members.assign(card_number=[cj.card_number(int(h)) for h in members["id"]], store_id="S001",
                             consent_personalisation=True, tier="bronze", points=0)
    baskets = lines.groupby("basket_id", sort=False).agg(
        member_id=("household_id", "first"), purchased_at=("ts", "min"),
        total_minor=("sales_minor", "sum"), discount_minor=("discount_minor", "sum")).reset_index().rename(
        columns={"basket_id": "id"}).assign(store_id="S001", points_awarded=0, source="import")
    stamp = baskets.set_index("id")["purchased_at"]
    plines = pd.DataFrame({"purchase_id": lines["basket_id"], "member_id": lines["household_id"],
                           "product_id": lines["product_id"], "quantity": lines["quantity"],
                           "sales_minor": lines["sales_minor"], "discount_minor": lines["discount_minor"],
                           "purchased_at": stamp.reindex(lines["basket_id"]).to_numpy()})
    return {
        "products": (["id", "gtin", "name", "department", "category", "brand", "package_size", "price_minor",
                      "member_price_minor", "sold_by_weight", "plu", "min_age", "active", "catalogue_version",
                      "updated_at"], cat),
        "members": (["id", "card_number", "store_id", "consent_personalisation", "tier", "points", "joined_at"], members),
        "purchases": (["id", "store_id", "member_id", "purchased_at", "total_minor", "discount_minor",
                       "points_awarded", "source"], baskets),
        "purchase_lines": (["purchase_id", "member_id", "product_id", "quantity", "sales_minor", "discount_minor",
                            "purchased_at"], plines),
    }


def _baseline(url: str, tables: dict) -> float:
    """Load prepared rows by the raw path in one transaction; return seconds."""
    import io

    eng = make_engine(url)
    dialect = eng.dialect.name
    prepared: list[tuple[str, list[str], object]] = []
    for table, (cols, frame) in tables.items():
        frame = frame.copy()
        for c in cols:
            if str(frame[c].dtype).startswith("datetime64"):
                frame[c] = cj._sql_time(frame[c], dialect)
        if dialect == "postgresql":
            for c in ("member_price_minor", "min_age"):
                if c in frame:
                    frame[c] = frame[c].astype("Int64")
            buf = io.StringIO()
            frame[cols].to_csv(buf, index=False, header=False)
            prepared.append((table, cols, buf.getvalue()))
        else:
            data = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in cols]
            prepared.append((table, cols, list(zip(*data))))
    with eng.begin() as conn:
        conn.execute(cj.Store.__table__.insert().values(id="S001", name="Bench", timezone="UTC",
                                                        created_at=datetime.now(timezone.utc)))
        lines = tables["purchase_lines"][1]
        ensure_month_partitions(conn, lines["purchased_at"].min(), lines["purchased_at"].max())
    t0 = time.perf_counter()
    with eng.begin() as conn:
        for table, cols, payload in prepared:
            if dialect == "postgresql":
                raw = conn.connection.driver_connection
                with raw.cursor() as cur:  # type: ignore[union-attr]
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
                        cp.write(payload)  # type: ignore[arg-type]
            else:
                marks = ", ".join("?" for _ in cols)
                conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", payload)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    eng.dispose()
    return seconds


def run(quick: bool = False) -> list[Row]:
    """Time the import and its raw baseline on both databases."""
    households = 300 if quick else None
    data = cj.load_dataset()
    tables = _raw_rows(data, households)
    n_lines = len(tables["purchase_lines"][1])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql"):
            url = _fresh(kind, Path(tmp), "import")
            eng = make_engine(url)
            t0 = time.perf_counter()
            report = cj.import_completejourney(eng, store_id="S001", store_name="Bench", households=households)
            t_import = time.perf_counter() - t0
            eng.dispose()
            assert report.lines_added == n_lines, (report.lines_added, n_lines)
            base_url = _fresh(kind, Path(tmp), "raw")
            t_raw = _baseline(base_url, tables)
            if kind == "postgresql":
                localpg.drop_database(url)
                localpg.drop_database(base_url)
            ratio = t_import / t_raw
            rows.append(row("import", f"{kind}: lines/s ({n_lines:,} lines, {t_import:.1f} s)", n_lines / t_import,
                            "lines/s", "raw executemany" if kind == "sqlite" else "raw COPY", n_lines / t_raw,
                            "import time <= 2x raw", ratio <= 2.0))
            rows.append(row("import", f"{kind}: time ratio import/raw", ratio, "x", f"raw {t_raw:.1f} s", 1.0,
                            "<= 2.0", ratio <= 2.0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 households instead of all 2,469")
    args = parser.parse_args()
    localpg.ensure_server()
    print_table(run(args.quick), "Complete Journey import")


if __name__ == "__main__":
    main()
