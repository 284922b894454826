"""Sign-in, CSRF, roles and store scoping of the staff console (throttling: test_lockout.py)."""
from __future__ import annotations

import pytest
from flask import Flask

from tests.staff.conftest import OTHER_MEMBER, PASSWORD, csrf_from, sign_in, token_of


@pytest.fixture(scope="module")
def staff_app(shared_app: Flask) -> Flask:
    """Every test here only reads (or signs in): share one seeded database per backend."""
    return shared_app


def test_signin_with_right_password_opens_the_dashboard(staff_app: Flask) -> None:
    client = staff_app.test_client()
    resp = sign_in(client, "alice")
    assert resp.status_code == 302 and resp.location.endswith("/staff/")
    page = client.get("/staff/").get_data(as_text=True)
    assert "alice" in page and "Trips started" in page


@pytest.mark.parametrize("username,password,status,message", [
    ("alice", "wrong-password", 401, "Unknown user or wrong password"),
    ("nobody", PASSWORD, 401, "Unknown user or wrong password"),
    ("", "", 400, "Enter your user name and password"),
])
def test_bad_signin_is_refused_with_a_reason(staff_app: Flask, username: str, password: str, status: int,
                                             message: str) -> None:
    client = staff_app.test_client()
    resp = sign_in(client, username, password)
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302  # still not signed in


def test_anonymous_visitor_is_sent_to_sign_in(staff_app: Flask) -> None:
    resp = staff_app.test_client().get("/staff/members/7")
    assert resp.status_code == 302 and "/signin?next=/staff/members/7" in resp.location


def test_signin_only_follows_local_next_paths(staff_app: Flask) -> None:
    client = staff_app.test_client()
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    resp = client.post("/signin", data={"username": "alice", "password": PASSWORD, "csrf_token": token,
                                        "next": "//evil.example/"})
    assert resp.status_code == 302 and resp.location.endswith("/staff/")


@pytest.mark.parametrize("path", ["/signin", "/staff/trips/{age_trip}/age-ok", "/staff/feedback/{fb}/status",
                                  "/staff/audits/{audit}", "/signout"])
def test_post_without_csrf_token_is_refused(staff_app: Flask, as_user, seeded, path: str) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    url = path.format(age_trip=seeded.age_trip, fb=seeded.feedback_id, audit=seeded.audit_id)
    resp = client.post(url, data={"status": "resolved", "username": "alice", "password": PASSWORD})
    assert resp.status_code == 400
    assert "security token" in resp.get_data(as_text=True)
    resp = client.post(url, data={"csrf_token": "forged", "status": "resolved"})
    assert resp.status_code == 400


def test_csrf_token_changes_at_sign_in(staff_app: Flask) -> None:
    client = staff_app.test_client()
    before = csrf_from(client.get("/signin").get_data(as_text=True))
    sign_in(client, "alice")
    assert token_of(client) != before


def test_staff_of_another_store_gets_403_on_a_member_page(as_user) -> None:  # type: ignore[no-untyped-def]
    assert as_user("alice").get(f"/staff/members/{OTHER_MEMBER}").status_code == 403
    assert as_user("bob").get(f"/staff/members/{OTHER_MEMBER}").status_code == 200
    assert as_user("bob").get("/staff/members/7").status_code == 403


def test_head_office_sees_members_of_every_store(as_user) -> None:  # type: ignore[no-untyped-def]
    client = as_user("hugo")
    assert client.get(f"/staff/members/{OTHER_MEMBER}").status_code == 200
    assert client.get("/staff/members/7").status_code == 200


def test_search_never_shows_another_stores_members(as_user) -> None:  # type: ignore[no-untyped-def]
    page = as_user("alice").get("/staff/members?q=household").get_data(as_text=True)
    assert "Household 7" in page and "Other Household" not in page


@pytest.mark.parametrize("username,status", [("alice", 403), ("mia", 200), ("hugo", 200)])
def test_data_requests_are_for_managers_and_head_office(as_user, username: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert as_user(username).get("/staff/data-requests").status_code == status


def test_sign_out_ends_the_session(as_user) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    client.post("/signout", data={"csrf_token": token_of(client)})
    assert client.get("/staff/").status_code == 302
