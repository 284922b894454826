"""Charts drawn as SVG on the server for both consoles: no script, no network, readable by screen readers.

Two shapes: bars in groups (one bar per series in each group: spend per month, trips per hour
today beside a week ago, spend exposed beside hold-out per store) and intervals (a value with
its low and high per row: the lift per store). The value axis comes from `axis`: round steps
in whole units (a minor unit of money at least), zero always on it, labelled by the caller's
formatter, so money reads as money.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from markupsafe import Markup, escape

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
Format = Callable[[int], str]


def axis(low: float, high: float, ticks: int = 4) -> list[int]:
    """Round tick values (1, 2 or 5 times 10^n apart, whole units) from at or below min(low, 0) to at or
    above max(high, 0); zero is always a tick."""
    lo, hi = min(low, 0.0), max(high, 0.0)
    wanted = (hi - lo) / ticks
    step = 1
    while not any(step * m >= wanted for m in (1, 2, 5)):
        step *= 10
    step *= next(m for m in (1, 2, 5) if step * m >= wanted)
    first, last = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return list(range(first, max(last, first + step) + 1, step))


def month_label(key: str) -> str:
    """'2025-03' -> 'Mar 25'."""
    return f"{MONTHS[int(key[5:7]) - 1]} {key[2:4]}"


@dataclass(frozen=True)
class Series:
    """One bar in every group: its legend label, its CSS class, its values and (optionally) each bar's tooltip."""

    label: str
    values: Sequence[float]
    css: str = "bar"
    tips: Sequence[str] | None = None


def _open(chart_id: str | None, width: int, height: int, title: str, desc: str) -> list[str]:
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    return [f'<svg class="chart"{ident} viewBox="0 0 {width} {height}" width="100%" role="img" '
            f'aria-label="{escape(desc or title)}" xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]


def grouped_bars(groups: Sequence[str], series: Sequence[Series], fmt: Format, title: str, desc: str = "",
                 chart_id: str | None = None, label_every: int = 1, width: int = 760, height: int = 240,
                 legend: bool = True, empty: str = "Nothing yet") -> Markup:
    """Bars per group, the series side by side, with a value axis, gridlines, tooltips and (for more than one
    series, unless the page has its own) a legend."""
    legend = legend and len(series) > 1
    left, right, top, bottom = 72, 12, 26 if legend else 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = axis(0, max((v for s in series for v in s.values), default=0))
    peak = ticks[-1]
    slot = plot_w / max(1, len(groups))
    bar_w = slot * 0.76 / len(series)
    parts = _open(chart_id, width, height, title, desc)
    for value in ticks:
        y = top + plot_h - plot_h * value / peak
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    for i, group in enumerate(groups):
        x0 = left + i * slot + slot * 0.12
        for j, s in enumerate(series):
            v = s.values[i] if i < len(s.values) else 0
            h = plot_h * max(v, 0) / peak
            tip = s.tips[i] if s.tips else f"{group} {s.label}: {fmt(round(v))}"
            parts.append(f'<rect class="{escape(s.css)}" x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" rx="1.5"><title>{escape(tip)}</title></rect>')
        if i % label_every == 0 or i == len(groups) - 1:
            parts.append(f'<text class="axis" x="{left + i * slot + slot / 2:.1f}" y="{height - 12}" '
                         f'text-anchor="middle">{escape(group)}</text>')
    parts.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    if not any(v for s in series for v in s.values):
        parts.append(f'<text class="axis empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
                     f'text-anchor="middle">{escape(empty)}</text>')
    if legend:
        x = left
        for s in series:
            parts.append(f'<rect class="{escape(s.css)} key" x="{x}" y="4" width="12" height="12" rx="2"/>'
                         f'<text class="axis" x="{x + 16}" y="14">{escape(s.label)}</text>')
            x += 24 + 7 * len(s.label)
    parts.append("</svg>")
    return Markup("".join(parts))


def intervals(rows: Sequence[tuple[str, float, float | None, float | None]], fmt: Format, title: str, desc: str = "",
              chart_id: str | None = None, width: int = 760, row_h: int = 34) -> Markup:
    """Per row (label, value, low, high): a dot at the value and a line from low to high, against zero."""
    left, right, top, bottom = 110, 24, 10, 30
    height = top + bottom + row_h * max(1, len(rows))
    plot_w = width - left - right
    known = [x for _, v, lo, hi in rows for x in (v, lo, hi) if x is not None]
    ticks = axis(min(known, default=0), max(known, default=0))
    lo_t, hi_t = ticks[0], ticks[-1]

    def xpos(value: float) -> float:
        return left + plot_w * (value - lo_t) / (hi_t - lo_t)

    parts = _open(chart_id, width, height, title, desc)
    for value in ticks:
        x = xpos(value)
        parts.append(f'<line class="{"baseline" if value == 0 else "grid"}" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" '
                     f'y2="{height - bottom}"/><text class="axis" x="{x:.1f}" y="{height - 10}" '
                     f'text-anchor="middle">{escape(fmt(value))}</text>')
    for i, (label, value, low, high) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        parts.append(f'<text class="axis label" x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        span = f"{fmt(round(low))} to {fmt(round(high))}" if low is not None and high is not None else "no interval"
        if low is not None and high is not None:
            parts.append(f'<line class="whisker" x1="{xpos(low):.1f}" x2="{xpos(high):.1f}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<circle class="point" cx="{xpos(value):.1f}" cy="{y:.1f}" r="5"><title>{escape(label)}: '
                     f'{escape(fmt(round(value)))} ({escape(span)})</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))


def monthly_bars(points: Sequence[tuple[str, int, int]], money: Format, title: str) -> Markup:
    """Spend per month from (month 'YYYY-MM', spend minor, baskets)."""
    tips = [f"{month_label(k)}: {money(s)} in {b} basket{'s' if b != 1 else ''}" for k, s, b in points]
    return grouped_bars([month_label(k) for k, _, _ in points], [Series("spend", [s for _, s, _ in points], tips=tips)],
                        money, title, _describe(points, money), label_every=3)


def _describe(points: Sequence[tuple[str, int, int]], money: Format) -> str:
    if not any(p[1] for p in points):
        return "No spend in this period."
    best = max(points, key=lambda p: p[1])
    return (f"Spend per month over {len(points)} months, {money(sum(p[1] for p in points))} in all; "
            f"highest {money(best[1])} in {month_label(best[0])}.")


def hourly_bars(today: Sequence[int], before: Sequence[int] | None, fmt: Format, title: str,
                labels: tuple[str, str] = ("today", "a week ago"), chart_id: str | None = None) -> Markup:
    """Bars per hour of the day (0-23), today's beside the same hour a week before when given."""
    series = [Series(labels[0], today)] + ([Series(labels[1], before, "bar ghost")] if before is not None else [])
    desc = f"{title}: {fmt(sum(today))} {labels[0]}" + (f", {fmt(sum(before))} {labels[1]}" if before else "") + "."
    return grouped_bars([f"{h:02d}:00" for h in range(24)], series, fmt, title, desc, chart_id, label_every=3,
                        height=220, legend=False)  # the page names the two days


def share_bar(parts: Sequence[tuple[str, int]]) -> list[tuple[str, int, float]]:
    """(label, value, percent of the largest) rows for the small horizontal bars of a top list."""
    top = max((value for _, value in parts), default=0)
    return [(label, value, 100.0 * value / top if top > 0 else 0.0) for label, value in parts]
