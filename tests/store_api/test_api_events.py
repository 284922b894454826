"""Event batches: stored once, duplicates and gaps reported, bad batches refused whole."""
from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from sqlalchemy import func, select

from db.models import Trip, TripEvent
from shop.numbering import product_gtin
from tests.store_api.conftest import APPLES, BEER, BREAD, MILK, Events, Shop


def stored_count(shop: Shop) -> int:
    """Events this test's devices have stored."""
    with shop.session() as s:
        return int(s.scalar(select(func.count()).select_from(TripEvent).join(Trip, Trip.id == TripEvent.trip_id)
                            .where(Trip.device_id == shop.device_id)) or 0)


def test_batch_is_stored_and_acknowledged(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    batch = [events.scan(MILK), events.scan(MILK, quantity=2), events.scan(APPLES, weight_g=640)]
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch})
    assert resp.status_code == 200
    assert resp.get_json() == {"stored": [e["id"] for e in batch], "duplicates": [], "gaps": [], "last_seq": 3,
                               "staff_events": []}
    with shop.session() as s:
        trip = s.get(Trip, trip_id)
        assert (trip.event_count, trip.last_seq) == (3, 3)  # type: ignore[union-attr]
        assert s.get(TripEvent, batch[2]["id"]).payload["weight_g"] == 640  # type: ignore[union-attr]


def test_resent_batch_is_reported_as_duplicates_and_not_stored_twice(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    batch = [events.scan(MILK), events.scan(BREAD)]
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch})
    more = events.scan(MILK)
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch + [more]})
    assert resp.get_json()["stored"] == [more["id"]]
    assert resp.get_json()["duplicates"] == [e["id"] for e in batch]
    assert stored_count(shop) == 3
    with shop.session() as s:
        assert s.get(Trip, trip_id).event_count == 3  # type: ignore[union-attr]


def test_an_id_twice_in_one_batch_is_stored_once_as_first_sent(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    first = events.scan(MILK)
    again = {**events.scan(BREAD), "id": first["id"], "seq": first["seq"]}  # the same event, garbled
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [first, again]})
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["stored"], resp.get_json()["duplicates"]) == ([first["id"]], [first["id"]])
    with shop.session() as s:
        assert s.get(TripEvent, first["id"]).payload["gtin"] == product_gtin(MILK)  # type: ignore[union-attr]
        assert s.get(Trip, trip_id).event_count == 1  # type: ignore[union-attr]


def test_sequence_gap_is_kept_and_reported(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    first = events.scan(MILK)
    events.seq += 3                       # events 2..4 are lost on the way
    late = events.scan(BREAD)
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [first, late]})
    assert resp.get_json()["gaps"] == [[2, 4]]
    assert resp.get_json()["stored"] == [first["id"], late["id"]]
    events.seq = 1
    filled = [events.scan(MILK) for _ in range(3)]
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": filled})
    assert resp.get_json()["gaps"] == [] and resp.get_json()["last_seq"] == 5


def test_sequence_continues_across_trips_of_one_device(shop: Shop, events: Events) -> None:
    one, two = shop.start(), shop.start()
    shop.post(f"/api/v1/trips/{one}/events", {"events": [events.scan(MILK), events("finish")]})
    resp = shop.post(f"/api/v1/trips/{two}/events", {"events": [events.scan(MILK)]})
    assert resp.get_json()["gaps"] == [] and resp.get_json()["last_seq"] == 3


def test_empty_batch_stores_nothing(shop: Shop) -> None:
    trip_id = shop.start()
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": []}).get_json()["stored"] == []


def _with(change: Callable[[dict[str, Any]], None]) -> Callable[[Events], list[dict[str, Any]]]:
    def make(events: Events) -> list[dict[str, Any]]:
        good, bad = events.scan(MILK), events.scan(BREAD)
        change(bad)
        return [good, bad]
    return make


BAD_BATCHES = [
    ("negative quantity", _with(lambda e: e["payload"].update(quantity=-1)), 422, "quantity"),
    ("zero quantity", _with(lambda e: e["payload"].update(quantity=0)), 422, "quantity"),
    ("quantity as text", _with(lambda e: e["payload"].update(quantity="2")), 422, "must be integer"),
    ("quantity as bool", _with(lambda e: e["payload"].update(quantity=True)), 422, "must be integer"),
    ("unknown GTIN", _with(lambda e: e["payload"].update(gtin=product_gtin(77_777_777))), 422, "not in the catalogue"),
    ("GTIN with letters", _with(lambda e: e["payload"].update(gtin="04000ABC")), 422, "gtin"),
    ("seq as string", _with(lambda e: e.update(seq="2")), 422, "seq"),
    ("seq zero", _with(lambda e: e.update(seq=0)), 422, "seq"),
    ("bad event id", _with(lambda e: e.update(id="not-a-uuid")), 422, "id"),
    ("missing payload", _with(lambda e: e.pop("payload")), 422, "payload is required"),
    ("naive time", _with(lambda e: e.update(occurred_at="2026-01-01T10:00:00")), 422, "offset"),
    ("weight on unit item", _with(lambda e: e["payload"].update(weight_g=300)), 422, "not sold by weight"),
    ("weighed item without weight", _with(lambda e: e["payload"].update(gtin=product_gtin(APPLES))), 422,
     "sold by weight"),
    ("negative weight", _with(lambda e: e["payload"].update(gtin=product_gtin(APPLES), weight_g=-5)), 422, "weight_g"),
    ("negative label price", _with(lambda e: e["payload"].update(label_price_minor=-1)), 422, "label_price_minor"),
    ("set_quantity below zero", _with(lambda e: e.update(kind="set_quantity", payload={"key": "x", "quantity": -2})),
     422, "quantity"),
    ("remove without key", _with(lambda e: e.update(kind="remove", payload={})), 422, "key is required"),
    ("kind with capitals", _with(lambda e: e.update(kind="SCAN")), 422, "kind"),
    ("same seq, two events", lambda ev: [ev.scan(MILK), {**ev.scan(BREAD), "seq": ev.seq - 1}], 422,
     "two different events carry sequence number"),
]


def test_bad_batch_is_refused_whole(shop: Shop, events: Events) -> None:
    # One database for the table: each row is a batch with one good and one bad event.
    trip_id = shop.start()
    for name, make, status, needle in BAD_BATCHES:
        resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": make(events)})
        assert (resp.status_code, needle in resp.get_json()["message"]) == (status, True), (name, resp.get_json())
        assert stored_count(shop) == 0, name


MALFORMED = [(b"", 400), (b"{oops", 400), (b"\xff\xfe", 400), (b'{"events": {}}', 422), (b"[1]", 422),
             (b'{"events": [], "extra": 1}', 422), (b'"events"', 422), (b'{"events": [1]}', 422)]


def test_malformed_body_is_refused(shop: Shop) -> None:
    trip_id = shop.start()
    for raw, status in MALFORMED:
        resp = shop.client.post(f"/api/v1/trips/{trip_id}/events", data=raw,
                                headers={**shop.auth, "Content-Type": "application/json"})
        assert (resp.status_code, bool(resp.get_json()["message"])) == (status, True), raw


def test_oversize_batch_is_413(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    batch = [events.scan(MILK) for _ in range(501)]
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch})
    assert resp.status_code == 413 and "at most 500" in resp.get_json()["message"]
    assert stored_count(shop) == 0


def test_events_for_unknown_trip_are_404(shop: Shop, events: Events) -> None:
    resp = shop.post(f"/api/v1/trips/{uuid.uuid4()}/events", {"events": [events.scan(MILK)]})
    assert resp.status_code == 404


def test_events_for_another_devices_trip_are_refused_403(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}, token=shop.other_token)
    assert resp.status_code == 403 and stored_count(shop) == 0


def test_reused_sequence_number_is_409(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    events.seq = 0
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]})
    assert resp.status_code == 409 and "already held" in resp.get_json()["message"]
    assert stored_count(shop) == 1


def test_help_event_flags_the_trip(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events("help", reason="scanner")]})
    with shop.session() as s:
        assert s.get(Trip, trip_id).needs_help is True  # type: ignore[union-attr]


def test_events_after_checkout_are_409(shop: Shop, events: Events) -> None:
    trip_id = shop.start()
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    shop.post(f"/api/v1/trips/{trip_id}/finish", {"handheld_total_minor": 100})
    assert shop.till(f"/api/v1/trips/{trip_id}/checkout", {}).status_code == 200
    resp = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]})
    assert resp.status_code == 409 and stored_count(shop) == 1
    assert json.loads(resp.data)["status"] == 409


def test_a_staff_void_reaches_the_handheld_in_the_next_batch_answer_and_the_finish(shop: Shop, events: Events) -> None:
    from db.models import User
    from server.staff import live

    trip_id = shop.start()
    batch = [events.scan(MILK), events.scan(BREAD)]
    assert shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch}).get_json()["staff_events"] == []
    with shop.session() as s:
        action = live.void_line(s, trip_id, product_gtin(MILK), s.get(User, shop.staff_user_id))
        void_id = action.payload["event_id"]
        s.commit()
    answer = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]}).get_json()
    assert [(e["id"], e["kind"], e["payload"]["key"]) for e in answer["staff_events"]] == \
        [(void_id, "remove", product_gtin(MILK))]
    assert answer["staff_events"][0]["seq"] > max(e["seq"] for e in batch)  # folds after the device's events
    # the device says it made 4 events but sent 3: the void must not stand in for the missing one
    finish = shop.post(f"/api/v1/trips/{trip_id}/finish", {"event_count": 4}).get_json()
    assert [e["id"] for e in finish["staff_events"]] == [void_id]
    assert (finish["events_received"], finish["events_missing"]) == (3, 1)


def test_a_staff_age_approval_travels_as_an_age_ok_event_that_changes_no_line(shop: Shop, events: Events) -> None:
    from db.models import User
    from server.staff import live
    from shop.basket import fold

    trip_id = shop.start()
    batch = [events.scan(BEER), events.scan(MILK)]
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": batch})
    with shop.session() as s:
        live.approve_age(s, trip_id, s.get(User, shop.staff_user_id))
        s.commit()
        assert live.live_trip(s, trip_id).age_check is False
        lines = fold(s.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id))).lines
    assert sorted(line.gtin for line in lines) == sorted([product_gtin(BEER), product_gtin(MILK)])
    answer = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(BREAD)]}).get_json()
    assert [(e["kind"], e["payload"]["up_to_seq"]) for e in answer["staff_events"]] == \
        [("age_ok", max(e["seq"] for e in batch))]


def test_a_handheld_of_the_previous_version_is_answered_as_any_other(shop: Shop, events: Events) -> None:
    """Version 3 handhelds sent X-ShopGo-Durability and a finish epoch; both are accepted and ignored."""
    trip_id = shop.start()
    old = {"Authorization": f"Bearer {shop.token}", "X-ShopGo-Durability": "1"}
    batch = [events.scan(MILK)]
    resp = shop.client.post(f"/api/v1/trips/{trip_id}/events", json={"events": batch}, headers=old)
    assert resp.status_code == 200 and resp.get_json()["stored"] == [batch[0]["id"]]
    assert "durability" not in resp.get_json()  # every answered event is on disk: nothing to keep
    resp = shop.client.post(f"/api/v1/trips/{trip_id}/finish",
                            json={"handheld_total_minor": 0, "event_count": 1, "epoch": "an-old-epoch"}, headers=old)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "finished" and resp.get_json()["events_missing"] == 0
    assert "durability" not in resp.get_json()
