"""Health proves the write path, and a write the database cannot keep is never acknowledged.

Before: /healthz ran a SELECT, so it said ok with the SQLite file deleted or made read-only,
and an event batch sent after the file was deleted was answered "stored" (SQLite wrote it
to the unlinked file) and was gone after a restart.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from db.base import utcnow
from db.models import Product, TripEvent
from server.auth.accounts import add_device
from tests.conftest import _database, app_config


@pytest.fixture
def sqlite_store(templates: dict[str, str], tmp_path: Path) -> Iterator[tuple[Flask, Path, str, str]]:
    """A store app on its own SQLite file: (app, file, a handheld's token, a known GTIN)."""
    from server.app import create_app
    from server.database import engine, session_factory

    for url in _database("sqlite", "imported", templates, tmp_path):
        app = create_app(app_config(url, tmp_path))
        app.config["TESTING"] = True
        with session_factory(app)() as s:
            _, token = add_device(s, "S001", "health handheld")
            gtin = s.scalars(select(Product.gtin).where(Product.sold_by_weight.is_(False)).limit(1)).one()
            s.commit()
        yield app, Path(url[len("sqlite:///"):]), token, gtin
        engine(app).dispose()


def _scan(gtin: str, seq: int) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "seq": seq, "kind": "scan", "occurred_at": utcnow().isoformat(),
            "payload": {"gtin": gtin, "barcode": gtin}}


def test_health_is_ok_when_the_database_takes_a_write(sqlite_store: tuple[Flask, Path, str, str]) -> None:
    app, _, _, _ = sqlite_store
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json()["database"] == "ok"


def test_health_fails_when_the_sqlite_file_is_deleted(sqlite_store: tuple[Flask, Path, str, str]) -> None:
    app, file, _, _ = sqlite_store
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # the pool now holds a connection to the file
    file.unlink()
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert "missing" in resp.get_json()["error"]


def test_health_fails_when_the_sqlite_file_is_read_only(sqlite_store: tuple[Flask, Path, str, str]) -> None:
    app, file, _, _ = sqlite_store
    file.chmod(0o444)
    try:
        resp = app.test_client().get("/healthz")
        assert resp.status_code == 503 and "read-only" in resp.get_json()["error"]
    finally:
        file.chmod(0o600)


def test_an_event_batch_after_the_file_is_deleted_is_refused_not_acknowledged(
        sqlite_store: tuple[Flask, Path, str, str]) -> None:
    app, file, token, gtin = sqlite_store
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    trip = str(uuid.uuid4())
    assert client.post("/api/v1/trips", json={"trip_id": trip}, headers=auth).status_code == 201
    kept = client.post(f"/api/v1/trips/{trip}/events", json={"events": [_scan(gtin, 1)]}, headers=auth)
    assert kept.status_code == 200 and len(kept.get_json()["stored"]) == 1
    moved = file.with_suffix(".moved")
    file.rename(moved)  # the file the server opened is no longer at its path
    lost = _scan(gtin, 2)
    resp = client.post(f"/api/v1/trips/{trip}/events", json={"events": [lost]}, headers=auth)
    assert resp.status_code == 503, resp.get_json()
    assert "nothing was stored" in resp.get_json()["message"]
    # The handheld keeps the event and sends it again once the file is back: stored once, then.
    from server.database import engine

    engine(app).dispose()
    moved.rename(file)
    again = client.post(f"/api/v1/trips/{trip}/events", json={"events": [lost]}, headers=auth)
    assert again.status_code == 200 and again.get_json()["stored"] == [lost["id"]]
    from server.database import session_factory

    with session_factory(app)() as s:
        assert len(s.scalars(select(TripEvent).where(TripEvent.trip_id == trip)).all()) == 2
