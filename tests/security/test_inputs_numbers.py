"""Numbers, ids and times from requests: read once with bounds, never a 500.

Found by fuzzing (issue 23): text that `str.isdigit()` takes but `int()` refuses ("²"),
integers of 2^63 and more, which SQLite cannot bind, and times that do not exist in UTC
all answered 500. Each is now a 4xx that says what was wrong, and whole numbers written as
11.0, which the published schema calls integers, are taken as 11.
"""
from __future__ import annotations

import itertools
import math
import uuid
from typing import Any, Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import Audit, DataRequest, Trip, TripEvent
from server.errors import ApiError
from server.params import MAX_ID, is_digits, whole_number
from server.store import cards
from server.store.schemas import EVENT, TRIP_START, errors, event_ok, parse_time, validate
from shop import numbering
from shop.basket import SERVER_SEQ_BASE
from tests.security.conftest import Site, csrf_from, sign_in

NOT_ASCII_DIGITS = ["²", "٣", "１２", "1²"]  # superscript two, Arabic-Indic three, full-width digits
TOO_BIG = [str(2**31), str(2**63), str(2**64), "9" * 30]


@pytest.mark.parametrize("raw, low, high, expected", [
    ("7", 0, MAX_ID, 7), (" 7 ", 0, MAX_ID, 7), (7, 0, MAX_ID, 7), (11.0, 0, MAX_ID, 11), ("-3", -5, 5, -3),
    (str(MAX_ID), 0, MAX_ID, MAX_ID),
    *[(raw, 0, MAX_ID, "must be a whole number") for raw in NOT_ASCII_DIGITS + TOO_BIG],
    ("-1", 0, MAX_ID, "from 0 to"), ("", 0, MAX_ID, "whole number"), ("1.0", 0, MAX_ID, "whole number"),
    ("0x10", 0, MAX_ID, "whole number"), (True, 0, MAX_ID, "whole number"), (11.5, 0, MAX_ID, "whole number"),
    (math.nan, 0, MAX_ID, "whole number"), (math.inf, 0, MAX_ID, "whole number"), (2**63, 0, MAX_ID, "from 0"),
    (None, 0, MAX_ID, "whole number"),
])
def test_whole_number_takes_ascii_digits_within_bounds_only(raw: Any, low: int, high: int, expected: Any) -> None:
    if isinstance(expected, int):
        assert whole_number(raw, "n", low=low, high=high) == expected
    else:
        with pytest.raises(ApiError) as caught:
            whole_number(raw, "n", low=low, high=high)
        assert caught.value.status == 400 and expected in caught.value.message


@pytest.mark.parametrize("text, ok", [("0490000000017", True), ("²", False), ("٣٣٣", False), ("", False),
                                      ("12a", False), ("1\n", False)])
def test_is_digits_means_ascii_digits(text: str, ok: bool) -> None:
    assert is_digits(text) is ok


def test_a_card_with_a_superscript_digit_is_no_card() -> None:
    card = numbering.card_number(1)
    assert numbering.member_id_from_card(card) == 1
    assert numbering.member_id_from_card(card[:5] + "²" + card[6:]) is None


def test_card_print_refuses_a_superscript_member_reference(site: Site) -> None:  # noqa: F811
    with site.session() as session, pytest.raises(cards.CardError):
        cards.find_member(session, "²")


@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00.000001+00:01",  # not in UTC
    "2025-01-01T10:00:00-18:59", "2025-01-01T10:00:00+14:01",  # offsets no place has (PostgreSQL: 500)
    "9999-12-31T23:59:59.9999999Z",  # PostgreSQL rounds the seventh place into the year 10000
    "2025-W01-1T10:00:00+00:00", "2025-01-01T10:00:00,5+00:00", "2025-01-01T10+00:00",  # Python only
    "2025-01-01 10:00:00+00:00", "2025-01-01T10:00:00", "2025-01-01T10:00:00Z\n", "2025-02-30T10:00:00Z",
])
def test_a_time_outside_rfc_3339_or_utc_is_no_time(text: str) -> None:
    assert parse_time(text) is None
    assert errors(text, {"type": "string", "format": "date-time"})


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00-01:00",
                                  "2025-01-01t10:00:00z", "2025-01-01T10:00:00.5+14:00", "2025-01-01T10:00:00-12:00"])
def test_rfc_3339_times_within_utc_are_times(text: str) -> None:
    assert parse_time(text) is not None


def test_a_pattern_ends_at_the_end_of_the_text_not_before_a_newline() -> None:
    trip_id = str(uuid.uuid4())
    assert not errors({"trip_id": trip_id}, TRIP_START)
    assert errors({"trip_id": trip_id + "\n"}, TRIP_START)


def test_device_sequence_numbers_stop_below_the_stores_own() -> None:
    assert EVENT["properties"]["seq"]["maximum"] == SERVER_SEQ_BASE - 1


def test_the_sync_paths_fast_check_takes_whole_floats_as_ints_too() -> None:
    event = {"id": str(uuid.uuid4()), "seq": 3.0, "kind": "scan", "occurred_at": "2025-01-01T10:00:00Z",
             "payload": {"gtin": "04000000000017", "quantity": 2.0}}
    assert event_ok(event) and type(event["seq"]) is int and type(event["payload"]["quantity"]) is int
    assert not event_ok({**event, "seq": 3.5})
    help_event = {**event, "kind": "set_quantity", "payload": {"key": "k1", "quantity": 4.0}}
    assert event_ok(help_event) and type(help_event["payload"]["quantity"]) is int


@pytest.mark.parametrize("payload", [{"note": "a\x00b"}, {"\ud800": 1}, {"n": [float("nan")]}])
def test_text_no_database_stores_is_refused_by_both_checks(payload: dict[str, Any]) -> None:
    event = {"id": str(uuid.uuid4()), "seq": 3, "kind": "help", "occurred_at": "2025-01-01T10:00:00Z",
             "payload": payload}
    assert not event_ok(event) and errors(event, EVENT)


def test_whole_numbers_written_as_floats_are_integers_and_become_ints() -> None:
    event = {"id": str(uuid.uuid4()), "seq": 3.0, "kind": "scan", "occurred_at": "2025-01-01T10:00:00Z",
             "payload": {"gtin": "04000000000017"}}
    assert validate(event, EVENT) is event and type(event["seq"]) is int
    assert errors({**event, "seq": 3.5}, EVENT) and errors({**event, "seq": True}, EVENT)


# --- over HTTP -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manager(site: Site) -> Iterator[FlaskClient]:  # noqa: F811
    """A manager of S001 signed in through the form, sending the session's CSRF token."""
    client = site.store.test_client()
    assert sign_in(client, "h_manager").status_code == 302
    client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf_from(client.get("/signin").get_data(as_text=True))
    yield client


@pytest.fixture(scope="module")
def handheld(site: Site) -> dict[str, str]:  # noqa: F811
    """The auth header of a handheld of this module's own: sequence numbers are per device."""
    from server.auth import accounts

    with site.session() as session:
        _, token = accounts.add_device(session, "S001", "inputs handheld")
        session.commit()
    return {"Authorization": f"Bearer {token}"}


SEQ = itertools.count(1)


def _json_error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == status and body["message"]
    return str(body["message"])


def _data_requests(site: Site) -> int:  # noqa: F811
    with site.session() as session:
        return len(session.scalars(select(DataRequest.id)).all())


@pytest.mark.parametrize("member", ["%C2%B2", "%D9%A3", str(2**31), str(2**63), "0", "-1"])
@pytest.mark.parametrize("action", ["export", "erase"])
def test_a_member_id_that_is_not_one_is_404_and_records_nothing(site: Site, manager: FlaskClient,  # noqa: F811
                                                                action: str, member: str) -> None:
    before = _data_requests(site)
    _json_error(manager.post(f"/api/v1/members/{member}/{action}", json={"confirm": True}), 404)
    assert _data_requests(site) == before


def test_the_export_is_a_post_and_a_get_is_405_naming_post(site: Site, manager: FlaskClient) -> None:  # noqa: F811
    before = _data_requests(site)
    resp = manager.get(f"/api/v1/members/{site.ids['member']}/export")
    _json_error(resp, 405)
    assert "POST" in resp.headers["Allow"] and "GET" not in resp.headers["Allow"]
    assert _data_requests(site) == before
    resp = manager.post(f"/api/v1/members/{site.ids['member']}/export")
    assert resp.status_code == 200 and resp.get_json()["profile"]
    assert _data_requests(site) == before + 1


@pytest.mark.parametrize("action, body", [("export", None), ("erase", {"confirm": True})])
def test_member_data_requests_without_the_sessions_csrf_token_are_refused(
        site: Site, manager: FlaskClient, action: str, body: Any) -> None:  # noqa: F811
    forged = site.store.test_client()  # the manager's cookie, as a browser sends it to a forged request
    cookie = manager.get_cookie("session")
    assert cookie is not None
    forged.set_cookie("session", cookie.value)
    before = _data_requests(site)
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        message = _json_error(forged.post(f"/api/v1/members/{site.ids['erase_member']}/{action}", json=body,
                                          headers=headers), 403)
        assert "CSRF" in message
    assert _data_requests(site) == before


def test_a_signed_out_sessions_cookie_exports_nothing(site: Site) -> None:  # noqa: F811
    client = site.store.test_client()
    assert sign_in(client, "h_office").status_code == 302
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert client.post("/signout", headers={"X-CSRF-Token": token}).status_code in (302, 303)
    copy = site.store.test_client()
    copy.set_cookie("session", cookie.value)
    _json_error(copy.post(f"/api/v1/members/{site.ids['member']}/export", headers={"X-CSRF-Token": token}), 401)


@pytest.mark.parametrize("path", ["/api/v1/trips", "/api/v1/feedback", "/api/v1/audits/1/outcome"])
def test_a_wrong_method_is_405_with_an_allow_header(site: Site, path: str) -> None:  # noqa: F811
    resp = site.store.test_client().get(path)
    _json_error(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_a_wrong_method_on_a_console_page_is_405_with_an_allow_header(site: Site) -> None:  # noqa: F811
    resp = site.store.test_client().get("/signout", headers={"Accept": "text/html"})
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"] and resp.mimetype == "text/html"


@pytest.fixture
def trip(site: Site, handheld: dict[str, str]) -> str:  # noqa: F811
    """A new trip of this module's handheld."""
    trip_id = str(uuid.uuid4())
    resp = site.store.test_client().post("/api/v1/trips", json={"trip_id": trip_id}, headers=handheld)
    assert resp.status_code == 201, resp.get_json()
    return trip_id


def _event(seq: Any, gtin: str, **extra: Any) -> dict[str, Any]:
    event = {"id": str(uuid.uuid4()), "seq": seq, "kind": "scan", "occurred_at": "2025-01-01T10:00:00+00:00",
             "payload": {"gtin": gtin}}
    event.update(extra)
    return event


def test_whole_numbers_written_as_floats_are_stored_as_integers(site: Site, handheld: dict[str, str],  # noqa: F811
                                                                trip: str) -> None:
    client = site.store.test_client()
    seq = next(SEQ)
    event = _event(float(seq), site.ids["gtin"])
    event["payload"]["quantity"] = 2.0
    resp = client.post(f"/api/v1/trips/{trip}/events", json={"events": [event]}, headers=handheld)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["stored"] == [event["id"]] and resp.get_json()["last_seq"] == seq
    with site.session() as session:
        stored = session.get(TripEvent, event["id"])
        assert stored is not None
        assert type(stored.seq) is int and stored.seq == seq
        assert type(stored.payload["quantity"]) is int and stored.payload["quantity"] == 2
    resp = client.post(f"/api/v1/trips/{trip}/finish", json={"handheld_total_minor": 250.0, "event_count": 1.0},
                       headers=handheld)
    assert resp.status_code == 200, resp.get_json()
    with site.session() as session:
        row = session.get(Trip, trip)
        assert row is not None and type(row.handheld_total_minor) is int and row.handheld_total_minor == 250


@pytest.mark.parametrize("change, needle", [
    ({"occurred_at": "9999-12-31T23:59:59-23:59"}, "occurred_at"),
    ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"occurred_at": "1227-07-08T15:39:48-18:59"}, "occurred_at"),  # found by the fuzzer: 500 on PostgreSQL
    ({"occurred_at": "2025-W01-1T10:00:00+00:00"}, "occurred_at"),
    ({"seq": SERVER_SEQ_BASE}, "seq"),
    ({"seq": 2**63}, "seq"),
    ({"seq": 1.5}, "seq"),
])
def test_a_bad_event_number_or_time_is_422_and_stores_nothing(
        site: Site, handheld: dict[str, str], trip: str, change: dict[str, Any], needle: str) -> None:  # noqa: F811
    event = {**_event(next(SEQ), site.ids["gtin"]), **change}
    resp = site.store.test_client().post(f"/api/v1/trips/{trip}/events", json={"events": [event]},
                                         headers=handheld)
    assert needle in _json_error(resp, 422)
    with site.session() as session:
        assert session.get(TripEvent, event["id"]) is None


@pytest.mark.parametrize("started_at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"])
def test_a_trip_started_at_a_time_outside_utc_is_422(site: Site, handheld: dict[str, str],  # noqa: F811
                                                     started_at: str) -> None:
    trip_id = str(uuid.uuid4())
    resp = site.store.test_client().post("/api/v1/trips", json={"trip_id": trip_id, "started_at": started_at},
                                         headers=handheld)
    assert "started_at" in _json_error(resp, 422)
    with site.session() as session:
        assert session.get(Trip, trip_id) is None


def test_a_trip_id_with_a_trailing_newline_is_refused(site: Site, handheld: dict[str, str]) -> None:  # noqa: F811
    trip_id = str(uuid.uuid4()) + "\n"
    _json_error(site.store.test_client().post("/api/v1/trips", json={"trip_id": trip_id}, headers=handheld), 422)
    with site.session() as session:
        assert session.get(Trip, trip_id) is None


@pytest.mark.parametrize("since", ["%C2%B2", "%D9%A3", str(2**63), "-1", "1.5"])
def test_a_catalogue_version_that_is_not_one_is_400(site: Site, handheld: dict[str, str],  # noqa: F811
                                                    since: str) -> None:
    _json_error(site.store.test_client().get(f"/api/v1/catalogue?since={since}", headers=handheld), 400)


# --- the staff console ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def staff(site: Site) -> Iterator[FlaskClient]:  # noqa: F811
    client = site.store.test_client()
    assert sign_in(client, "h_manager").status_code == 302
    yield client


@pytest.mark.parametrize("page", ["²", "٣", str(2**63), "0", "-1", "1.0"])
def test_a_basket_page_number_that_is_not_one_is_400(site: Site, staff: FlaskClient, page: str) -> None:  # noqa: F811
    resp = staff.get(f"/staff/members/{site.ids['member']}?page={page}", headers={"Accept": "text/html"})
    assert resp.status_code == 400 and "page must be a whole number" in resp.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "２０２５-01-01", "2025-0²-01"])
def test_a_dashboard_day_whose_bounds_leave_the_calendar_is_400(staff: FlaskClient, day: str) -> None:
    resp = staff.get("/staff/", query_string={"day": day}, headers={"Accept": "text/html"})
    assert resp.status_code == 400 and "day must be a date" in resp.get_data(as_text=True)


@pytest.mark.parametrize("day", ["9999-12-30", "0001-01-02", "2025-03-31"])
def test_a_dashboard_day_within_the_calendar_answers(staff: FlaskClient, day: str) -> None:
    assert staff.get("/staff/", query_string={"day": day}).status_code == 200


@pytest.mark.parametrize("query", ["²", "٣٣٣٣٣٣", "9" * 40, "0490²00000017"])
def test_a_member_search_with_unusual_digits_answers(staff: FlaskClient, query: str) -> None:
    resp = staff.get("/staff/members", query_string={"q": query})
    assert resp.status_code == 200


@pytest.mark.parametrize("member", ["²", "٣", str(2**63), "0"])
@pytest.mark.parametrize("action", ["export", "erase"])
def test_a_console_data_request_for_a_member_id_that_is_not_one_is_400(site: Site, staff: FlaskClient,  # noqa: F811
                                                                       action: str, member: str) -> None:
    token = csrf_from(staff.get("/staff/data-requests").get_data(as_text=True))
    before = _data_requests(site)
    resp = staff.post(f"/staff/data-requests/{action}", data={"member_id": member, "confirm": member,
                                                                "csrf_token": token})
    assert resp.status_code == 400 and "household id" in resp.get_data(as_text=True)
    assert _data_requests(site) == before


@pytest.mark.parametrize("form", [{"extra_gtin": "GTIN", "extra_found": "²"},
                                  {"extra_gtin": "GTIN", "extra_found": str(2**63)},
                                  {"extra_gtin": "0400²0000017"}, {"extra_gtin": "٣٣٣٣٣٣٣٣"}])
def test_a_rescan_count_or_barcode_that_is_not_digits_is_400(site: Site, staff: FlaskClient,  # noqa: F811
                                                             form: dict[str, str]) -> None:
    page = staff.get(f"/staff/audits/{site.ids['audit']}")
    assert page.status_code == 200
    sent = {k: v.replace("GTIN", site.ids["gtin"]) for k, v in form.items()}
    resp = staff.post(f"/staff/audits/{site.ids['audit']}",
                      data={**sent, "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    with site.session() as session:
        audit = session.get(Audit, site.ids["audit"])
        assert audit is not None and audit.status == "pending"
