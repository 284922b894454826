"""Live trips: urgent first, age checks approved, lines voided by a server-side event, take-overs."""
from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import StaffAction, Trip, TripEvent, User
from server.errors import ApiError
from server.staff import live
from shop.basket import fold
from tests.staff.conftest import Seed, token_of


@pytest.fixture(scope="module")
def staff_app(shared_app: Flask) -> Flask:
    """Service tests here flush but never commit (the session rolls back), so one database serves all."""
    return shared_app


def _user(sess: Session, name: str = "alice") -> User:
    return sess.scalars(select(User).where(User.username == name)).one()


def test_trips_needing_staff_come_first(sess: Session, seeded: Seed) -> None:
    views = live.live_trips(sess, "S001")
    assert [v.trip.id for v in views][:2] == [seeded.age_trip, seeded.help_trip]
    assert views[0].age_check and not views[0].help
    assert views[1].help and not views[1].age_check
    assert seeded.audit_trip not in [v.trip.id for v in views]  # finished: it has left for the till


def test_other_stores_trips_are_not_listed(sess: Session, seeded: Seed) -> None:
    assert live.live_trips(sess, "S002") == []


def test_approving_the_age_check_clears_it_and_is_recorded(sess: Session, seeded: Seed) -> None:
    action = live.approve_age(sess, seeded.age_trip, _user(sess))
    assert action.kind == "age_ok" and action.payload["gtins"] == [seeded.beer_gtin]
    assert not live.live_trip(sess, seeded.age_trip).age_check
    with pytest.raises(ApiError) as err:
        live.approve_age(sess, seeded.age_trip, _user(sess))
    assert err.value.status == 409


def test_a_new_age_restricted_scan_asks_again(sess: Session, seeded: Seed) -> None:
    live.approve_age(sess, seeded.age_trip, _user(sess))
    trip = sess.get(Trip, seeded.age_trip)
    assert trip is not None
    sess.add(TripEvent(id="e-more-beer", trip_id=trip.id, device_id=seeded.device_id, seq=50, kind="scan",
                       payload={"gtin": seeded.beer_gtin, "barcode": seeded.beer_gtin},
                       occurred_at=trip.started_at, received_at=trip.started_at))
    trip.last_seq = 50
    sess.flush()
    assert live.live_trip(sess, seeded.age_trip).age_check


def test_void_appends_a_remove_event_so_the_fold_agrees(sess: Session, seeded: Seed) -> None:
    action = live.void_line(sess, seeded.age_trip, seeded.beer_gtin, _user(sess))
    events = sess.scalars(select(TripEvent).where(TripEvent.trip_id == seeded.age_trip)).all()
    remove = next(e for e in events if e.id == action.payload["event_id"])
    assert remove.kind == "remove" and remove.payload["key"] == seeded.beer_gtin
    assert remove.seq > live.CONSOLE_SEQ_BASE
    assert [line.gtin for line in fold(events).lines] == [seeded.food_gtin]
    view = live.live_trip(sess, seeded.age_trip)
    assert not view.age_check  # the restricted item is gone, so nothing to check


def test_two_voids_use_distinct_console_sequence_numbers(sess: Session, seeded: Seed) -> None:
    first = live.void_line(sess, seeded.age_trip, seeded.beer_gtin, _user(sess))
    second = live.void_line(sess, seeded.help_trip, seeded.food_gtin, _user(sess))
    seqs = sess.scalars(select(TripEvent.seq).where(TripEvent.id.in_([first.payload["event_id"],
                                                                     second.payload["event_id"]]))).all()
    assert len(set(seqs)) == 2


@pytest.mark.parametrize("trip_attr,key,status", [
    ("age_trip", "no-such-line", 404),
    ("age_trip", "", 404),
    (None, "x", 404),            # unknown trip
])
def test_void_of_something_not_there_is_refused(sess: Session, seeded: Seed, trip_attr: str | None, key: str,
                                                status: int) -> None:
    trip_id = getattr(seeded, trip_attr) if trip_attr else "no-such-trip"
    before = sess.scalars(select(TripEvent.id)).all()
    with pytest.raises(ApiError) as err:
        live.void_line(sess, trip_id, key, _user(sess))
    assert err.value.status == status
    assert sess.scalars(select(TripEvent.id)).all() == before


def test_checked_out_trip_cannot_be_changed(sess: Session, seeded: Seed) -> None:
    trip = sess.get(Trip, seeded.age_trip)
    assert trip is not None
    trip.status = "checked_out"
    sess.flush()
    for act in (live.take_over, live.approve_age, live.help_done):
        with pytest.raises(ApiError) as err:
            act(sess, seeded.age_trip, _user(sess))
        assert err.value.status == 409


def test_take_over_and_help_done_are_recorded(sess: Session, seeded: Seed) -> None:
    live.take_over(sess, seeded.help_trip, _user(sess))
    live.help_done(sess, seeded.help_trip, _user(sess))
    view = live.live_trip(sess, seeded.help_trip)
    assert view.taken_over_by == "alice" and not view.help
    kinds = sess.scalars(select(StaffAction.kind).where(StaffAction.trip_id == seeded.help_trip)
                         .order_by(StaffAction.id)).all()
    assert kinds == ["take_over", "help_done"]


def test_live_fragment_answers_json_with_the_table(as_user, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    data = as_user("alice").get("/staff/trips/live").get_json()
    assert data["count"] == 2 and data["urgent"] == 2  # the finished trip waits at the till, not here
    assert f'id="trip-{seeded.age_trip}"' in data["html"]


def test_staff_of_another_store_cannot_act_on_a_trip(as_user, seeded: Seed, sess: Session) -> None:  # type: ignore[no-untyped-def]
    client = as_user("bob")
    resp = client.post(f"/staff/trips/{seeded.age_trip}/take-over", data={"csrf_token": token_of(client)})
    assert resp.status_code == 403
    assert sess.scalars(select(StaffAction)).all() == []


def test_void_form_with_no_line_is_400(as_user, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    resp = client.post(f"/staff/trips/{seeded.age_trip}/void", data={"csrf_token": token_of(client), "key": " "})
    assert resp.status_code == 400 and "which line" in resp.get_data(as_text=True)
