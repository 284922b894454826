"""Device authentication, trip start, offers and the OpenAPI document."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from db.models import Device, Trip
from server.auth.accounts import revoke_device
from shop.numbering import card_number
from tests.store_api.conftest import ERASED, OPTED_OUT, REGULAR, Shop, make_app


def test_unknown_or_missing_token_is_401(shop: Shop) -> None:
    for header in (None, "Bearer ", "Basic abc", "Bearer not-a-token", "Bearer " + shop.token + "x"):
        resp = shop.client.get("/api/v1/catalogue", headers={"Authorization": header} if header else {})
        assert resp.status_code == 401 and resp.get_json()["message"], header


def test_revoked_device_is_401(shop: Shop) -> None:
    with shop.session() as s:
        revoke_device(s, shop.device_id)
        s.commit()
    assert shop.get("/api/v1/trips/x/offers").status_code == 401


def test_last_seen_is_written_at_most_once_a_minute(shop: Shop) -> None:
    shop.get("/api/v1/ping")
    shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4())})
    with shop.session() as s:
        first = s.get(Device, shop.device_id).last_seen_at  # type: ignore[union-attr]
    assert first is not None
    shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4())})
    with shop.session() as s:
        assert s.get(Device, shop.device_id).last_seen_at == first  # type: ignore[union-attr]
        s.get(Device, shop.device_id).last_seen_at = first - timedelta(minutes=2)  # type: ignore[union-attr]
        s.commit()
    shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4())})
    with shop.session() as s:
        assert s.get(Device, shop.device_id).last_seen_at > first  # type: ignore[union-attr,operator]


def test_guest_trip_starts_once_and_repeats_answer_200(shop: Shop) -> None:
    trip_id = str(uuid.uuid4())
    body = {"trip_id": trip_id, "card_number": None, "started_at": "2026-01-02T12:00:00+02:00"}
    first = shop.post("/api/v1/trips", body)
    assert first.status_code == 201
    assert first.get_json() == {"trip_id": trip_id, "status": "active", "member": None, "offers": [],
                                "card_pending": False}
    again = shop.post("/api/v1/trips", body)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    with shop.session() as s:
        trip = s.get(Trip, trip_id)
        assert trip is not None and trip.device_id == shop.device_id
        assert trip.started_at == datetime(2026, 1, 2, 10, 0, tzinfo=timezone.utc)


def test_member_trip_carries_member_and_offers(shop: Shop) -> None:
    resp = shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4()), "card_number": shop.new_card})
    body = resp.get_json()
    assert resp.status_code == 201
    assert body["member"]["id"] == shop.new_member and body["member"]["consent"] is True
    assert [o["offer_id"] for o in body["offers"]] == [shop.offer_id]
    assert body["offers"][0]["reward_type"] == "percent" and "25% off" in body["offers"][0]["description"]
    offers = shop.get(f"/api/v1/trips/{body['trip_id']}/offers").get_json()["offers"]
    assert offers == body["offers"]


def test_opted_out_member_gets_no_personal_offers(shop: Shop) -> None:
    body = shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4()), "card_number": card_number(OPTED_OUT)}).get_json()
    assert body["member"]["id"] == OPTED_OUT and body["offers"] == []


def test_trip_of_another_device_is_refused_403(shop: Shop) -> None:
    trip_id = shop.start(card_number(REGULAR))
    resp = shop.post("/api/v1/trips", {"trip_id": trip_id}, token=shop.other_token)
    assert resp.status_code == 403


BAD_STARTS = [
    (b"", 400, "JSON body is required"),
    (b"{not json", 400, "not valid JSON"),
    (b"[]", 422, "must be object"),
    (b'{"card_number": null}', 422, "trip_id is required"),
    (b'{"trip_id": "123"}', 422, "trip_id"),
    (b'{"trip_id": 5}', 422, "must be string"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "card_number": 490}', 422, "card_number"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "started_at": "yesterday"}', 422, "ISO 8601"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "started_at": "2026-01-02T10:00:00"}', 422, "offset"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "colour": "red"}', 422, "not a known field"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "card_number": "0490000000000"}', 404, "no member"),
    (b'{"trip_id": "6f1c1c1e-1111-4111-8111-111111111111", "card_number": "' + card_number(ERASED).encode() + b'"}',
     404, "no member"),
]


def test_bad_trip_start_is_refused_and_writes_nothing(shop: Shop) -> None:
    # One database for the whole table: each row is a separate request that must change nothing.
    for raw, status, needle in BAD_STARTS:
        resp = shop.client.post("/api/v1/trips", data=raw, headers={**shop.auth, "Content-Type": "application/json"})
        assert (resp.status_code, needle in resp.get_json()["message"]) == (status, True), (raw, resp.get_json())
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Trip).where(Trip.device_id == shop.device_id)) == 0


def test_offers_of_unknown_trip_is_404(shop: Shop) -> None:
    assert shop.get(f"/api/v1/trips/{uuid.uuid4()}/offers").status_code == 404


@pytest.fixture
def bare_app(tmp_path: Path) -> Flask:
    """An app that never touches its database: enough for the OpenAPI document."""
    return make_app(f"sqlite:///{tmp_path}/unused.db", tmp_path)


def test_openapi_documents_exactly_the_real_routes(bare_app: Flask) -> None:
    doc = bare_app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    real = set()
    for rule in bare_app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule
            for conv in ("bigid:", "id:", "int:", "string:", "path:"):
                path = path.replace("<" + conv, "<")
            path = path.replace("<", "{").replace(">", "}")
            real |= {(path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    assert documented == real


def test_openapi_references_resolve(bare_app: Flask) -> None:
    doc = bare_app.test_client().get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    for ops in doc["paths"].values():
        for op in ops.values():
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                assert ref.rsplit("/", 1)[1] in schemas
            assert all("$ref" not in r.get("content", {}).get("application/json", {}).get("schema", {}) or
                       r["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1] in schemas
                       for r in op["responses"].values())
