"""A shopper's problem reports travel in the trip's log and reach the feedback queue once; an empty
trip is no purchase; a colleague clearing a help call reaches the handheld."""
from __future__ import annotations

from sqlalchemy import select

from db.models import Feedback, Trip, User
from shop.numbering import product_gtin
from tests.store_api.conftest import MILK, Events, Shop


def _report(events: Events, **payload: object) -> dict[str, object]:
    """A `feedback` event (its payload has a `kind` of its own)."""
    ev = events("feedback")
    ev["payload"] = payload
    return ev


def test_a_problem_report_in_the_log_reaches_the_feedback_queue_once(shop: Shop, events: Events) -> None:
    trip_id = shop.start(shop.new_card)
    report = _report(events, kind="damaged", gtin=product_gtin(MILK), message="leaking")
    unknown = _report(events, kind="missing", gtin="4000000000009")
    batch = {"events": [events.scan(MILK), report, unknown]}
    assert shop.post(f"/api/v1/trips/{trip_id}/events", batch).status_code == 200
    assert shop.post(f"/api/v1/trips/{trip_id}/events", batch).get_json()["duplicates"]  # a resend after a lost answer
    with shop.session() as s:
        rows = {f.id: f for f in s.scalars(select(Feedback).where(Feedback.trip_id == trip_id))}
    assert set(rows) == {report["id"], unknown["id"]}
    kept = rows[report["id"]]
    assert (kept.kind, kept.message, kept.product_id, kept.member_id, kept.status) == (
        "damaged", "leaking", MILK, shop.new_member, "open")
    assert rows[unknown["id"]].product_id is None and "4000000000009" in rows[unknown["id"]].message


def test_a_malformed_report_is_refused_with_the_batch(shop: Shop, events: Events) -> None:
    trip_id = shop.start(None)
    bad = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK), _report(events, kind="rude")]})
    assert bad.status_code == 422
    with shop.session() as s:
        assert s.get(Trip, trip_id).event_count == 0


def test_an_empty_trip_is_abandoned_not_finished(shop: Shop, events: Events) -> None:
    trip_id = shop.start(None)
    scan = events.scan(MILK)
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [scan, events("remove", key=product_gtin(MILK))]})
    finish = shop.post(f"/api/v1/trips/{trip_id}/finish", {"handheld_total_minor": 0}).get_json()
    assert finish["status"] == "abandoned" and finish["audit"] is False
    assert shop.post(f"/api/v1/trips/{trip_id}/finish", {}).get_json()["status"] == "abandoned"  # a retry agrees
    refused = shop.till(f"/api/v1/trips/{trip_id}/checkout", {})
    assert refused.status_code == 409


def test_a_cleared_help_call_reaches_the_handheld(shop: Shop, events: Events) -> None:
    from server.staff import live

    trip_id = shop.start(None)
    shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK), events("help")]})
    with shop.session() as s:
        assert s.get(Trip, trip_id).needs_help is True
        live.help_done(s, trip_id, s.get(User, shop.staff_user_id))
        s.commit()
    answer = shop.post(f"/api/v1/trips/{trip_id}/events", {"events": [events.scan(MILK)]}).get_json()
    assert [e["kind"] for e in answer["staff_events"]] == ["help_done"]
