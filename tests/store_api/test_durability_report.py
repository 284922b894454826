"""Each answer tells the handheld how far its events are on disk (server/durability.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Trip
from server.database import engine as app_engine
from server.durability import session_report
from server.ingest_pg import sync_connections
from tests.store_api.conftest import MILK, Events, Shop

POSTGRES_ONLY = pytest.mark.parametrize(
    "store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _batch(shop: Shop, trip_id: str, events: Events) -> dict:
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    assert resp.status_code == 200
    return resp.get_json()["durability"]


@POSTGRES_ONLY
def test_batches_report_positions_that_move_on_within_one_epoch(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    first, second = _batch(shop, trip_id, events), _batch(shop, trip_id, events)
    assert first["synchronous"] is False and first["epoch"] == second["epoch"] != ""
    assert second["written"] > first["written"]  # the first batch's commit lies between the two
    with shop.app.app_context(), app_engine().connect() as db:
        flushed_now = db.exec_driver_sql("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn").scalar()
        db.exec_driver_sql("SELECT pg_switch_wal()")  # forces the flush of everything written so far
        assert db.exec_driver_sql("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn").scalar() >= second["written"]
    assert flushed_now >= first["flushed"]
    third = _batch(shop, trip_id, events)
    assert third["flushed"] >= second["written"]  # the handheld may now forget the first two batches


@POSTGRES_ONLY
def test_a_finish_is_synchronous_and_a_transaction_that_wrote_nothing_reports_positions(
        shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    epoch = _batch(shop, trip_id, events)["epoch"]
    finish = shop.post(f"/api/v1/trips/{trip_id}/finish", {"event_count": 1}).get_json()
    assert finish["durability"] == {"epoch": epoch, "synchronous": True}
    again = shop.post(f"/api/v1/trips/{trip_id}/finish", {"event_count": 1}).get_json()
    assert again["durability"] == {"epoch": epoch, "synchronous": True}  # it locks the trip's row: a write
    with shop.session() as s:
        s.execute(select(Trip).where(Trip.id == trip_id)).one()
        report = session_report(s)  # a read commits without a flush
    assert report is not None and report["synchronous"] is False and report["epoch"] == epoch
    assert report["written"] >= report["flushed"] > 0


@POSTGRES_ONLY
def test_the_epoch_changes_when_crash_recovery_empties_its_table(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    before = _batch(shop, trip_id, events)["epoch"]
    with shop.app.app_context():
        with app_engine().begin() as db:
            db.exec_driver_sql("TRUNCATE sync_epoch")  # what recovery does to an unlogged table
        sync_connections(app_engine()).close_all()  # ... and a crash ends every connection
    after = _batch(shop, trip_id, events)["epoch"]
    assert after and after != before
    assert _batch(shop, trip_id, events)["epoch"] == after


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_sqlite_answers_carry_no_report(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    assert resp.status_code == 200 and "durability" not in resp.get_json()
    finish = shop.post(f"/api/v1/trips/{trip_id}/finish", {}).get_json()
    assert "durability" not in finish


@POSTGRES_ONLY
def test_a_client_that_does_not_keep_events_is_answered_only_after_the_flush(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}, aware=False)
    assert resp.status_code == 200 and len(resp.get_json()["stored"]) == 1
    assert resp.get_json()["durability"]["synchronous"] is True  # a handheld from before the protocol loses nothing


@POSTGRES_ONLY
def test_a_finish_told_an_old_epoch_is_refused_and_changes_nothing(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    epoch = _batch(shop, trip_id, events)["epoch"]
    refused = shop.post(f"/api/v1/trips/{trip_id}/finish", {"event_count": 1, "epoch": "before-the-crash"})
    assert refused.status_code == 409 and refused.get_json()["epoch"] == epoch
    assert "send again" in refused.get_json()["message"]
    with shop.session() as s:
        assert s.get(Trip, trip_id).status == "active"  # type: ignore[union-attr]
    finished = shop.post(f"/api/v1/trips/{trip_id}/finish", {"event_count": 1, "epoch": epoch})
    assert finished.status_code == 200 and finished.get_json()["status"] == "finished"
