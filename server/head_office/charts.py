"""Charts drawn as SVG on the server: a campaign's lift per store, and the chain's sales by store."""
from __future__ import annotations

from typing import Any, Mapping

from markupsafe import Markup, escape

COLOURS = {"exposed": "#1f6feb", "holdout": "#9aa4af"}


def _ceiling(value: float) -> float:
    """A round number at or above value for the top of the axis."""
    if value <= 0:
        return 100.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for mult in (1, 2, 2.5, 5, 10):
        if value <= mult * step:
            return mult * step
    return 10 * step


def lift_chart(report: Mapping[str, Any], width: int = 720, height: int = 260) -> Markup:
    """Grouped bars per store (and overall): mean spend per member, exposed beside hold-out."""
    lines = [*report["stores"], report["overall"]]
    left, right, top, bottom = 70, 16, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _ceiling(max([max(x["lift"]["exposed_mean"], x["lift"]["holdout_mean"]) for x in lines] + [0.0]))
    slot = plot_w / max(1, len(lines))
    bar = min(48.0, slot * 0.32)
    title = f"Mean spend per member on the campaign's products: exposed vs hold-out ({report['name']})"
    out = [f'<svg class="chart" id="lift-chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-labelledby="lift-title" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="lift-title">{escape(title)}</title>']
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value / 100:,.2f}</text>')
    for i, line in enumerate(lines):
        x0 = left + slot * i + slot / 2 - bar
        for j, grp in enumerate(("exposed", "holdout")):
            value = line["lift"][f"{grp}_mean"]
            h = plot_h * value / peak
            x, y = x0 + j * bar, top + plot_h - h
            count = line[grp]
            out.append(f'<rect class="bar-{grp}" x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                       f'fill="{COLOURS[grp]}"><title>{escape(line["store_id"])} {grp}: {value / 100:,.2f} '
                       f'per member ({count} members)</title></rect>')
        out.append(f'<text x="{left + slot * i + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                   f'font-size="12">{escape(line["store_id"])}</text>')
    out.append(f'<rect x="{left}" y="6" width="12" height="12" fill="{COLOURS["exposed"]}"/>'
               f'<text x="{left + 16}" y="16" font-size="12">exposed</text>'
               f'<rect x="{left + 90}" y="6" width="12" height="12" fill="{COLOURS["holdout"]}"/>'
               f'<text x="{left + 106}" y="16" font-size="12">hold-out</text></svg>')
    return Markup("".join(out))


def sales_chart(stores: list[Mapping[str, Any]], days: int, width: int = 720, height: int = 240) -> Markup:
    """One bar per store: its sales in the lake over the last `days` days."""
    left, right, top, bottom = 80, 16, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _ceiling(max([float(s["sales_minor"]) for s in stores] + [0.0]))
    slot = plot_w / max(1, len(stores))
    bar = min(64.0, slot * 0.6)
    out = [f'<svg class="chart" id="sales-chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-labelledby="sales-title" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="sales-title">Sales by store over the last {days} days</title>']
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{peak * i / 4 / 100:,.0f}</text>')
    for i, s in enumerate(stores):
        h = plot_h * float(s["sales_minor"]) / peak
        x = left + slot * i + (slot - bar) / 2
        out.append(f'<rect class="bar-sales" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                   f'fill="{COLOURS["exposed"]}"><title>{escape(s["store_id"])}: {s["sales_minor"] / 100:,.2f} in '
                   f'{s["purchases"]:,} purchases</title></rect>'
                   f'<text x="{left + slot * i + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                   f'font-size="12">{escape(s["store_id"])}</text>')
    out.append("</svg>")
    return Markup("".join(out))
