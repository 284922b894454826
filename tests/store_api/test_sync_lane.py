"""The sync lane (server/api/sync_lane.py) answers the usual batch past Flask, exactly as the view
would, and hands everything else to the view."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from flask import request_started
from sqlalchemy import func, select

from db.models import TripEvent
from server.accounts import revoke_device
from server.api.sync_lane import SyncLane
from server.numbering import product_gtin
from tests.store_api.conftest import APPLES, BREAD, MILK, Events, Shop

POSTGRES_ONLY = pytest.mark.parametrize(
    "store", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@contextmanager
def flask_requests(shop: Shop) -> Iterator[list[str]]:
    """The paths of the requests that reached Flask's request handling while inside."""
    seen: list[str] = []

    def note(sender: Any, **_: Any) -> None:
        from flask import request

        seen.append(request.path)

    request_started.connect(note, shop.app)
    try:
        yield seen
    finally:
        request_started.disconnect(note, shop.app)


def _stored(shop: Shop) -> int:
    with shop.session() as s:
        return int(s.scalar(select(func.count()).select_from(TripEvent)) or 0)


def test_a_usual_batch_skips_flask_on_postgresql_only(shop: Shop, events: Events, store: Any) -> None:
    trip_id = shop.start()  # authenticates the token, which this worker then keeps
    with flask_requests(shop) as seen:
        resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK), events.scan(BREAD)]})
    assert resp.status_code == 200 and len(resp.get_json()["stored"]) == 2
    assert resp.headers["Content-Type"] == "application/json"
    on_postgres = shop.app.extensions["shopgo.db"]["engine"].dialect.name == "postgresql"
    assert seen == ([] if on_postgres else [f"/api/v1/trips/{trip_id}/events"])


@POSTGRES_ONLY
def test_a_token_this_worker_has_not_seen_goes_to_flask_once(shop: Shop, store: Any) -> None:
    other = Events()
    trip_id = str(uuid.uuid4())
    assert shop.post("/api/v1/trips", {"trip_id": trip_id}, token=shop.other_token).status_code == 201
    shop.app.extensions["shopgo.device_tokens"].clear()  # as in a worker that has not seen this device yet
    path = f"/api/v1/trips/{trip_id}/events"
    with flask_requests(shop) as seen:
        for _ in range(3):
            assert shop.post(path, {"events": [other.scan(MILK)]}, token=shop.other_token).status_code == 200
    assert seen == [path]


@POSTGRES_ONLY
@pytest.mark.parametrize("case, status", [
    ("not json", 400), ("too many events", 413), ("malformed event", 422), ("unknown gtin", 422),
    ("weighed without weight", 422), ("no such trip", 404), ("another device's trip", 403),
    ("checked-out trip", 409), ("revoked device", 401), ("no token", 401)])
def test_every_refusal_is_the_views_answer_and_writes_nothing(shop: Shop, events: Events, store: Any,
                                                              case: str, status: int) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    body: Any = {"events": [events.scan(BREAD)]}
    headers = {"Authorization": f"Bearer {shop.token}", "Content-Type": "application/json"}
    if case == "not json":
        body = b'{"events": ['
    elif case == "too many events":
        body = {"events": [events.scan(BREAD) for _ in range(shop.app.config["SHOPGO"]["server"]["max_batch_events"] + 1)]}
    elif case == "malformed event":
        body = {"events": [{**events.scan(BREAD), "seq": -4}]}
    elif case == "unknown gtin":
        body = {"events": [events.scan(99_999_999)]}
    elif case == "weighed without weight":
        body = {"events": [events.scan(APPLES)]}
    elif case == "no such trip":
        trip_id = str(uuid.uuid4())
    elif case == "another device's trip":
        headers["Authorization"] = f"Bearer {shop.other_token}"
        shop.post("/api/v1/trips", {"trip_id": str(uuid.uuid4())}, token=shop.other_token)  # token now cached
    elif case == "checked-out trip":
        assert shop.post(f"/api/v1/trips/{trip_id}/finish", {}).status_code == 200
        assert shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).status_code == 200
    elif case == "revoked device":
        with shop.session() as s:
            revoke_device(s, shop.device_id)
            s.commit()
    elif case == "no token":
        del headers["Authorization"]
    data = body if isinstance(body, bytes) else None
    before = _stored(shop)
    with flask_requests(shop) as seen:
        resp = shop.client.post(f"/api/v1/trips/{trip_id}/events", data=data, json=None if data else body,
                                headers=headers)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["status"] == status and resp.get_json()["message"]
    assert seen == [f"/api/v1/trips/{trip_id}/events"]
    assert _stored(shop) == before


def _scenario(shop: Shop, token: str) -> list[tuple[int, Any]]:
    """Fresh, repeated, gapped and mixed batches of one new trip; answers with event ids as their positions."""
    events = Events()
    trip_id = str(uuid.uuid4())
    assert shop.post("/api/v1/trips", {"trip_id": trip_id}, token=token).status_code == 201
    first = [events.scan(MILK), events.scan(BREAD)]
    events.seq += 3  # a gap of three numbers
    later = [events.scan(MILK), events("remove", key=product_gtin(MILK))]
    batches = [first, first, later, [first[0], events.scan(BREAD)], [events.scan(MILK), events.scan(MILK)]]
    names: dict[str, int] = {}
    for ev in (ev for batch in batches for ev in batch):
        names.setdefault(ev["id"], len(names))
    out = []
    for batch in batches:
        resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch}, token=token)
        body = resp.get_json()
        for key in ("stored", "duplicates"):
            body[key] = [names[eid] for eid in body[key]]
        body["durability"] = sorted(body["durability"])  # its positions move with every commit
        out.append((resp.status_code, body))
    return out


@POSTGRES_ONLY
def test_the_lane_answers_as_the_view_does(shop: Shop, store: Any) -> None:
    lane = shop.app.wsgi_app
    assert isinstance(lane, SyncLane)
    with flask_requests(shop) as seen:
        through_lane = _scenario(shop, shop.token)
    assert len(seen) == 1  # the trip's start only
    shop.app.wsgi_app = lane.flask_wsgi  # type: ignore[method-assign]
    try:
        through_view = _scenario(shop, shop.other_token)
    finally:
        shop.app.wsgi_app = lane  # type: ignore[method-assign]
    assert through_lane == through_view
    assert [status for status, _ in through_lane] == [200] * 5
    assert through_lane[1][1]["duplicates"] == [0, 1] and through_lane[2][1]["gaps"] == [[3, 5]]
    assert through_lane[0][1]["durability"] == ["epoch", "flushed", "synchronous", "written"]
    assert through_lane[3][1]["stored"] == [4] and through_lane[3][1]["duplicates"] == [0]
