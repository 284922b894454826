"""Helpers every benchmark shares: timing, percentiles and the printed table."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Iterable

Row = dict[str, Any]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run fn once; return (seconds, result)."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def row(benchmark: str, figure: str, value: float | str, unit: str, baseline: str, baseline_value: float | str,
        target: str, ok: bool | None) -> Row:
    """One line of a benchmark table (a value given as text, such as ">= 4,000", is printed as it is)."""
    return {"benchmark": benchmark, "figure": figure, "value": value, "unit": unit, "baseline": baseline,
            "baseline_value": baseline_value, "target": target, "ok": ok}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def print_table(rows: Iterable[Row], title: str = "") -> None:
    """Print rows as an aligned table with a pass/fail column."""
    rows = list(rows)
    head = ["benchmark", "figure", "value", "unit", "baseline (same run)", "baseline value", "target", "ok"]
    body = [[r["benchmark"], r["figure"], _fmt(r["value"]), r["unit"], r["baseline"], _fmt(r["baseline_value"]),
             r["target"], {True: "yes", False: "NO", None: "-"}[r["ok"]]] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    if title:
        print(f"\n== {title} ==")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)))


def median(values: list[float]) -> float:
    """The median, nan for none."""
    return statistics.median(values) if values else float("nan")


def cpu_ticks() -> tuple[int, int]:
    """(stolen, total) CPU ticks of the whole machine so far, from /proc/stat ((0, 0) where there is none).

    Steal is time the hypervisor gave this VM's CPUs to someone else: a latency tail measured
    while it is high says more about the host than about the code.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return fields[7], sum(fields)


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Percent of CPU time stolen by the hypervisor between two `cpu_ticks()` readings."""
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0
