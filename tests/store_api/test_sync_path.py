"""The sync path's shortcuts keep the contract: cached tokens, one statement, dropped connections."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from db import localpg
from db.models import Device, TripEvent
from server import ingest
from server.database import engine as app_engine
from server.ingest_pg import sync_connections
from server.accounts import revoke_device
from tests.store_api.conftest import BREAD, MILK, Events, Shop

POSTGRES_ONLY = pytest.mark.parametrize(
    "store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


def _stored(shop: Shop) -> int:
    with shop.session() as s:
        return int(s.scalar(select(func.count()).select_from(TripEvent)
                            .where(TripEvent.device_id == shop.device_id)) or 0)


def _cached_then_revoked(shop: Shop, events: Events) -> str:
    """A trip whose device's token the API has cached (one batch stored), then revoked."""
    trip_id = shop.start()
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    with shop.session() as s:
        revoke_device(s, shop.device_id)
        s.commit()
    return trip_id


def test_revoked_token_is_refused_at_once_although_cached(shop: Shop, events: Events) -> None:
    trip_id = _cached_then_revoked(shop, events)
    for _ in range(2):  # the cached token, then the token looked up again
        resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]})
        assert resp.status_code == 401 and "revoked" in resp.get_json()["message"]
    assert _stored(shop) == 1


def test_revoked_token_with_a_bad_batch_is_still_401(shop: Shop, events: Events) -> None:
    trip_id = _cached_then_revoked(shop, events)
    for bad in ({**events.scan(BREAD), "seq": "x"}, events.scan(99_999_999)):  # malformed, unknown GTIN
        assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [bad]}).status_code == 401


def test_batches_from_a_cached_token_still_mark_the_device_seen(shop: Shop, events: Events) -> None:
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


def _statements(shop: Shop, monkeypatch: pytest.MonkeyPatch, path: str, body: Any) -> tuple[Any, list[str]]:
    """The answer to one POST and the statements it sent to PostgreSQL."""
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(" ".join(str(query).split())[:60])
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    try:
        return shop.post(path, body), statements
    finally:
        monkeypatch.undo()


@POSTGRES_ONLY
def test_a_batch_from_a_known_handheld_is_one_statement(shop: Shop, events: Events,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})  # token and GTIN now cached
    resp, statements = _statements(shop, monkeypatch, f"/api/v1/trips/{trip_id}/events",
                                   {"events": [events.scan(MILK), events.scan(MILK)]})
    assert resp.status_code == 200 and len(resp.get_json()["stored"]) == 2
    assert len(statements) == 1, statements
    assert _stored(shop) == 3


@POSTGRES_ONLY
def test_a_product_new_to_the_worker_costs_one_light_read_not_the_general_path(
        shop: Shop, events: Events, monkeypatch: pytest.MonkeyPatch) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})  # the token is cached
    ingest._SCANNABLE.clear()  # as in a worker that has not seen these products yet
    resp, statements = _statements(shop, monkeypatch, f"/api/v1/trips/{trip_id}/events",
                                   {"events": [events.scan(BREAD)]})
    assert resp.status_code == 200 and len(resp.get_json()["stored"]) == 1
    assert len(statements) == 2 and statements[0].startswith("SELECT products.gtin"), statements
    resp, statements = _statements(shop, monkeypatch, f"/api/v1/trips/{trip_id}/events",
                                   {"events": [events.scan(BREAD)]})
    assert resp.status_code == 200 and len(statements) == 1, statements  # now cached
    unknown, _ = _statements(shop, monkeypatch, f"/api/v1/trips/{trip_id}/events",
                             {"events": [events.scan(99_999_999)]})
    assert unknown.status_code == 422 and "is not in the catalogue" in unknown.get_json()["message"]
    assert _stored(shop) == 3


@POSTGRES_ONLY
def test_the_sync_statement_is_planned_once_not_for_every_batch(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    for _ in range(8):
        assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    with shop.app.app_context():
        main = app_engine()
    held = sync_connections(main)
    assert held is sync_connections(main) and len(held.opened) == 1  # one connection did all eight
    conn = held.idle[-1].connection
    plans = conn.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                         "WHERE statement LIKE '%INSERT INTO trip_events%'").fetchall()
    assert len(plans) == 1 and plans[0][1] == 0 and plans[0][0] >= 3, plans
    with main.connect() as other:  # the rest of the server keeps PostgreSQL's own choice
        assert other.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
    main.dispose()
    assert conn.closed and not held.idle  # closed with the app's engine
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    assert held.idle and not held.idle[-1].connection.closed  # and made again when needed


@POSTGRES_ONLY
def test_the_sync_statement_reads_by_key_even_when_planned_on_near_empty_tables(shop: Shop, events: Events) -> None:
    # A handful of devices and no events, analysed (as autovacuum does on a new store): the
    # statistics under which a first generic plan is made, and kept however large the tables grow.
    trip_id = shop.start()
    with shop.app.app_context(), app_engine().connect() as db:
        db.exec_driver_sql("ANALYZE devices, trips, trip_events")
    for _ in range(6):  # psycopg prepares a statement on its fifth run
        assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).status_code == 200
    with shop.app.app_context():
        held = sync_connections(app_engine())
    conn = held.idle[-1].connection
    name, types = conn.execute("SELECT name, parameter_types::text[] FROM pg_prepared_statements "
                               "WHERE statement LIKE '%INSERT INTO trip_events%'").fetchone()
    nulls = ", ".join(f"NULL::{t}" for t in types)
    plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE {name}({nulls})"))  # planned, not run
    assert "Index" in plan and "Seq Scan" not in plan, plan


@POSTGRES_ONLY
def test_a_batch_is_stored_once_by_the_general_path_when_the_sync_connections_cannot_be_made(
        shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    with shop.app.app_context():
        held = sync_connections(app_engine())
    held.close_all()
    batch = {"events": [events.scan(MILK)]}
    real_url, held.url = held.url, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    try:
        first = shop.post(f"/api/v1/trips/{trip_id}/events", batch)
    finally:
        held.url = real_url
    assert first.status_code == 200 and len(first.get_json()["stored"]) == 1 and not held.idle
    assert first.get_json()["durability"]["synchronous"] is True  # the session's commit waited for the flush
    assert _stored(shop) == 1
    assert shop.post(f"/api/v1/trips/{trip_id}/events", batch).get_json()["duplicates"] == [batch["events"][0]["id"]]
    assert _stored(shop) == 1


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
