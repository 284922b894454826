"""A trip takes a bounded number of events: a broken or hostile device cannot grow one trip
without end (150,000 events made the live page take 3.5 s and 475 MB)."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from db.base import utcnow
from db.models import Product, Trip, TripEvent
from server.auth.accounts import add_device
from server.store.ingest import MAX_TRIP_EVENTS
from tests.conftest import app_config


@pytest.fixture
def shop(imported_url: str, tmp_path: Path) -> Iterator[tuple[Flask, dict[str, str], str]]:
    """A store app, a handheld's auth header and a GTIN sold by the unit."""
    from server.app import create_app
    from server.database import engine, session_factory

    app = create_app(app_config(imported_url, tmp_path))
    app.config["TESTING"] = True
    with session_factory(app)() as s:
        _, token = add_device(s, "S001", "busy handheld")
        gtin = s.scalars(select(Product.gtin).where(Product.sold_by_weight.is_(False)).limit(1)).one()
        s.commit()
    yield app, {"Authorization": f"Bearer {token}"}, gtin
    engine(app).dispose()


def _scan(gtin: str, seq: int) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "seq": seq, "kind": "scan", "occurred_at": utcnow().isoformat(),
            "payload": {"gtin": gtin, "barcode": gtin}}


def test_a_full_trip_refuses_more_events_and_stores_none(shop: tuple[Flask, dict[str, str], str]) -> None:
    from server.database import session_factory

    app, auth, gtin = shop
    client, trip = app.test_client(), str(uuid.uuid4())
    assert client.post("/api/v1/trips", json={"trip_id": trip}, headers=auth).status_code == 201
    assert client.post(f"/api/v1/trips/{trip}/events", json={"events": [_scan(gtin, 1)]},
                       headers=auth).status_code == 200
    with session_factory(app)() as s:  # as if the device had sent the rest of the trip's allowance
        s.execute(update(Trip).where(Trip.id == trip).values(event_count=MAX_TRIP_EVENTS))
        s.commit()
    resp = client.post(f"/api/v1/trips/{trip}/events", json={"events": [_scan(gtin, 2), _scan(gtin, 3)]},
                       headers=auth)
    assert resp.status_code == 409 and "the most one trip may" in resp.get_json()["message"]
    with session_factory(app)() as s:
        assert s.scalar(select(func.count()).select_from(TripEvent).where(TripEvent.trip_id == trip)) == 1
    # The trip can still be finished and checked out as it stands.
    assert client.post(f"/api/v1/trips/{trip}/finish", json={}, headers=auth).status_code == 200
