"""The offers engine over the chain's whole history, on Dask distributed.

The same plain functions a single store calls on its one history (server.offers.engine and
server.offers.offers) run here once per partition of households:

1. the lines (head office's Delta table, or any Delta table or Parquet folder of lines) are read
   by Dask and written once to a scratch folder as N partitions, household h in partition h % N;
2. each partition reports its products and newest time, then its part of the chain statistics
   (recommend.summarise); the parts are merged pairwise on the workers into one ChainStats;
3. each partition is scored against those shared statistics: personal offers for its members and a
   response score for every campaign; the results come back as two tables.

A worker holds one partition at a time, so its memory follows the partition size (about
`partition_lines` lines), not the chain's. Workers are separate processes started by spawn; every
entry point that starts a cluster (the CLI, the benchmark) is guarded and closes it on every path.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from server.offers.engine import partition_summary, target_households
from server.offers.history import REQUIRED_COLUMNS, HistoryError, before, check_history
from server.offers.offers import OfferProposal, plan_offers
from server.offers.policy import OfferPolicy
from server.offers.profile import value_segments
from server.offers.recommend import ChainStats, EngineParams, PartitionSummary, chain_stats, merge_summaries

log = logging.getLogger(__name__)
ENGINE_COLUMNS = [*REQUIRED_COLUMNS, "discount"]
LAKE_COLUMNS = ["store_id", "purchase_id", "member_id", "product_id", "quantity", "sales_minor", "discount_minor",
                "purchased_at"]
OFFER_COLUMNS = [f for f in OfferProposal.__dataclass_fields__]
TARGET_COLUMNS = ["campaign_id", "household_id", "score", "propensity"]
PROFILE_COLUMNS = ["household_id", "lifecycle", "monetary_pence"]


@dataclass(frozen=True)
class ChainSettings:
    """`[chain]` keys for the engine: where the cluster is and how the work is cut."""

    scheduler: str = ""  # "tcp://host:8786" for a running cluster; empty: a LocalCluster in this process
    workers: int = 0  # LocalCluster workers; 0 = one per core
    worker_memory: str = "4GB"  # LocalCluster memory limit per worker
    partition_lines: int = 500_000  # about this many lines per partition of households
    scratch: str = ""  # where partitions are written (a folder every worker can read); empty: a temp folder

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ChainSettings:
        """The engine's keys of config.toml's [chain] (checked by shop.config; the lake belongs to the data plane)."""
        table = cfg.get("chain", {})
        return cls(**{k: table[k] for k in cls.__dataclass_fields__ if k in table})


@dataclass(frozen=True)
class ChainResult:
    """Personal offers (OFFER_COLUMNS), campaign response scores (TARGET_COLUMNS) and every household's
    lifecycle stage and value segment (ranked chain-wide) for the chain."""

    offers: pd.DataFrame
    targets: pd.DataFrame
    profiles: pd.DataFrame
    households: int
    lines: int
    partitions: int


@contextmanager
def chain_client(settings: ChainSettings = ChainSettings()) -> Iterator[Any]:
    """A Dask client: of the scheduler named in settings, or of a LocalCluster closed on every exit path."""
    from distributed import Client, LocalCluster

    if settings.scheduler:
        with Client(settings.scheduler, timeout="10s") as client:
            yield client
        return
    import dask

    workers = settings.workers or os.cpu_count() or 1
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # each shuffle's start and end is not news
    # workers start as fresh interpreters: nothing forks a process that has loaded deltalake's threads
    spawn = dask.config.set({"distributed.worker.multiprocessing-method": "spawn"})
    with spawn, LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                             memory_limit=settings.worker_memory, dashboard_address=":0") as cluster, \
            Client(cluster) as client:  # dashboard_address ":0": any free port, never a clash on 8787
        yield client


def line_files(source: str) -> list[str]:
    """The Parquet files holding a Delta table's current lines, or a Parquet folder's or file's."""
    path = Path(source)
    if (path / "_delta_log").is_dir() or "://" in source:
        from deltalake import DeltaTable

        return list(DeltaTable(source).file_uris())
    if path.is_file():
        return [str(path)]
    files = sorted(str(p) for p in path.rglob("*.parquet"))
    if not files:
        raise HistoryError(f"{source} holds no Delta table and no Parquet files; give the lake or a folder of lines")
    return files


def engine_lines(frame: pd.DataFrame, exponent: int) -> pd.DataFrame:
    """Lines in the engine's columns: lake rows (member_id, sales_minor, ...) are translated, member-less
    lines dropped; a basket is a (store_id, purchase_id) pair hashed to one 64-bit id."""
    if "member_id" not in frame.columns:
        return check_history(frame)[ENGINE_COLUMNS]
    rows = frame.loc[frame["member_id"].notna()]
    store = pd.util.hash_array(rows["store_id"].astype("string").to_numpy(dtype=object))
    purchase = rows["purchase_id"].to_numpy(dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    scale = float(10 ** exponent)
    return pd.DataFrame({
        "household_id": rows["member_id"].to_numpy(dtype=np.int64),
        "basket_id": (store ^ purchase).view(np.int64),
        "product_id": rows["product_id"].to_numpy(dtype=np.int64),
        "quantity": rows["quantity"].to_numpy(dtype=np.int64),
        "sales_value": rows["sales_minor"].to_numpy(dtype=np.float64) / scale,
        "timestamp": pd.to_datetime(rows["purchased_at"], utc=True).astype("datetime64[us, UTC]"),
        "discount": rows["discount_minor"].to_numpy(dtype=np.float64) / scale,
    })


def _to_engine(frame: pd.DataFrame, exponent: int, as_of: pd.Timestamp, partitions: int) -> pd.DataFrame:
    rows = before(engine_lines(frame, exponent), as_of)
    return rows.assign(bucket=(rows["household_id"] % partitions).astype(np.int64))


def write_partitions(client: Any, source: str, as_of: pd.Timestamp, exponent: int, folder: Path,
                     partition_lines: int) -> tuple[list[str], int]:
    """Write the lines before as_of as household partitions (h in partition h % N); their files and N."""
    import dask.dataframe as dd
    import pyarrow.dataset as pads

    files = line_files(source)
    lake = dd.read_parquet(files, split_row_groups=True)  # a row group at a time: a big file is read in pieces
    sample = lake._meta  # the empty frame of the files' columns and types
    columns = [c for c in (LAKE_COLUMNS if "member_id" in sample.columns else ENGINE_COLUMNS) if c in sample.columns]
    lake = lake[columns]
    lines = pads.dataset(files, format="parquet").count_rows()  # from the files' footers, not their data
    n = max(2 * len(client.scheduler_info()["workers"]), math.ceil(lines / partition_lines))
    meta = _to_engine(sample[columns].iloc[:0], exponent, as_of, n)
    engine = lake.map_partitions(_to_engine, exponent, as_of, n, meta=meta)
    # known divisions: partition i holds exactly the households of bucket i
    by_household = engine.set_index("bucket", divisions=list(range(n)) + [n])
    out = folder / "households"
    client.compute(by_household.to_parquet(str(out), write_index=False, compute=False,
                                           name_function=lambda i: f"part-{i:06d}.parquet")).result()
    files = sorted(str(p) for p in out.glob("part-*.parquet"))
    if len(files) != n:
        raise RuntimeError(f"expected {n} partition files in {out}, found {len(files)}")
    return files, n


def _read(path: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(path, columns=list(columns) if columns else None)


def scope_task(path: str) -> tuple[np.ndarray, np.datetime64 | None, int]:
    """A partition's products, newest line time and line count."""
    frame = _read(path, ["product_id", "timestamp"])
    if frame.empty:
        return np.zeros(0, dtype=np.int64), None, 0
    return (np.unique(frame["product_id"].to_numpy(np.int64)),
            frame["timestamp"].max().to_datetime64().astype("datetime64[ns]"), len(frame))


def summary_task(path: str, product_ids: np.ndarray, latest: np.datetime64, params: EngineParams) -> PartitionSummary:
    """A partition's part of the chain statistics."""
    rows = check_history(_read(path))
    if rows.empty:
        return PartitionSummary.empty(len(product_ids), params)
    return partition_summary(rows, product_ids, latest, params)


def merge_task(a: PartitionSummary, b: PartitionSummary, pool_size: int) -> PartitionSummary:
    """Two partial summaries as one (for the pairwise reduction)."""
    return merge_summaries([a, b], pool_size)


def score_task(path: str, stats: ChainStats, as_of: pd.Timestamp, policy: OfferPolicy, params: EngineParams,
               members: pd.DataFrame | None, campaigns: Mapping[int, np.ndarray],
               redemptions: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A partition's personal offers, campaign scores and profiles, against the chain's statistics."""
    rows = check_history(_read(path))
    if rows.empty:
        return (pd.DataFrame(columns=OFFER_COLUMNS), pd.DataFrame(columns=TARGET_COLUMNS),
                pd.DataFrame(columns=PROFILE_COLUMNS))
    households = np.unique(rows["household_id"].to_numpy())
    if members is None:
        members = pd.DataFrame({"household_id": households, "consent": True, "live_offers": 0})
    else:
        members = members.loc[members["household_id"].isin(households)]
    proposals, profiles = plan_offers(rows, members, as_of, policy, params, stats)
    offers = pd.DataFrame([asdict(p) for p in proposals], columns=OFFER_COLUMNS)
    targets = [target_households(rows, products, as_of, params, stats, redemptions).assign(campaign_id=campaign_id)
               for campaign_id, products in campaigns.items()]
    target_frame = pd.concat(targets)[TARGET_COLUMNS] if targets else pd.DataFrame(columns=TARGET_COLUMNS)
    return offers, target_frame, profiles[PROFILE_COLUMNS]


def _by_bucket(frame: pd.DataFrame | None, n: int) -> list[pd.DataFrame | None]:
    if frame is None:
        return [None] * n
    bucket = frame["household_id"].to_numpy(np.int64) % n
    return [frame.loc[bucket == i] for i in range(n)]


def run_chain(client: Any, source: str, as_of: pd.Timestamp, *, exponent: int = 2,
              policy: OfferPolicy = OfferPolicy(), params: EngineParams = EngineParams(),
              members: pd.DataFrame | None = None, campaigns: Mapping[int, Sequence[int]] | None = None,
              redemptions: pd.DataFrame | None = None, partition_lines: int = 500_000, scratch: str = "",
              progress: Callable[[str], None] | None = None) -> ChainResult:
    """Personal offers and campaign scores for every household of the lines at `source`, on the client's cluster."""
    from distributed import as_completed

    say = progress or (lambda _: None)
    folder = Path(tempfile.mkdtemp(prefix="shopgo-chain-", dir=scratch or None))
    try:
        say("writing the lines as partitions of households")
        files, n = write_partitions(client, source, as_of, exponent, folder, partition_lines)
        say(f"{len(files)} partitions; reading products and times")
        scopes = client.gather(client.map(scope_task, files, pure=False))
        lines = sum(s[2] for s in scopes)
        if not lines:
            raise HistoryError(f"{source} holds no lines before {as_of:%Y-%m-%d}")
        product_ids = np.unique(np.concatenate([s[0] for s in scopes]))
        latest = max(s[1] for s in scopes if s[1] is not None)
        say(f"{lines:,} lines, {len(product_ids):,} products; chain statistics")
        ids = client.scatter(product_ids, broadcast=True)
        parts = client.map(summary_task, files, product_ids=ids, latest=latest, params=params, pure=False)
        while len(parts) > 1:  # pairwise on the workers; the client never holds every summary
            pairs = [client.submit(merge_task, a, b, params.pool_size, pure=False)
                     for a, b in zip(parts[0::2], parts[1::2])]
            parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
        merged = parts[0].result()
        stats = client.scatter(chain_stats([merged], product_ids, params), broadcast=True)
        say("scoring every partition")
        wanted = {int(c): np.asarray(sorted({int(p) for p in ps}), dtype=np.int64) for c, ps in (campaigns or {}).items()}
        member_parts, redemption_parts = _by_bucket(members, n), _by_bucket(redemptions, n)
        # each result is fetched as its partition finishes and its future dropped at once, so no
        # worker keeps every partition's offers and scores until the end
        pending = as_completed([client.submit(score_task, f, stats, as_of, policy, params, member_parts[i], wanted,
                                              redemption_parts[i], pure=False) for i, f in enumerate(files)])
        offers, targets, profiles = [], [], []
        for done, future in enumerate(pending, 1):
            o, t, p = future.result()
            future.release()
            offers.append(o)
            targets.append(t)
            profiles.append(p)
            if done % max(1, len(files) // 10) == 0 or done == len(files):
                say(f"scored {done}/{len(files)} partitions")
        profile = pd.concat(profiles, ignore_index=True).sort_values("household_id", ignore_index=True)
        profile["segment"] = value_segments(profile["monetary_pence"].to_numpy(), policy)  # ranked chain-wide
        return ChainResult(offers=pd.concat(offers, ignore_index=True), targets=pd.concat(targets, ignore_index=True),
                           profiles=profile, households=len(profile), lines=lines, partitions=len(files))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
