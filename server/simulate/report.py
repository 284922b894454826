"""The day's report: what was made, what reached the server, what it cost, how fast; printed as a table."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from server.simulate.faults import KINDS, Fault


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


@dataclass
class Mispriced:
    """A checked-out trip whose receipt differs from the independent recomputation."""

    trip_id: str
    expected_minor: int
    receipt_minor: int
    why: str = ""


@dataclass
class StoreDayReport:
    """Everything the end-of-day checks found."""

    handhelds: int
    minutes: float
    compression: float
    scan_gap_s: float
    trips_started: int = 0
    trips_finished: int = 0
    trips_checked_out: int = 0
    trips_cut_short: int = 0
    trips_audited: int = 0
    finished_not_checked_out: list[str] = field(default_factory=list)
    scans: int = 0
    rescans: int = 0
    events_made: int = 0
    event_kinds: Counter[str] = field(default_factory=Counter)
    events_on_server: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)
    refused: int = 0
    mispriced: list[Mispriced] = field(default_factory=list)
    handheld_total_differs: int = 0
    requests: int = 0
    errors_5xx: int = 0
    errors_5xx_outside: list[str] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    events_per_s: float = float("nan")
    events_per_s_quiet: float = float("nan")
    scan_to_state_ms: list[float] = field(default_factory=list)
    scan_to_state_quiet_ms: list[float] = field(default_factory=list)  # 2nd tenth: after opening, before faults
    sync_latency_ms: list[float] = field(default_factory=list)
    sync_latency_quiet_ms: list[float] = field(default_factory=list)
    catalogue_products_downloaded: list[int] = field(default_factory=list)  # per catalogue answer a handheld stored
    handheld_rss_kib: list[int] = field(default_factory=list)
    handheld_pss_kib: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def faults_done(self) -> Counter[str]:
        """How many faults of each kind really happened."""
        return Counter(f.kind for f in self.faults if f.happened)

    @property
    def ok(self) -> bool:
        """Trips made; nothing lost, doubled, mispriced or left at the till; no 5xx outside the outages; no trip or fault failed."""
        return self.trips_checked_out > 0 and not (
            self.lost or self.duplicated or self.stray or self.mispriced or self.finished_not_checked_out
            or self.errors_5xx_outside or self.problems or self.fault_errors or self.faults_missed())

    def faults_missed(self) -> list[Fault]:
        """Planned faults that did not happen (a skip with a printed reason, e.g. not root, is not a miss)."""
        return [f for f in self.faults if not f.happened and not f.note.startswith("skipped")]

    def figures(self) -> dict[str, float]:
        """The headline numbers."""
        mib = [k / 1024 for k in self.handheld_rss_kib]
        return {"events_per_s": self.events_per_s, "events_per_s_quiet": self.events_per_s_quiet,
                "scan_to_state_p50_ms": percentile(self.scan_to_state_ms, 50),
                "scan_to_state_p99_ms": percentile(self.scan_to_state_ms, 99),
                "scan_to_state_quiet_p50_ms": percentile(self.scan_to_state_quiet_ms, 50),
                "scan_to_state_quiet_p99_ms": percentile(self.scan_to_state_quiet_ms, 99),
                "sync_p50_ms": percentile(self.sync_latency_ms, 50), "sync_p99_ms": percentile(self.sync_latency_ms, 99),
                "sync_quiet_p50_ms": percentile(self.sync_latency_quiet_ms, 50),
                "sync_quiet_p99_ms": percentile(self.sync_latency_quiet_ms, 99),
                "handheld_rss_mib_mean": sum(mib) / len(mib) if mib else float("nan"),
                "handheld_pss_mib_total": sum(self.handheld_pss_kib) / 1024}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if v != v else f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def format_report(r: StoreDayReport) -> str:
    """The report as the aligned table `shopgo simulate store-day` prints."""
    f = r.figures()
    done = r.faults_done()
    planned = Counter(x.kind for x in r.faults)
    rows: list[tuple[str, Any, str]] = [
        ("handhelds", r.handhelds, f"day of 14 h in {r.minutes:g} min (x{r.compression:,.0f}); scan gap {r.scan_gap_s:.2f} s"),
        ("trips started / finished", f"{r.trips_started:,} / {r.trips_finished:,}",
         f"{r.trips_cut_short} cut short at closing; {r.trips_audited} rescan audits done by staff"),
        ("trips checked out", r.trips_checked_out, f"finished but not checked out: {len(r.finished_not_checked_out)}"),
        ("scans (rescans)", f"{r.scans:,} ({r.rescans:,})", "each shown on the display before the next"),
        ("events made (handheld logs)", r.events_made, ", ".join(f"{k} {n:,}" for k, n in sorted(r.event_kinds.items()))),
        ("events on the server", r.events_on_server, f"refused by the server: {r.refused}"),
        ("lost", len(r.lost), "must be 0"),
        ("duplicated", len(r.duplicated) + len(r.stray), "must be 0 (stray: on the server, in no handheld log)"),
        ("mispriced", len(r.mispriced), "receipt vs independent recomputation; must be 0"),
        ("handheld total differs at finish", r.handheld_total_differs, "indicative price on the screen"),
        ("HTTP requests / 5xx", f"{r.requests:,} / {r.errors_5xx:,}", f"{len(r.windows)} outage windows"),
        ("HTTP 5xx outside outages", len(r.errors_5xx_outside), "must be 0"),
        ("events/s (whole day)", f["events_per_s"],
         f"quiet (2nd tenth of the day, before faults): {_fmt(f['events_per_s_quiet'])}"),
        ("scan-to-state p50 / p99 ms", f"{_fmt(f['scan_to_state_p50_ms'])} / {_fmt(f['scan_to_state_p99_ms'])}",
         f"pty write -> /api/state shows the item; quiet {_fmt(f['scan_to_state_quiet_p50_ms'])} / "
         f"{_fmt(f['scan_to_state_quiet_p99_ms'])}"),
        ("sync latency p50 / p99 ms", f"{_fmt(f['sync_p50_ms'])} / {_fmt(f['sync_p99_ms'])}",
         f"event occurred_at -> server received_at; quiet {_fmt(f['sync_quiet_p50_ms'])} / "
         f"{_fmt(f['sync_quiet_p99_ms'])}"),
        ("catalogue downloads", len(r.catalogue_products_downloaded),
         f"{sum(r.catalogue_products_downloaded):,} products in all, at most "
         f"{max(r.catalogue_products_downloaded, default=0):,} at once (handhelds start from the image)"),
        ("handheld memory", f"{_fmt(f['handheld_rss_mib_mean'])} MiB RSS each",
         f"{_fmt(f['handheld_pss_mib_total'])} MiB PSS all handhelds"),
    ]
    for kind in KINDS:
        notes = "; ".join(sorted({x.note for x in r.faults if x.kind == kind and x.note}))
        rows.append((f"fault: {kind}", f"{done.get(kind, 0)} / {planned.get(kind, 0)}", notes or "done / planned"))
    rows.append(("wall time", f"{r.wall_seconds:,.0f} s", "setup, day, drain and checks"))
    width = max(len(name) for name, _, _ in rows)
    vwidth = max(len(_fmt(v)) for _, v, _ in rows)
    lines = [f"{name.ljust(width)}  {_fmt(v).rjust(vwidth)}  {note}" for name, v, note in rows]
    for title, items in (("lost events", r.lost), ("duplicated events", r.duplicated + r.stray),
                         ("mispriced trips", [f"{m.trip_id}: expected {m.expected_minor}, receipt {m.receipt_minor} {m.why}"
                                              for m in r.mispriced]),
                         ("not checked out", r.finished_not_checked_out), ("5xx outside outages", r.errors_5xx_outside),
                         ("fault errors", r.fault_errors),
                         ("faults that did not happen", [f"{f.kind} on {f.target}" for f in r.faults_missed()]),
                         ("problems", r.problems)):
        if items:
            lines.append(f"{title} ({len(items)}): " + "; ".join(items[:10]) + (" ..." if len(items) > 10 else ""))
    lines.append("RESULT: " + ("ok - nothing lost, doubled or mispriced" if r.ok else "FAILED"))
    return "\n".join(lines)
