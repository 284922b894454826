"""Audit queue, feedback, dashboard and data requests through the console."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, DataRequest, Feedback, Member, Purchase
from server.staff import audit_queue, dashboard
from tests.staff.conftest import Seed, token_of


def test_audit_queue_lists_the_pending_audit_with_its_lines(sess: Session, seeded: Seed) -> None:
    queue = audit_queue.pending_audits(sess, "S001")
    assert [q.audit.id for q in queue] == [seeded.audit_id] and queue[0].items == 2
    expected = audit_queue.expected_lines(sess, seeded.audit_trip)
    assert [(e.gtin, e.expected) for e in expected] == [(seeded.food_gtin, 2)]


@pytest.mark.parametrize("found,status,mismatches", [("2", "passed", 0), ("1", "mismatch", 1), ("3", "mismatch", 1)])
def test_recording_a_rescan_sets_the_outcome(as_user, sess: Session, seeded: Seed, found: str, status: str,
                                             mismatches: int) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    form = {"csrf_token": token_of(client), f"found_{seeded.food_gtin}": found}
    resp = client.post(f"/staff/audits/{seeded.audit_id}", data=form)
    assert resp.status_code == 302
    audit = sess.get(Audit, seeded.audit_id)
    assert audit is not None and audit.status == status and audit.mismatch_count == mismatches
    assert audit.findings == [{"gtin": seeded.food_gtin, "expected": 2, "found": int(found)}]
    again = client.post(f"/staff/audits/{seeded.audit_id}", data=form)
    assert again.status_code == 409


def test_an_extra_item_in_the_bag_is_a_mismatch(as_user, sess: Session, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    client.post(f"/staff/audits/{seeded.audit_id}", data={
        "csrf_token": token_of(client), f"found_{seeded.food_gtin}": "2", "extra_gtin": seeded.beer_gtin,
        "extra_found": "1"})
    audit = sess.get(Audit, seeded.audit_id)
    assert audit is not None and audit.status == "mismatch"


@pytest.mark.parametrize("status,code", [("resolved", 302), ("in_progress", 302), ("closed", 400), ("", 400)])
def test_feedback_status_changes(as_user, sess: Session, seeded: Seed, status: str, code: int) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    resp = client.post(f"/staff/feedback/{seeded.feedback_id}/status",
                       data={"csrf_token": token_of(client), "status": status})
    assert resp.status_code == code
    fb = sess.get(Feedback, seeded.feedback_id)
    assert fb is not None and fb.status == (status if code == 302 else "open")


def test_feedback_page_lists_the_report(as_user) -> None:  # type: ignore[no-untyped-def]
    page = as_user("alice").get("/staff/feedback").get_data(as_text=True)
    assert "Out of stock" in page and "Shelf empty in aisle 4" in page


def test_dashboard_counts_todays_trips_and_the_mismatch_rate(as_user, sess: Session, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    client.post(f"/staff/audits/{seeded.audit_id}", data={"csrf_token": token_of(client),
                                                          f"found_{seeded.food_gtin}": "1"})
    now = utcnow()
    d = dashboard.store_dashboard(sess, "S001", now.date(), "UTC", now)
    assert d.trips == 3 and d.trips_live == 3
    assert (d.mismatched, d.audited, d.mismatch_rate) == (1, 1, 1.0)
    assert d.feedback_open == 1 and d.feedback_new == 1
    assert (d.audits_done, d.audits_failed, d.help_calls) == (1, 1, 1)
    assert sum(h.trips for h in d.hours) == d.trips and d.last_week is not None and d.last_week.trips == 0


def test_dashboard_shows_a_day_of_imported_baskets(sess: Session) -> None:
    newest = sess.scalar(select(func.max(Purchase.purchased_at)).where(Purchase.store_id == "S001"))
    assert newest is not None
    d = dashboard.store_dashboard(sess, "S001", newest.date(), "UTC", utcnow())
    assert d.purchases >= 1 and d.selfscan_share == 0.0 and d.average_basket_minor
    assert len(d.hours) == 24 and sum(h.baskets for h in d.hours) == d.purchases
    assert abs(d.sales_minor / d.purchases - d.average_basket_minor) <= 1
    assert d.last_week is not None and d.last_week.day == newest.date() - timedelta(days=7)
    start = datetime.combine(d.last_week.day, time(0), tzinfo=timezone.utc)
    week_ago = sess.scalar(select(func.count()).select_from(Purchase).where(
        Purchase.store_id == "S001", Purchase.purchased_at >= start, Purchase.purchased_at < start + timedelta(days=1)))
    assert d.last_week.purchases == week_ago


def test_dashboard_page_draws_the_hours_beside_last_week(as_user) -> None:  # type: ignore[no-untyped-def]
    page = as_user("alice").get("/staff/").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 2 and "a week ago" in page and 'class="bar ghost"' in page


def test_export_downloads_json_and_is_recorded(as_user, sess: Session) -> None:  # type: ignore[no-untyped-def]
    client = as_user("mia")
    resp = client.post("/staff/data-requests/export", data={"csrf_token": token_of(client), "member_id": "7"})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.get_json()["member_id"] == 7
    assert sess.scalars(select(DataRequest.kind).where(DataRequest.member_id == 7)).all() == ["export"]


def test_erase_removes_personal_data_and_is_recorded(as_user, sess: Session) -> None:  # type: ignore[no-untyped-def]
    client = as_user("mia")
    resp = client.post("/staff/data-requests/erase", data={"csrf_token": token_of(client), "member_id": "7",
                                                           "confirm": "7"})
    assert resp.status_code == 302
    member = sess.get(Member, 7)
    assert member is not None and member.erased_at is not None and member.name is None
    page = client.get("/staff/data-requests").get_data(as_text=True)
    assert "erase" in page and "mia" in page
