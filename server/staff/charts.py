"""Charts drawn as SVG on the server: no script, no network, readable by screen readers."""
from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup, escape

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def nice_ceiling(value: int) -> int:
    """A round number at or above `value` for the top of an axis (1, 2, 2.5 or 5 times 10^n)."""
    if value <= 0:
        return 1
    step = 1
    while step * 10 <= value:
        step *= 10
    for mult in (1, 2, 2.5, 5, 10):
        if value <= mult * step:
            return int(mult * step)
    return 10 * step


def month_label(key: str) -> str:
    """'2025-03' -> 'Mar 25'."""
    return f"{MONTHS[int(key[5:7]) - 1]} {key[2:4]}"


def monthly_bars(points: Sequence[tuple[str, int, int]], money: Callable[[int], str], title: str,
                 width: int = 760, height: int = 240) -> Markup:
    """A bar chart of (month 'YYYY-MM', spend minor, baskets), with axis, gridlines and tooltips."""
    left, right, top, bottom = 64, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max((p[1] for p in points), default=0))
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-title">{escape(title)}</title>',
             f'<desc id="chart-desc">{escape(_describe(points, money))}</desc>']
    for i in range(5):  # gridlines at 0, 25, 50, 75, 100 % of the axis
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(money(value))}</text>')
    for i, (key, spend, baskets) in enumerate(points):
        h = plot_h * spend / peak
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        tip = f"{month_label(key)}: {money(spend)} in {baskets} basket{'s' if baskets != 1 else ''}"
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" rx="2">'
                     f'<title>{escape(tip)}</title></rect>')
        if i % 3 == 0 or i == n - 1:
            parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{height - 12}" '
                         f'text-anchor="middle">{escape(month_label(key))}</text>')
    parts.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(points: Sequence[tuple[str, int, int]], money: Callable[[int], str]) -> str:
    active = [p for p in points if p[1]]
    if not active:
        return "No spend in this period."
    best = max(points, key=lambda p: p[1])
    total = sum(p[1] for p in points)
    return (f"Spend per month over {len(points)} months, {money(total)} in all; "
            f"highest {money(best[1])} in {month_label(best[0])}.")


def share_bar(parts: Sequence[tuple[str, int]]) -> list[tuple[str, int, float]]:
    """(label, value, percent of the largest) rows for the small horizontal bars of a top list."""
    top = max((value for _, value in parts), default=0)
    return [(label, value, 100.0 * value / top if top > 0 else 0.0) for label, value in parts]


def hourly_bars(today: Sequence[int], before: Sequence[int] | None, fmt: Callable[[int], str], title: str,
                labels: tuple[str, str] = ("today", "a week ago"), width: int = 760, height: int = 220) -> Markup:
    """Bars per hour of the day (0-23), today's beside the same hour a week before when given."""
    left, right, top, bottom = 64, 12, 14, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = nice_ceiling(max([*today, *(before or [])], default=0))
    slot = plot_w / 24
    bar_w = slot * (0.38 if before is not None else 0.7)
    desc = (f"{title}: {fmt(sum(today))} {labels[0]}"
            + (f", {fmt(sum(before))} {labels[1]}" if before is not None else "") + ".")
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(desc)}" xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>')
    for h in range(24):
        x0 = left + h * slot + slot * 0.1
        for j, (series, css, label) in enumerate(((today, "bar", labels[0]), (before, "bar ghost", labels[1]))):
            if series is None:
                continue
            v = series[h] if h < len(series) else 0
            bh = plot_h * v / peak
            x = x0 + j * bar_w
            parts.append(f'<rect class="{css}" x="{x:.1f}" y="{top + plot_h - bh:.1f}" width="{bar_w:.1f}" '
                         f'height="{bh:.1f}" rx="1.5"><title>{h:02d}:00 {escape(label)}: {escape(fmt(v))}</title></rect>')
        if h % 3 == 0:
            parts.append(f'<text class="axis" x="{left + h * slot + slot / 2:.1f}" y="{height - 12}" '
                         f'text-anchor="middle">{h:02d}:00</text>')
    parts.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
