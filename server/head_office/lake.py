"""Head office's history lake: the chain's purchase lines in one Delta Lake table (delta-rs).

The table lives at `[chain] lake` in config.toml: a folder (relative paths are under the
project root) or an object-store URL such as s3://bucket/shopgo/lines, whose credentials
delta-rs reads from the usual environment variables (AWS_ACCESS_KEY_ID, ...). It is
partitioned by month ("2026-12"), and a line's chain-wide key is (store_id, purchase_id).

Exactly once is the writer's job: each feed batch is one commit carrying the store's batch
number as the table's application transaction (`shopgo-feed-<store>`, version = number).
`append` reads that version on the loaded table, skips a batch already committed, commits
against the same loaded table, and on a concurrent-commit error reloads and checks again,
so a retry after a crash between commit and answer, or two workers racing on one batch,
adds the rows once.
"""
from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from shop.config import ROOT

log = logging.getLogger(__name__)

ROW_GROUP_LINES = 131_072
SCHEMA = pa.schema([
    pa.field("store_id", pa.string(), nullable=False),
    pa.field("purchase_id", pa.int64(), nullable=False),
    pa.field("member_id", pa.int64()),
    pa.field("product_id", pa.int64(), nullable=False),
    pa.field("quantity", pa.int32(), nullable=False),
    pa.field("weight_g", pa.int32()),
    pa.field("sales_minor", pa.int64(), nullable=False),
    pa.field("discount_minor", pa.int64(), nullable=False),
    pa.field("purchased_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("month", pa.string(), nullable=False),
])
COMMIT_ATTEMPTS = 8


def lake_uri(cfg: Mapping[str, Any]) -> str:
    """The table's location from config: an object-store URL as given, a path made absolute."""
    where = str(cfg["chain"]["lake"])
    if "://" in where:
        return where
    path = Path(where)
    return str(path if path.is_absolute() else ROOT / path)


def app_id(store_id: str) -> str:
    """The table's application-transaction id for a store's feed."""
    return f"shopgo-feed-{store_id}"


class Lake:
    """The chain's purchase-lines table at one location, keeping its commit log `log_retention_hours`."""

    EPOCH = datetime(1, 1, 2, tzinfo=timezone.utc)  # `history` over all time: from EPOCH until END
    END = datetime(9999, 12, 30, tzinfo=timezone.utc)

    def __init__(self, uri: str, log_retention_hours: int = 720) -> None:
        self.uri = uri
        self.properties = {"delta.logRetentionDuration": f"interval {log_retention_hours} hours"}

    def table(self) -> DeltaTable:
        """The table as it is now, made (empty) if it does not exist yet."""
        try:
            return DeltaTable(self.uri)
        except TableNotFoundError:
            if "://" not in self.uri:
                Path(self.uri).mkdir(parents=True, exist_ok=True)
            try:
                return DeltaTable.create(self.uri, SCHEMA, partition_by=["month"], name="purchase_lines",
                                         description="ShopGo: the chain's purchase lines, by month",
                                         configuration=self.properties)
            except Exception:  # another worker made it first (delta-rs raises a plain DeltaError)
                return DeltaTable(self.uri)

    def held(self, store_id: str) -> int:
        """The newest feed batch of the store the table holds (0: none)."""
        return self.table().transaction_version(app_id(store_id)) or 0

    def append(self, store_id: str, seq: int, lines: pa.Table) -> bool:
        """Commit the store's batch `seq` once; False when the table already holds it."""
        for _ in range(COMMIT_ATTEMPTS):
            table = self.table()
            if (table.transaction_version(app_id(store_id)) or 0) >= seq:
                return False
            try:
                write_deltalake(table, lines, mode="append", commit_properties=CommitProperties(
                    app_transactions=[Transaction(app_id=app_id(store_id), version=seq)],
                    custom_metadata={"shopgo.store": store_id, "shopgo.batch": str(seq)}))
                return True
            except CommitFailedError as exc:  # someone committed meanwhile: look again
                log.info("lake: batch %s/%s met a concurrent commit (%s); checking again", store_id, seq, exc)
        raise RuntimeError(f"lake: batch {store_id}/{seq} could not be committed after {COMMIT_ATTEMPTS} attempts")

    def delete_members(self, member_ids: Iterable[int]) -> int:
        """Delete every line of these members (a logical delete: `vacuum` removes the old files)."""
        ids = sorted({int(m) for m in member_ids})
        if not ids:
            return 0
        answer = self.table().delete(f"member_id IN ({', '.join(map(str, ids))})")
        return int(answer.get("num_deleted_rows", 0) or 0)

    def vacuum(self) -> list[str]:
        """Physically remove files no current version needs, expire the commit log past its
        retention (a checkpoint first, which cleaning up needs), and remove partition folders
        left empty; returns the files removed. Older versions can no longer be read afterwards:
        an erased member's lines must not come back by time travel."""
        table = self.table()
        if {k: table.metadata().configuration.get(k) for k in self.properties} != self.properties:
            table.alter.set_table_properties(self.properties)
            table = self.table()
        # Only files a commit removed (delete, compaction) go: a file a concurrent batch has written
        # but not yet committed is no commit's, so this never pulls one from under a writer.
        removed = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
        table.create_checkpoint()
        table.cleanup_metadata()
        if "://" not in self.uri:
            for folder in sorted(Path(self.uri).glob("month=*"), reverse=True):
                if folder.is_dir() and not any(folder.iterdir()):
                    shutil.rmtree(folder, ignore_errors=True)
        return removed

    def compact(self) -> dict[str, Any]:
        """Rewrite the many small files each feed batch makes into fewer large ones, in row groups of
        ROW_GROUP_LINES, so a reader (the offers engine on Dask) can take a large file in pieces."""
        return self.table().optimize.compact(writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_LINES))

    def delete_before(self, cutoff: datetime) -> int:
        """Delete lines older than `cutoff` (retention); `vacuum` then removes the files."""
        answer = self.table().delete(f"purchased_at < '{cutoff.isoformat()}'")
        return int(answer.get("num_deleted_rows", 0) or 0)

    def sales_by_store(self, since: datetime) -> dict[str, dict[str, int]]:
        """Per store since `since`: purchases, lines and sales (minor units), from the lake."""
        dataset = self.table().to_pyarrow_dataset()
        wanted = (pads.field("month") >= since.strftime("%Y-%m")) & \
            (pads.field("purchased_at") >= pa.scalar(since, pa.timestamp("us", tz="UTC")))
        rows = dataset.to_table(filter=wanted, columns=["store_id", "purchase_id", "sales_minor"])
        grouped = rows.group_by("store_id").aggregate([("purchase_id", "count_distinct"), ("purchase_id", "count"),
                                                       ("sales_minor", "sum")])
        return {r["store_id"]: {"purchases": r["purchase_id_count_distinct"], "lines": r["purchase_id_count"],
                                "sales_minor": r["sales_minor_sum"] or 0} for r in grouped.to_pylist()}

    def history(self, member_ids: Sequence[int], since: datetime, until: datetime) -> pd.DataFrame:
        """The members' lines in [since, until) in the offers engine's history columns
        (basket_id numbers each (store_id, purchase_id) once)."""
        dataset = self.table().to_pyarrow_dataset()
        wanted = ((pads.field("month") >= since.strftime("%Y-%m")) & (pads.field("month") <= until.strftime("%Y-%m"))
                  & (pads.field("purchased_at") >= pa.scalar(since, pa.timestamp("us", tz="UTC")))
                  & (pads.field("purchased_at") < pa.scalar(until, pa.timestamp("us", tz="UTC")))
                  & pads.field("member_id").isin(pa.array(sorted({int(m) for m in member_ids}), pa.int64())))
        frame = dataset.to_table(filter=wanted, columns=["store_id", "purchase_id", "member_id", "product_id",
                                                         "quantity", "sales_minor", "purchased_at"]).to_pandas()
        basket = frame.groupby(["store_id", "purchase_id"], sort=False).ngroup() if len(frame) else []
        return pd.DataFrame({"household_id": frame["member_id"].astype("int64"), "basket_id": basket,
                             "product_id": frame["product_id"].astype("int64"),
                             "quantity": frame["quantity"].astype("int64"),
                             "sales_value": frame["sales_minor"].astype("float64") / 100.0,
                             "timestamp": pd.to_datetime(frame["purchased_at"], utc=True)})


def maintain(lake: Lake, now: datetime, retention_days: int) -> str:
    """The nightly care of the lake: lines past retention deleted, small files compacted, vacuumed."""
    from datetime import timedelta

    purged = lake.delete_before(now - timedelta(days=retention_days))
    compacted = lake.compact()
    removed = lake.vacuum()
    return (f"{purged} lines past {retention_days} days deleted, {compacted.get('numFilesRemoved', 0)} small files "
            f"compacted into {compacted.get('numFilesAdded', 0)}, {len(removed)} old files removed")


def lines_table(store_id: str, purchases: pa.Table, lines: pa.Table) -> pa.Table:
    """A checked batch's purchases and lines (server/head_office/batch.py) as lake rows: each line
    with its purchase's id, member and time, repeated by Arrow, not by Python."""
    owner = pa.array(np.repeat(np.arange(purchases.num_rows), purchases.column("lines").to_numpy()))
    month = pc.strftime(purchases.column("purchased_at"), format="%Y-%m", locale="C")  # per purchase, not per line
    per_line = purchases.append_column("month", month).take(owner)
    return pa.Table.from_arrays([
        pa.repeat(pa.scalar(store_id, pa.string()), lines.num_rows), per_line.column("purchase_id"),
        per_line.column("member_id"), lines.column("product_id"), lines.column("quantity").cast(pa.int32()),
        lines.column("weight_g").cast(pa.int32()), lines.column("sales_minor"), lines.column("discount_minor"),
        per_line.column("purchased_at"), per_line.column("month")], schema=SCHEMA)


def open_lake(cfg: Mapping[str, Any]) -> Lake:
    """The lake config.toml names (SHOPGO_CHAIN_LAKE overrides it, as every key)."""
    return Lake(lake_uri(cfg), int(cfg["chain"]["log_retention_hours"]))
