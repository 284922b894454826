"""The sync path keeps its contract: a revoked token refused at once, devices marked seen, dropped connections survived."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import func, select

from db import localpg
from db.models import Device, Trip, TripEvent
from server.auth.accounts import revoke_device
from tests.store_api.conftest import BREAD, MILK, Events, Shop

POSTGRES_ONLY = pytest.mark.parametrize(
    "store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _stored(shop: Shop) -> int:
    with shop.session() as s:
        return int(s.scalar(select(func.count()).select_from(TripEvent)
                            .where(TripEvent.device_id == shop.device_id)) or 0)


def _used_then_revoked(shop: Shop, events: Events) -> str:
    """A trip whose device has stored one batch, then was revoked."""
    trip_id = shop.start()
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    with shop.session() as s:
        revoke_device(s, shop.device_id)
        s.commit()
    return trip_id


def test_revoked_token_is_refused_at_once(shop: Shop, events: Events) -> None:
    trip_id = _used_then_revoked(shop, events)
    for _ in range(2):
        resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]})
        assert resp.status_code == 401 and "revoked" in resp.get_json()["message"]
    assert _stored(shop) == 1


def test_revoked_token_with_a_bad_batch_is_still_401(shop: Shop, events: Events) -> None:
    trip_id = _used_then_revoked(shop, events)
    for bad in ({**events.scan(BREAD), "seq": "x"}, events.scan(99_999_999)):  # malformed, unknown GTIN
        assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [bad]}).status_code == 401


def test_batches_mark_the_device_seen_at_most_once_a_minute(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    with shop.session() as s:
        device = s.get(Device, shop.device_id)
        assert device is not None and device.last_seen_at is not None
        long_ago = device.last_seen_at - timedelta(minutes=5)
        device.last_seen_at = long_ago
        s.commit()
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]}).status_code == 200
    with shop.session() as s:
        assert s.get(Device, shop.device_id).last_seen_at > long_ago  # type: ignore[union-attr,operator]


def _drop_connections(url: str) -> None:
    """What a PostgreSQL restart does to the app's pooled connections: the server ends them all."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(localpg.admin_url(name), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()").fetchone() != (0,):
            assert time.monotonic() < deadline, "the backends did not end"
            time.sleep(0.05)


@POSTGRES_ONLY
def test_requests_after_postgres_dropped_the_pool_succeed(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    assert shop.get("/api/v1/catalogue?since=0").status_code == 200
    _drop_connections(shop.app.config["SHOPGO"]["database"]["url"])
    # without pool_pre_ping: the pooled connections are dead, and no request may see a 500 for it
    assert shop.get("/api/v1/catalogue?since=0").status_code == 200
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]}).status_code == 200
    assert shop.post("/api/v1/trips", {"trip_id": trip_id}).status_code == 200
    assert _stored(shop) == 2


@POSTGRES_ONLY
def test_two_copies_of_a_batch_in_flight_at_once_store_it_once(shop: Shop, events: Events) -> None:
    # A handheld that gave up waiting sends its batch again while the first copy is still being
    # written. Holding the trip's row makes both copies wait inside their write: the first has
    # inserted its events and waits to count them, the second waits on the first's inserts.
    trip_id = shop.start()
    batch = {"events": [events.scan(MILK), events.scan(BREAD)]}
    ids = [ev["id"] for ev in batch["events"]]
    name = shop.app.config["SHOPGO"]["database"]["url"].rsplit("/", 1)[1]
    with psycopg.connect(localpg.admin_url(name)) as holder, ThreadPoolExecutor(2) as pool:
        holder.execute("SELECT 1 FROM trips WHERE id = %s FOR NO KEY UPDATE", (trip_id,))
        copies = [pool.submit(shop.app.test_client().post, f"/api/v1/trips/{trip_id}/events", json=batch,
                              headers=shop.auth) for _ in range(2)]
        deadline = time.monotonic() + 10
        with psycopg.connect(localpg.admin_url(name), autocommit=True) as watch:
            while watch.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock'").fetchone() != (2,):
                assert time.monotonic() < deadline, "the two copies did not both wait"
                time.sleep(0.02)
        holder.rollback()
        answers = sorted((copy.result().get_json() for copy in copies), key=lambda a: len(a["stored"]))
    assert [(a["stored"], a["duplicates"]) for a in answers] == [([], ids), (ids, [])]
    assert _stored(shop) == 2
    with shop.session() as s:
        assert s.get(Trip, trip_id).event_count == 2  # type: ignore[union-attr]
