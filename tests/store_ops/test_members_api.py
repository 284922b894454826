"""POST /api/v1/members/<id>/export and POST /api/v1/members/<id>/erase for signed-in console users."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from db.models import DataRequest, Member, Purchase
from db.session import make_engine, make_session_factory
from server.auth.accounts import add_user
from tests.staff.conftest import csrf_from

from .conftest import BACKENDS, NOW, Shop, clone_template, seed

MEMBERS = range(1, 9)


@pytest.fixture(scope="module", params=BACKENDS)
def api_app(request: pytest.FixtureRequest, templates: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app per backend over a small store; each test works on members of its own."""
    from db import localpg
    from server.app import create_app
    from server.database import engine as app_engine

    folder = tmp_path_factory.mktemp("api")
    url = clone_template(request.param, templates, folder)
    eng = make_engine(url)
    seed(eng)
    with make_session_factory(eng)() as sess:
        shop = Shop(engine=eng, session=sess)
        for mid in MEMBERS:
            shop.member(mid, name=f"Shopper {mid}", store="S002" if mid == 8 else "S001")
            shop.purchase(mid, NOW - dt.timedelta(days=mid), [(1, 100 + mid), (2, 200)])
        for name, role, store in [("staff1", "staff", "S001"), ("manager1", "manager", "S001"),
                                  ("manager2", "manager", "S002"), ("hq", "head_office", None)]:
            add_user(sess, name, "password-123", role, store)
        sess.commit()
    eng.dispose()
    app = create_app({"database": {"url": url}, "server": {"secret_key": "test-secret"},
                      "site": {"store_id": "S001", "store_name": "Test Store"}})
    app.config["TESTING"] = True
    yield app
    app_engine(app).dispose()
    if request.param == "postgresql":
        localpg.drop_database(url)


def _client(app: Flask, username: str | None) -> FlaskClient:
    """A test client signed in as `username` through the sign-in form, sending the session's
    CSRF token with every request as the console's pages do."""
    client = app.test_client()
    if username is not None:
        token = csrf_from(client.get("/signin").get_data(as_text=True))
        resp = client.post("/signin", data={"username": username, "password": "password-123", "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        client.environ_base["HTTP_X_CSRF_TOKEN"] = csrf_from(client.get("/signin").get_data(as_text=True))
    return client


def _count(app: Flask, model: Any, *where: Any) -> int:
    eng = make_engine(app.config["SHOPGO"]["database"]["url"])
    with make_session_factory(eng)() as sess:
        n = sess.scalar(select(func.count()).select_from(model).where(*where)) or 0
    eng.dispose()
    return int(n)


@pytest.mark.parametrize("user, path, status", [
    (None, "/api/v1/members/1/export", 401),
    ("staff1", "/api/v1/members/1/export", 403),
    ("manager2", "/api/v1/members/1/export", 403),  # another store's manager
    ("manager1", "/api/v1/members/abc/export", 404),  # not a member id: no such page
    ("manager1", "/api/v1/members/-1/export", 404),
    ("manager1", "/api/v1/members/99999999999/export", 404),
    ("manager1", "/api/v1/members/404/export", 404),
    ("manager1", "/api/v1/members/1/export", 200),
    ("hq", "/api/v1/members/8/export", 200),  # head office reaches every store
])
def test_export_needs_a_manager_or_head_office_user(api_app: Flask, user: str | None, path: str,
                                                    status: int) -> None:
    resp = _client(api_app, user).post(path)
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    if status == 200:
        assert body["profile"]["name"].startswith("Shopper") and len(body["purchases"][0]["lines"]) == 2
    else:
        assert body["message"]


def test_export_is_recorded_with_the_user_as_actor(api_app: Flask) -> None:
    assert _client(api_app, "manager1").post("/api/v1/members/2/export").status_code == 200
    assert _count(api_app, DataRequest, DataRequest.member_id == 2, DataRequest.kind == "export",
                  DataRequest.actor == "user:manager1") == 1


@pytest.mark.parametrize("user, member, body, status", [
    (None, 3, {"confirm": True}, 401),
    ("staff1", 3, {"confirm": True}, 403),
    ("manager2", 3, {"confirm": True}, 403),
    ("manager1", 3, None, 400),  # no JSON body: what a forged form post would send
    ("manager1", 3, {"confirm": "yes"}, 400),
    ("manager1", 3, ["confirm"], 400),
    ("manager1", 404, {"confirm": True}, 404),
])
def test_erase_refusals_change_nothing(api_app: Flask, user: str | None, member: int, body: Any,
                                       status: int) -> None:
    client = _client(api_app, user)
    resp = client.post(f"/api/v1/members/{member}/erase", json=body) if body is not None else \
        client.post(f"/api/v1/members/{member}/erase", data={"confirm": "true"})
    assert resp.status_code == status and resp.get_json()["message"]
    assert _count(api_app, Member, Member.id == 3, Member.erased_at.is_(None)) == 1
    assert _count(api_app, DataRequest, DataRequest.member_id == member) == 0


@pytest.mark.parametrize("user, member", [("manager1", 4), ("hq", 5)])
def test_erase_anonymises_the_member_once_and_is_recorded(api_app: Flask, user: str, member: int) -> None:
    client = _client(api_app, user)
    resp = client.post(f"/api/v1/members/{member}/erase", json={"confirm": True})
    assert resp.status_code == 200 and resp.get_json()["counts"]["purchases_anonymised"] == 1
    assert _count(api_app, Member, Member.id == member, Member.name.is_(None), Member.erased_at.is_not(None)) == 1
    assert _count(api_app, Purchase, Purchase.member_id == member) == 0
    again = client.post(f"/api/v1/members/{member}/erase", json={"confirm": True})
    assert again.status_code == 409 and "already erased" in again.get_json()["message"]
    assert _count(api_app, DataRequest, DataRequest.member_id == member, DataRequest.kind == "erase",
                  DataRequest.actor == f"user:{user}") == 1


def test_a_user_deleted_after_sign_in_is_refused(api_app: Flask) -> None:
    client = api_app.test_client()
    with client.session_transaction() as s:
        s["user_id"] = 987654
    assert client.post("/api/v1/members/1/export").status_code == 401
