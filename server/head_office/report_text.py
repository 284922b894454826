"""The campaign report as a plain-text table, for the CLI and the demo."""
from __future__ import annotations

from typing import Any, Mapping

from shop.money import format_money


def _money(minor: float | None) -> str:
    return "-" if minor is None else format_money(minor, symbol=False)


def format_report(report: Mapping[str, Any]) -> str:
    """Per store and overall: audience, redemptions, budget, mean spend per group and the lift interval."""
    b = report["budget"]
    lines = [f"campaign {report['campaign_id']} v{report['version']} {report['name']!r} ({report['status']}); "
             f"window {report['window'][0]} .. {report['window'][1]}",
             f"budget: {b['used']:,} of {b['amount']:,} {b['kind']} used" if b["amount"]
             else f"budget: {b['used']:,} {b['kind']} used (no limit)",
             f"{'store':<6} {'exposed':>8} {'holdout':>8} {'redeemed':>8} {'discount':>10} {'exp.mean':>9} "
             f"{'hold.mean':>9} {'lift':>8} {'95% CI':>21}"]
    for line in [*report["stores"], report["overall"]]:
        lift = line["lift"]
        ci = "-" if lift["low"] is None else f"[{_money(lift['low'])}, {_money(lift['high'])}]"
        lines.append(f"{line['store_id']:<6} {line['exposed']:>8} {line['holdout']:>8} {line['redemptions']:>8} "
                     f"{_money(line['discount_minor']):>10} {_money(lift['exposed_mean']):>9} "
                     f"{_money(lift['holdout_mean']):>9} {_money(lift['lift']):>8} {ci:>21}")
    lines.append(f"lift = {report['method']}; amounts in major units")
    return "\n".join(lines)
