"""Two-year retention: exactly the history older than the cutoff goes, on SQLite and PostgreSQL."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select, text

from db.models import (
    Audit,
    Device,
    Feedback,
    Offer,
    OfferRedemption,
    OutboxFact,
    Purchase,
    PurchaseLine,
    StaffAction,
    Trip,
    TripEvent,
)
from db.partitions import existing_partitions, month_start, partition_name
from server.store.retention import cutoff_for, ensure_future_partitions, purge

from .conftest import NOW, Shop

CFG: dict[str, Any] = {"retention": {"days": 730, "batch_size": 100}}
CUTOFF = NOW - timedelta(days=730)


def _history(shop: Shop) -> None:
    """Baskets either side of the cutoff, in whole old months, the straddling month and the default partition."""
    shop.member(1)
    for at, lines in [
        (NOW - timedelta(days=1100), [(1, 10)]),  # before every partition: lands in the default one
        (CUTOFF - timedelta(days=200), [(1, 20), (2, 21)]),  # whole month before the cutoff
        (CUTOFF - timedelta(days=40), [(3, 30)]),
        (CUTOFF - timedelta(minutes=1), [(4, 40), (5, 41)]),  # the straddling month, before the cutoff
        (CUTOFF, [(1, 50)]),  # exactly at the cutoff: kept
        (CUTOFF + timedelta(minutes=1), [(2, 60)]),
        (NOW - timedelta(days=1), [(3, 70), (4, 71)]),
    ]:
        shop.purchase(1, at, lines)
    # A basket with a line either side of the cutoff keeps its purchase row.
    p = shop.purchase(1, CUTOFF - timedelta(hours=2), [(5, 80)])
    shop.session.add(PurchaseLine(purchase_id=p.id, member_id=1, product_id=1, quantity=1, sales_minor=81,
                                  purchased_at=CUTOFF + timedelta(hours=2)))
    shop.session.commit()


def _state(shop: Shop) -> tuple[list[int], list[int]]:
    shop.session.expire_all()
    lines = shop.session.scalars(select(PurchaseLine.sales_minor).order_by(PurchaseLine.sales_minor)).all()
    purchases = shop.session.scalars(select(Purchase.total_minor).order_by(Purchase.total_minor)).all()
    shop.session.rollback()  # hold no locks while a purge runs
    return list(lines), list(purchases)


KEPT = ([50, 60, 70, 71, 81], [50, 60, 80, 141])


def test_purge_removes_exactly_what_is_older_than_the_cutoff(own_shop: Shop) -> None:
    _history(own_shop)
    report = purge(own_shop.engine, CFG, NOW)
    assert _state(own_shop) == KEPT
    assert report.lines_removed == 7 and report.purchases_removed == 4 and not report.interrupted
    assert report.cutoff == CUTOFF


def test_purge_on_postgresql_drops_whole_old_partitions(own_shop: Shop) -> None:
    if own_shop.engine.dialect.name != "postgresql":
        assert purge(own_shop.engine, CFG, NOW).partitions_dropped == []
        return
    _history(own_shop)
    with own_shop.engine.connect() as conn:
        before = existing_partitions(conn)
    report = purge(own_shop.engine, CFG, NOW)
    with own_shop.engine.connect() as conn:
        after = existing_partitions(conn)
        in_default = conn.execute(text("SELECT count(*) FROM purchase_lines_default")).scalar_one()
    straddling = partition_name(month_start(CUTOFF))
    gone = sorted(n for n in before if before[n] < month_start(CUTOFF))
    assert report.partitions_dropped == gone and len(gone) > 3
    assert set(after) == set(before) - set(gone) and straddling in after
    assert report.lines_in_dropped_partitions == 3  # the rest went row by row
    assert in_default == 0 and _state(own_shop) == KEPT


def test_a_partition_busy_with_a_reader_is_purged_row_by_row(own_shop: Shop,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _history(own_shop)
    monkeypatch.setattr("server.store.retention.LOCK_TIMEOUT_MS", 50)
    with own_shop.engine.connect() as reader:
        reader.begin()
        reader.execute(select(func.count()).select_from(PurchaseLine))  # a long report holding its lock
        report = purge(own_shop.engine, CFG, NOW)
        reader.rollback()
    assert report.partitions_dropped == [] and report.lines_removed == 7
    assert _state(own_shop) == KEPT


def test_dry_run_changes_nothing_and_predicts_the_real_run(own_shop: Shop) -> None:
    _history(own_shop)
    before = _state(own_shop)
    with own_shop.engine.connect() as conn:
        parts = existing_partitions(conn)
    dry = purge(own_shop.engine, CFG, NOW, dry_run=True)
    assert _state(own_shop) == before
    with own_shop.engine.connect() as conn:
        assert existing_partitions(conn) == parts
    assert "would remove 7 purchase lines and 4 empty purchases" in dry.summary()
    real = purge(own_shop.engine, CFG, NOW)
    assert (real.lines_removed, real.purchases_removed, real.partitions_dropped) == (
        dry.lines_removed, dry.purchases_removed, dry.partitions_dropped)


def _many_old_lines(shop: Shop, n: int) -> None:
    shop.member(1)
    for i in range(n // 5):
        shop.purchase(1, CUTOFF - timedelta(hours=1 + i), [(1 + j, 1) for j in range(5)])
    shop.purchase(1, NOW - timedelta(days=3), [(1, 999)])
    shop.session.commit()


@pytest.mark.parametrize("how", ["stop_flag", "keyboard_interrupt"])
def test_interrupted_purge_leaves_a_consistent_state_and_a_rerun_finishes(own_shop: Shop, how: str) -> None:
    _many_old_lines(own_shop, 350)
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if how == "keyboard_interrupt" and done >= 100:
            raise KeyboardInterrupt

    def stop() -> bool:
        return bool(calls) and calls[-1] >= 100  # once the first batch of rows is reported

    first = purge(own_shop.engine, CFG, NOW, progress=progress, stop=stop if how == "stop_flag" else None)
    assert first.interrupted and first.lines_removed == 100
    lines, purchases = _state(own_shop)
    assert len(lines) == 251  # 250 old lines wait for the rerun, the recent one stays
    second = purge(own_shop.engine, CFG, NOW)
    assert not second.interrupted and second.lines_removed == 250 and second.purchases_removed == 70
    assert _state(own_shop) == ([999], [999])


def test_purge_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        cutoff_for(CFG, datetime(2027, 1, 1))


@pytest.mark.parametrize("days, expected", [(730, CUTOFF), (1, NOW - timedelta(days=1))])
def test_cutoff_follows_retention_days(days: int, expected: datetime) -> None:
    assert cutoff_for({"retention": {"days": days, "batch_size": 100}}, NOW) == expected


def test_future_partitions_are_made_and_waiting_rows_moved_in(own_shop: Shop) -> None:
    later = NOW + timedelta(days=70)  # two months past the fixture's partitions
    own_shop.member(1)
    own_shop.purchase(1, later, [(1, 5)])
    own_shop.session.commit()
    made = ensure_future_partitions(own_shop.engine, later, months=2)
    if own_shop.engine.dialect.name == "sqlite":
        assert made == []
        return
    first = month_start(later)
    assert partition_name(first) in made and len(made) == 3
    assert ensure_future_partitions(own_shop.engine, later, months=2) == []
    with own_shop.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {partition_name(first)}")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM purchase_lines_default")).scalar_one() == 0
    assert own_shop.session.scalar(select(func.count()).select_from(PurchaseLine)) == 1


def test_purge_keeps_everything_when_history_is_young(own_shop: Shop) -> None:
    own_shop.member(1)
    own_shop.purchase(1, NOW - timedelta(days=5), [(1, 5)])
    own_shop.session.commit()
    report = purge(own_shop.engine, CFG, NOW)
    assert (report.lines_removed, report.purchases_removed, report.lines_in_dropped_partitions) == (0, 0, 0)
    assert _state(own_shop) == ([5], [5])
    assert report.cutoff.tzinfo == timezone.utc


def _trip(shop: Shop, trip_id: str, started: datetime, checked_out: datetime | None, events: int,
          seqs: Iterator[int]) -> None:
    """A handheld trip with its events, a staff action, an audit, a redemption and a feedback."""
    shop.session.add(Trip(id=trip_id, store_id="S001", device_id=1, member_id=1, status="checked_out",
                          started_at=started, checked_out_at=checked_out))
    shop.session.flush()
    for _ in range(events):
        shop.session.add(TripEvent(id=str(uuid.uuid4()), trip_id=trip_id, device_id=1, seq=next(seqs),
                                   kind="scan", payload={"gtin": "0"}, occurred_at=started))
    shop.session.add_all([
        StaffAction(trip_id=trip_id, store_id="S001", kind="age_ok", at=started),
        Audit(trip_id=trip_id, member_id=1, store_id="S001", reason="first trip", probability=1.0),
        OfferRedemption(offer_id=1, trip_id=trip_id, member_id=1, redeemed_at=started),
        Feedback(id=str(uuid.uuid4()), store_id="S001", trip_id=trip_id, kind="other", created_at=started),
    ])
    shop.session.flush()


def _trips(shop: Shop) -> None:
    shop.member(1)
    shop.session.add(Device(id=1, store_id="S001", name="hh-1", token_hash="x" * 64))
    shop.session.add(Offer(id=1, member_id=1, product_id=1, kind="replenish", reward_type="percent", reward_value=10,
                           valid_from=NOW - timedelta(days=900), valid_to=NOW))
    seqs = itertools.count(1)
    _trip(shop, "old-checked-out", CUTOFF - timedelta(days=30), CUTOFF - timedelta(days=30), 4, seqs)
    _trip(shop, "old-never-finished", CUTOFF - timedelta(days=1), None, 2, seqs)
    _trip(shop, "checked-out-after-cutoff", CUTOFF - timedelta(hours=1), CUTOFF + timedelta(hours=1), 3, seqs)
    _trip(shop, "recent", NOW - timedelta(days=2), NOW - timedelta(days=2), 5, seqs)
    shop.session.commit()


def _trip_rows(shop: Shop) -> dict[str, list[Any]]:
    shop.session.expire_all()
    out = {name: sorted(shop.session.scalars(select(model.trip_id)).all(), key=str)
           for name, model in (("events", TripEvent), ("actions", StaffAction), ("audits", Audit),
                               ("redemptions", OfferRedemption), ("feedback", Feedback))}
    out["trips"] = sorted(shop.session.scalars(select(Trip.id)).all())
    shop.session.rollback()
    return out


def test_purge_takes_old_trips_with_their_events_audits_and_redemptions(own_shop: Shop) -> None:
    _trips(own_shop)
    dry = purge(own_shop.engine, CFG, NOW, dry_run=True)
    assert (dry.trips_removed, dry.trip_events_removed) == (2, 6)
    report = purge(own_shop.engine, CFG, NOW)
    assert (report.trips_removed, report.trip_events_removed) == (2, 6) and not report.interrupted
    kept = ["checked-out-after-cutoff", "recent"]
    rows = _trip_rows(own_shop)
    assert rows["trips"] == kept
    assert rows["events"] == ["checked-out-after-cutoff"] * 3 + ["recent"] * 5
    assert rows["actions"] == rows["audits"] == rows["redemptions"] == kept
    assert rows["feedback"] == [None, None, *kept]  # the shopper's report stays, unlinked from the purged trip
    assert "2 handheld trips with their 6 events" in report.summary()


def test_trip_purge_stopped_between_batches_leaves_whole_trips_and_a_rerun_finishes(own_shop: Shop) -> None:
    _trips(own_shop)
    cfg = {"retention": {"days": 730, "batch_size": 50}}  # one trip per batch
    calls: list[int] = []
    first = purge(own_shop.engine, cfg, NOW, progress=lambda done, total: calls.append(done),
                  stop=lambda: bool(calls) and calls[-1] > 0)  # no purchase history: the first trip is the first row
    assert first.interrupted and first.trips_removed == 1
    rows = _trip_rows(own_shop)
    assert len(rows["trips"]) == 3 and set(rows["events"]) == set(rows["trips"])  # no orphan events
    second = purge(own_shop.engine, cfg, NOW)
    assert second.trips_removed == 1 and _trip_rows(own_shop)["trips"] == ["checked-out-after-cutoff", "recent"]


def test_outbox_facts_no_head_office_took_go_with_the_history_they_describe(own_shop: Shop) -> None:
    old = CUTOFF - timedelta(days=1)
    own_shop.session.add_all([OutboxFact(kind="member", payload={"member_id": 1}, created_at=old),
                              OutboxFact(kind="member", payload={"member_id": 2}, created_at=CUTOFF + timedelta(days=1)),
                              OutboxFact(kind="member", payload={"member_id": 3}, created_at=old, batch_seq=4),
                              OutboxFact(kind="erasure", payload={"member_id": 5}, created_at=old)])
    own_shop.session.commit()
    report = purge(own_shop.engine, CFG, NOW)
    assert report.outbox_removed == 1 and "1 outbox facts" in report.summary()
    # a numbered batch head office may hold, and an erasure it must still hear of, stay
    assert sorted(f.payload["member_id"] for f in own_shop.session.scalars(select(OutboxFact))) == [2, 3, 5]
