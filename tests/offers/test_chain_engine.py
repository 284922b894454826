"""The offers engine on Dask over a Delta table of the chain's lines: the same offers as in one process,
a worker killed mid-run changes nothing, and the CLI runs on a local cluster or a scheduler's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from server.head_office.lake import SCHEMA
from server.offers.chain import ChainSettings, chain_client, engine_lines, run_chain
from server.offers.engine import target_households
from server.offers.evaluate import complete_journey_history
from server.offers.history import before
from server.offers.offers import build_offers
from server.offers.recommend import EngineParams
from server.simulate.processes import free_port

AS_OF = pd.Timestamp("2017-09-01", tz="UTC")
PARAMS = EngineParams(pool_size=80)  # smaller than the chain, so the pool is chosen across partitions
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two stores' lines of 160 Complete Journey households, as head office's Delta table holds them."""
    history = complete_journey_history(160)
    stamps = history["timestamp"].dt.tz_convert("UTC")
    rows = pa.table({
        "store_id": np.where(history["household_id"] % 2, "S001", "S002"),
        "purchase_id": history["basket_id"].to_numpy(), "member_id": history["household_id"].to_numpy(),
        "product_id": history["product_id"].to_numpy(), "quantity": history["quantity"].to_numpy(np.int32),
        "weight_g": pa.nulls(len(history), pa.int32()),
        "sales_minor": np.round(history["sales_value"].to_numpy() * 100).astype(np.int64),
        "discount_minor": np.round(history["discount"].to_numpy() * 100).astype(np.int64),
        "purchased_at": stamps.to_numpy(), "month": stamps.dt.strftime("%Y-%m").to_numpy(),
    }).cast(SCHEMA)
    path = str(tmp_path_factory.mktemp("lake") / "lines")
    for part in range(3):  # several commits, as the feed writes them
        write_deltalake(path, rows.slice(part * len(history) // 3, len(history) // 3 + 1), mode="append",
                        partition_by=["month"])
    return path


def in_process(lake: str, products: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The engine in one process with pandas on the whole table: offers and targets."""
    from deltalake import DeltaTable

    rows = before(engine_lines(DeltaTable(lake).to_pandas(), 2), AS_OF)
    members = pd.DataFrame({"household_id": np.sort(rows["household_id"].unique()), "consent": True, "live_offers": 0})
    offers = pd.DataFrame([asdict(o) for o in build_offers(rows, members, AS_OF, params=PARAMS)])
    return offers, target_households(rows, products, AS_OF, PARAMS)


def sorted_offers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["household_id", "product_id"]).reset_index(drop=True)


def campaign(lake: str) -> list[int]:
    from deltalake import DeltaTable

    counts = DeltaTable(lake).to_pandas(columns=["product_id"])["product_id"].value_counts()
    return [int(p) for p in counts.index[:4]]


def test_dask_and_one_process_give_the_same_offers_and_scores(lake: str, tmp_path: Path) -> None:
    products = campaign(lake)
    offers, targets = in_process(lake, products)
    with chain_client(ChainSettings(workers=2, worker_memory="1GB")) as client:
        result = run_chain(client, lake, AS_OF, params=PARAMS, campaigns={5: products}, partition_lines=10_000,
                           scratch=str(tmp_path))
    assert result.partitions >= 4 and result.households == len(targets) == 159  # one starts after as-of
    assert len(offers) > 300
    pd.testing.assert_frame_equal(sorted_offers(result.offers)[offers.columns], sorted_offers(offers),
                                  check_dtype=False)
    chain = result.targets.sort_values("household_id").reset_index(drop=True)
    assert (chain["campaign_id"] == 5).all()
    np.testing.assert_allclose(chain["score"].astype(float), targets["score"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(chain["household_id"].astype(int), targets["household_id"])
    assert not list(tmp_path.iterdir())  # the partitions' scratch folder is gone


def test_a_worker_killed_mid_run_is_survived_with_the_same_result(lake: str) -> None:
    products = campaign(lake)
    with chain_client(ChainSettings(workers=2, worker_memory="1GB")) as client:
        calm = run_chain(client, lake, AS_OF, params=PARAMS, campaigns={5: products}, partition_lines=5_000)
        killed: list[int] = []

        def kill_one(step: str) -> None:
            if step.startswith("scored") and not killed:  # tasks of other partitions are in flight
                pid = next(iter(client.run(os.getpid).values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        rough = run_chain(client, lake, AS_OF, params=PARAMS, campaigns={5: products}, partition_lines=5_000,
                          progress=kill_one)
        assert killed and killed[0] not in client.run(os.getpid).values()
    pd.testing.assert_frame_equal(sorted_offers(rough.offers), sorted_offers(calm.offers))
    pd.testing.assert_frame_equal(rough.targets.sort_values("household_id").reset_index(drop=True),
                                  calm.targets.sort_values("household_id").reset_index(drop=True))


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and one `dask worker` on loopback, stopped afterwards."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=logs, stderr=subprocess.STDOUT)]
    procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--memory-limit", "1GB", "--no-dashboard"], stdout=logs, stderr=subprocess.STDOUT))
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="2s") as client:
                    client.wait_for_workers(1, timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
        logs.close()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "shopgo"), "offers", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


@pytest.mark.parametrize("where", ["local", "scheduler"])
def test_the_cli_runs_with_no_cluster_configured_and_on_a_scheduler(where: str, lake: str, tmp_path: Path,
                                                                     request: pytest.FixtureRequest) -> None:
    env = {"SHOPGO_CHAIN_WORKERS": "1", "SHOPGO_CHAIN_WORKER_MEMORY": "1GB"}
    if where == "scheduler":
        env["SHOPGO_CHAIN_SCHEDULER"] = request.getfixturevalue("dask_scheduler")
        env["SHOPGO_CHAIN_SCRATCH"] = str(tmp_path)
    products = tmp_path / "products.csv"
    pd.DataFrame({"product_id": campaign(lake)}).to_csv(products, index=False)
    out = tmp_path / "out"
    done = run_cli("chain", "--history", lake, "--as-of", "2017-09-01", "--campaign", f"9={products}",
                   "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert ("running on tcp://127.0.0.1" in done.stderr) == (where == "scheduler")
    offers, targets = pd.read_csv(out / "offers.csv"), pd.read_csv(out / "targets.csv")
    assert offers["household_id"].nunique() > 100 and set(offers["kind"]) <= {"replenish", "discover", "winback",
                                                                             "reward"}
    assert len(targets) == 159 and set(targets["campaign_id"]) == {9}


def test_the_cli_refuses_a_folder_without_lines(tmp_path: Path) -> None:
    done = run_cli("chain", "--history", str(tmp_path), "--as-of", "2017-09-01", "--out", str(tmp_path / "o"),
                   env={"SHOPGO_CHAIN_WORKERS": "1", "SHOPGO_CHAIN_WORKER_MEMORY": "1GB"})
    assert done.returncode != 0 and "holds no Delta table and no Parquet files" in done.stderr
    assert not (tmp_path / "o").exists()
