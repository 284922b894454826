"""Offers engine benchmark: quality and speed against TIFU-KNN in the same run, scaling and memory.

Run: python bench/bench_offers.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.offers.baselines import tifu_knn  # noqa: E402
from server.offers.evaluate import basket_metrics, complete_journey_log, history_matrix, holdout_split  # noqa: E402
from server.offers.history import BasketLog  # noqa: E402
from server.offers.recommend import EngineParams, recommend  # noqa: E402

SCALE = 10


def replicate(log: BasketLog, times: int) -> BasketLog:
    """The log with every household copied `times` times under new ids (baskets stay grouped)."""
    n_b = len(log.basket_household)
    offset = int(log.household_ids.max()) + 1
    count = np.tile(log.count, times)
    return BasketLog(
        household_ids=np.concatenate([log.household_ids + i * offset for i in range(times)]),
        product_ids=log.product_ids,
        start=np.concatenate(([0], np.cumsum(count)[:-1])),
        count=count,
        basket_household=np.concatenate([log.basket_household + i * log.n_households for i in range(times)]),
        basket_position=np.tile(log.basket_position, times),
        basket_time=np.tile(log.basket_time, times),
        items=sp.vstack([log.items] * times, format="csr"),
    )


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """Result, wall-clock and CPU seconds of one call (no tracing, so the time is not inflated)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - started, time.process_time() - cpu


def peak_mib(fn, *args) -> float:  # type: ignore[no-untyped-def]
    """Peak memory (MiB) allocated during one call, traced by tracemalloc (numpy buffers included)."""
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def run(quick: bool = False) -> list[dict]:
    """Measure and return the benchmark rows."""
    log = complete_journey_log(800 if quick else None)
    split = holdout_split(log)
    k = 10
    history = history_matrix(split.train)
    tifu_m = basket_metrics(tifu_knn(split.train, k), split.truth, history)
    eng_m = basket_metrics(recommend(split.train, k).codes, split.truth, history)
    # every slot a discover product: the most explore recall these candidates can give (at any recall)
    all_new = basket_metrics(recommend(split.train, k, EngineParams(explore_weight=1e6)).codes, split.truth, history)
    # speed and scale: every household on its whole history, as the nightly job would score them
    _, tifu_s, tifu_cpu = timed(tifu_knn, log, k)
    _, eng_s, eng_cpu = timed(recommend, log, k)
    big = replicate(log, SCALE)
    _, big_s, big_cpu = timed(recommend, big, k)
    tifu_mem, eng_mem, big_mem = peak_mib(tifu_knn, log, k), peak_mib(recommend, log, k), peak_mib(recommend, big, k)
    n = log.n_households

    def row(name: str, figure: str, value: float, unit: str, baseline: str, base_value: float,
            target: str, ok: bool) -> dict:
        return {"benchmark": name, "figure": figure, "value": value, "unit": unit, "baseline": baseline,
                "baseline_value": base_value, "target": target, "ok": bool(ok)}

    return [
        row("quality", "Recall@10", eng_m["recall"], "", "TIFU-KNN", tifu_m["recall"], "> baseline",
            eng_m["recall"] > tifu_m["recall"]),
        row("quality", "NDCG@10", eng_m["ndcg"], "", "TIFU-KNN", tifu_m["ndcg"], "> baseline",
            eng_m["ndcg"] > tifu_m["ndcg"]),
        row("quality", "explore recall@10", eng_m["recall_explore"], "", "TIFU-KNN", tifu_m["recall_explore"],
            ">= 3x baseline", eng_m["recall_explore"] >= 3 * tifu_m["recall_explore"]),
        row("quality", "explore recall@10, all slots discover", all_new["recall_explore"], "", "TIFU-KNN",
            tifu_m["recall_explore"], "report (ceiling)", True),
        row("quality", "Recall@10, all slots discover", all_new["recall"], "", "TIFU-KNN", tifu_m["recall"],
            "report (ceiling)", True),
        row("speed", f"score {n} households", eng_s, "s", "TIFU-KNN", tifu_s, "< baseline and <= 10 s",
            eng_s < tifu_s and eng_s <= 10.0),
        row("speed", f"score {n} households, CPU", eng_cpu, "s", "TIFU-KNN", tifu_cpu, "< baseline",
            eng_cpu < tifu_cpu),
        row("scaling", f"score {SCALE}x households ({SCALE * n})", big_s, "s", f"1x ({n})", eng_s,
            f"<= {12 * eng_s:.1f} s (12x)", big_s <= 12 * eng_s),
        row("scaling", f"score {SCALE}x households, CPU", big_cpu, "s", f"1x ({n})", eng_cpu,
            f"<= {12 * eng_cpu:.1f} s (12x)", big_cpu <= 12 * eng_cpu),
        row("memory", f"peak traced, {SCALE}x households", big_mem, "MiB", "1x engine", eng_mem,
            "bounded (shards)", big_mem <= 12 * max(eng_mem, 1.0)),
        row("memory", "peak traced, 1x households", eng_mem, "MiB", "TIFU-KNN", tifu_mem, "report", True),
    ]


def format_rows(rows: list[dict]) -> str:
    """The rows as a text table."""
    head = f"{'benchmark':<9} {'figure':<38} {'value':>10} {'unit':<4} {'baseline':<12} {'base':>10}  {'target':<24} ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['benchmark']:<9} {r['figure']:<38} {r['value']:>10.4f} {r['unit']:<4} "
                     f"{r['baseline']:<12} {r['baseline_value']:>10.4f}  {r['target']:<24} "
                     f"{'yes' if r['ok'] else 'NO'}")
    return "\n".join(lines)


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="800 households instead of all 2,469")
    args = parser.parse_args()
    print(format_rows(run(quick=args.quick)))


if __name__ == "__main__":
    main()
