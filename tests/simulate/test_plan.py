"""The day's plan: faults in the middle of the day, a member in the store once at a time, bench rows from a report."""
from __future__ import annotations

import random

import pytest

from server.simulate.faults import KINDS, QUIET_AFTER, QUIET_BEFORE, Fault, plan
from server.simulate.report import Mispriced, StoreDayReport, format_report
from server.simulate.run import BasketQueue
from server.simulate.setup import Item, RealBasket


@pytest.mark.parametrize(("seconds", "handhelds", "kills"), [(90, 20, 1), (600, 200, 10), (60, 1, 1)])
def test_every_fault_kind_is_planned_inside_the_middle_of_the_day(seconds: float, handhelds: int, kills: int) -> None:
    faults = plan(seconds, handhelds, random.Random(1))
    assert {f.kind for f in faults} == set(KINDS)
    assert all(QUIET_BEFORE * seconds < f.planned_at < QUIET_AFTER * seconds for f in faults)
    assert sum(f.kind == "handheld_kill" for f in faults) == kills
    targets = [f.target for f in faults if f.kind == "scanner_unplug"]
    assert len(set(targets)) == len(targets) and all(0 <= int(t.split()[-1]) < handhelds for t in targets)


def basket(purchase: int, member: int) -> RealBasket:
    return RealBasket(purchase, member, f"card{member}", (Item(1, "0400000000017", 1),))


def test_a_member_is_never_in_the_store_on_two_handhelds_at_once() -> None:
    q = BasketQueue([basket(1, 7), basket(2, 7), basket(3, 8)])
    first, second = q.take(), q.take()
    assert first is not None and second is not None and {first.member_id, second.member_id} == {7, 8}
    assert q.take() is None  # both members are shopping
    q.done(first)
    again = q.take()
    assert again is not None and again.member_id == first.member_id


def test_report_fails_on_any_loss_doubling_misprice_or_empty_day() -> None:
    good = StoreDayReport(1, 1, 840, 0.1, trips_checked_out=3,
                          faults=[Fault("postgres_restart", "pg", 5.0, note="skipped: not root")])
    assert good.ok and "RESULT: ok" in format_report(good)
    assert not StoreDayReport(1, 1, 840, 0.1).ok  # no trip at all is no proof
    for change in ({"lost": ["e1"]}, {"duplicated": ["e2"]}, {"stray": ["e3"]},
                   {"mispriced": [Mispriced("t1", 100, 120)]}, {"finished_not_checked_out": ["t2"]},
                   {"errors_5xx_outside": ["500 POST /x at 1"]}, {"fault_errors": ["kill failed"]},
                   {"faults": [Fault("handheld_kill", "handheld 1", 5.0)]}):
        bad = StoreDayReport(1, 1, 840, 0.1, trips_checked_out=3, **change)  # type: ignore[arg-type]
        assert not bad.ok and "RESULT: FAILED" in format_report(bad)


def test_bench_rows_mark_a_loss_as_not_ok() -> None:
    from bench.bench_store_day import rows_for

    report = StoreDayReport(2, 1, 840, 0.1, trips_checked_out=3, lost=["e1"],
                            faults=[Fault(k, "x", 1.0, 1.0, 2.0) for k in KINDS])
    rows = {r["figure"]: r for r in rows_for(report)}
    assert rows["lost events"]["ok"] is False and rows["lost events"]["value"] == 1.0
    assert rows["mispriced trips"]["ok"] is True and rows["faults done"]["ok"] is True


class FakeServer:
    url = "http://127.0.0.1:9"

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def restart(self) -> None:
        if self.fail:
            raise RuntimeError("the store server did not come up")


@pytest.mark.parametrize(("fail", "happened", "errors"), [(False, True, 0), (True, False, 1)])
def test_a_server_restart_is_an_outage_window_even_when_it_goes_wrong(fail: bool, happened: bool, errors: int) -> None:
    from server.simulate.faults import FaultRunner
    from server.simulate.shopper import Day

    day = Day(1.0)
    fault = Fault("server_restart", "gunicorn", 0.0)
    runner = FaultRunner(day, [fault], FakeServer(fail), None, [], [], 10.0, random.Random(1),  # type: ignore[arg-type]
                         lambda text: None, "sqlite://")
    runner.run()
    assert fault.happened is happened and len(runner.errors) == errors
    assert len(runner.windows) == 1 and runner.windows[0][0] <= runner.windows[0][1]


def test_postgres_restart_skipped_with_a_reason_is_no_window_and_no_miss() -> None:
    from server.simulate.faults import FaultRunner
    from server.simulate.shopper import Day

    fault = Fault("postgres_restart", "pg", 0.0)
    lines: list[str] = []
    runner = FaultRunner(Day(1.0), [fault], FakeServer(False), None, [], [], 10.0, random.Random(1),  # type: ignore[arg-type]
                         lines.append, "sqlite://", postgres=lambda: "skipped: not root (pg_ctlcluster needs root)")
    runner.run()
    assert not fault.happened and runner.windows == [] and runner.errors == []
    report = StoreDayReport(1, 1, 840, 0.1, trips_checked_out=1, faults=[fault])
    assert report.faults_missed() == [] and "skipped: not root" in lines[0]
