"""`make bench`: run every benchmark in bench/ and print one table of all their figures.

Each benchmark module exposes `run(quick: bool) -> list[row]`; every figure is printed
beside the baseline that module measured in the same run (or the physical floor).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, print_table, row  # noqa: E402

ORDER = ["bench_import", "bench_scanner", "bench_handheld", "bench_sync_load", "bench_member_page",
         "bench_offers", "bench_purge", "bench_store_day"]


def modules() -> list[str]:
    """Benchmark modules present, in a sensible order."""
    present = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    return [m for m in ORDER if m in present] + [m for m in present if m not in ORDER]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller loads, for a fast look")
    parser.add_argument("--only", nargs="*", help="run only these modules (e.g. bench_import)")
    args = parser.parse_args()
    from db import localpg

    localpg.ensure_server()
    rows: list[Row] = []
    for name in modules():
        if args.only and name not in args.only:
            continue
        print(f"\n>>> {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            mod = importlib.import_module(f"bench.{name}")
            got = mod.run(quick=args.quick)
            print_table(got, name)
            rows.extend(got)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            rows.append(row(name, f"FAILED: {type(exc).__name__}: {exc}"[:90], float("nan"), "", "", float("nan"),
                            "", False))
        print(f"<<< {name} took {time.perf_counter() - t0:.0f} s", flush=True)
    print_table(rows, "ShopGo benchmarks (every figure beside its same-run baseline or physical floor)")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
