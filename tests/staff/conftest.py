"""Staff console fixtures: an app on an imported database with users, a second store, live
trips (one with an age-restricted item, one asking for help) and a pending audit."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, Feedback, Member, Product, Purchase, PurchaseLine, Trip, TripEvent
from server.auth import accounts

PASSWORD = "correct-horse-1"
OTHER_MEMBER = 990001  # a household of store S002


@dataclass(frozen=True)
class Seed:
    """Ids the tests refer to."""

    age_trip: str
    help_trip: str
    audit_trip: str
    audit_id: int
    beer_gtin: str
    food_gtin: str
    feedback_id: str
    device_id: int


def _event(trip_id: str, device_id: int, seq: int, kind: str, payload: dict[str, Any]) -> TripEvent:
    now = utcnow()
    return TripEvent(id=str(uuid.uuid4()), trip_id=trip_id, device_id=device_id, seq=seq, kind=kind,
                     payload=payload, occurred_at=now, received_at=now)


def seed(sess: Session) -> Seed:
    """Users of both stores and every role, a member of store B, live trips, an audit, feedback."""
    accounts.ensure_store(sess, "S002", "Other Store")
    for name, role, store in (("alice", "staff", "S001"), ("bob", "staff", "S002"), ("mia", "manager", "S001"),
                              ("hugo", "head_office", None)):
        accounts.add_user(sess, name, PASSWORD, role, store)
    now = utcnow()
    sess.add(Member(id=OTHER_MEMBER, card_number="4900009900015", store_id="S002", name="Other Household",
                    consent_personalisation=True, tier="silver", points=10, joined_at=now - timedelta(days=400)))
    sess.flush()
    purchase = Purchase(store_id="S002", member_id=OTHER_MEMBER, purchased_at=now - timedelta(days=3),
                        total_minor=450, source="selfscan")
    sess.add(purchase)
    sess.flush()
    beer = sess.scalars(select(Product).where(Product.min_age.is_not(None)).order_by(Product.id).limit(1)).one()
    food = sess.scalars(select(Product).where(Product.min_age.is_(None)).order_by(Product.id).limit(1)).one()
    sess.add(PurchaseLine(purchase_id=purchase.id, member_id=OTHER_MEMBER, product_id=food.id, quantity=1,
                          sales_minor=450, purchased_at=purchase.purchased_at))
    device, _ = accounts.add_device(sess, "S001", "handheld 1")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    age_trip, help_trip, audit_trip = ids
    sess.add_all([
        Trip(id=age_trip, store_id="S001", device_id=device.id, member_id=7, started_at=now - timedelta(minutes=9),
             last_seq=2, event_count=2),
        Trip(id=help_trip, store_id="S001", device_id=device.id, member_id=None, started_at=now - timedelta(minutes=20),
             last_seq=4, event_count=2, needs_help=True),
        Trip(id=audit_trip, store_id="S001", device_id=device.id, member_id=7, status="finished",
             started_at=now - timedelta(minutes=30), finished_at=now - timedelta(minutes=2), last_seq=7,
             event_count=3, audit_required=True),
    ])
    sess.flush()
    sess.add_all([
        _event(age_trip, device.id, 1, "scan", {"gtin": food.gtin, "barcode": food.gtin}),
        _event(age_trip, device.id, 2, "scan", {"gtin": beer.gtin, "barcode": beer.gtin}),
        _event(help_trip, device.id, 3, "scan", {"gtin": food.gtin, "barcode": food.gtin}),
        _event(help_trip, device.id, 4, "help", {}),
        _event(audit_trip, device.id, 5, "scan", {"gtin": food.gtin, "barcode": food.gtin}),
        _event(audit_trip, device.id, 6, "scan", {"gtin": food.gtin, "barcode": food.gtin}),
        _event(audit_trip, device.id, 7, "finish", {}),
    ])
    audit = Audit(trip_id=audit_trip, member_id=7, store_id="S001", reason="first self-scan trip", probability=1.0,
                  requested_at=now - timedelta(minutes=2))
    fb = Feedback(id=str(uuid.uuid4()), store_id="S001", trip_id=age_trip, member_id=7, product_id=food.id,
                  kind="missing", message="Shelf empty in aisle 4", created_at=now - timedelta(minutes=5))
    sess.add_all([audit, fb])
    sess.flush()
    return Seed(age_trip, help_trip, audit_trip, audit.id, beer.gtin, food.gtin, fb.id, device.id)


def _quick_hash(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@pytest.fixture
def staff_app(imported_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The store app on an imported database of either kind, seeded for the console."""
    # The production hash costs a third of a second by design; tests sign in dozens of times.
    monkeypatch.setattr(accounts, "generate_password_hash", _quick_hash)
    from server.app import create_app
    from server.database import engine as app_engine
    from server.database import session_factory
    from tests.conftest import app_config

    app = create_app(app_config(imported_url, tmp_path))
    app.config["TESTING"] = True
    with session_factory(app)() as sess:
        app.config["STAFF_SEED"] = seed(sess)
        sess.commit()
    yield app
    app_engine(app).dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_app(request: pytest.FixtureRequest, templates: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One seeded app per module and backend, for tests that only read (saves a clone per test)."""
    from server.app import create_app
    from server.database import engine as app_engine
    from server.database import session_factory
    from tests.conftest import _database, app_config

    tmp = tmp_path_factory.mktemp("staff-shared")
    for url in _database(request.param, "imported", templates, tmp):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(accounts, "generate_password_hash", _quick_hash)
            app = create_app(app_config(url, tmp))
            app.config["TESTING"] = True
            with session_factory(app)() as sess:
                app.config["STAFF_SEED"] = seed(sess)
                sess.commit()
        yield app
        app_engine(app).dispose()


@pytest.fixture
def seeded(staff_app: Flask) -> Seed:
    return staff_app.config["STAFF_SEED"]


@pytest.fixture
def sess(staff_app: Flask) -> Iterator[Session]:
    from server.database import session_factory

    with session_factory(staff_app)() as s:
        yield s


def csrf_from(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the real form, CSRF token and all."""
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def as_user(staff_app: Flask):  # type: ignore[no-untyped-def]
    """A factory of signed-in test clients: as_user("alice")."""

    def make(username: str) -> FlaskClient:
        client = staff_app.test_client()
        resp = sign_in(client, username)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return client

    return make


def token_of(client: FlaskClient, path: str = "/staff/") -> str:
    """The CSRF token of a signed-in client's session."""
    return csrf_from(client.get(path).get_data(as_text=True))
