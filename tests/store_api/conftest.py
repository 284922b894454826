"""Fixtures of the store API tests: an app over the imported data with known test products,
a device token, members with and without history, a promotion and a personal offer.

One database per module and backend (cloned from the shared imported templates) keeps the
folder fast; each test gets its own devices and its own new member, so tests stay apart.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, Offer, Product, Promotion, Trip
from server.auth.accounts import add_device, add_user
from shop.numbering import card_number, product_gtin
from tests.conftest import BACKENDS, _database

# Ids far above the Complete Journey's, so the test rows never meet imported ones.
MILK, BEER, APPLES, BREAD = 99_000_001, 99_000_002, 99_000_003, 99_000_004
REGULAR, OPTED_OUT, ERASED = 98_000_002, 98_000_003, 98_000_004
_member_ids = itertools.count(98_100_001)
QUIET_AUDITS = {"base_probability": 0.0, "weighed_item_weight": 0.0, "removal_weight": 0.0,
                "high_value_weight": 0.0, "mismatch_weight": 0.25}


@dataclass
class Shop:
    """What the tests need to know about the seeded store."""

    app: Flask
    client: FlaskClient
    token: str
    device_id: int
    other_token: str
    till_token: str
    staff_user_id: int
    offer_id: int
    new_member: int

    @property
    def new_card(self) -> str:
        """The card of this test's member, who has never shopped with a handheld."""
        return card_number(self.new_member)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def session(self) -> Session:
        from server.database import session_factory

        return session_factory(self.app)()

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        """POST as the handheld (or the device whose token is given)."""
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {token or self.token}"})

    def till(self, path: str, body: Any = None) -> Any:
        """POST as the store's till: checkouts and audit outcomes are its (or staff's) to make."""
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.till_token}"})

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(path, headers={**self.auth, **headers})

    def staff(self) -> tuple[FlaskClient, dict[str, str]]:
        """A test client signed in as the store's staff member "auditor", and its CSRF header."""
        from tests.staff.conftest import csrf_from, sign_in

        client = self.app.test_client()
        assert sign_in(client, "auditor", "correct horse").status_code == 302
        return client, {"X-CSRF-Token": csrf_from(client.get("/staff/").get_data(as_text=True))}

    def approve_age(self, trip_id: str) -> Any:
        """The staff member approves the trip's age-restricted items, as at the till page."""
        client, headers = self.staff()
        return client.post(f"/api/v1/trips/{trip_id}/age-approval", headers=headers)

    def start(self, card: str | None = None) -> str:
        trip_id = str(uuid.uuid4())
        resp = self.post("/api/v1/trips", {"trip_id": trip_id, "card_number": card, "started_at": utcnow().isoformat()})
        assert resp.status_code == 201, resp.get_json()
        return trip_id


class Events:
    """Makes well-formed events with this device's next sequence numbers."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind: str, **payload: Any) -> dict[str, Any]:
        self.seq += 1
        return {"id": str(uuid.uuid4()), "seq": self.seq, "kind": kind, "occurred_at": utcnow().isoformat(),
                "payload": payload}

    def scan(self, product_id: int, **extra: Any) -> dict[str, Any]:
        return self("scan", gtin=product_gtin(product_id), barcode=product_gtin(product_id), **extra)


def seed_store(session: Session) -> int:
    """Test products, a promotion, members with and without history, a staff user; returns the user id."""
    now = utcnow()
    session.add_all([
        Product(id=MILK, gtin=product_gtin(MILK), name="Test milk", category="TEST DAIRY", price_minor=100,
                member_price_minor=90, catalogue_version=1),
        Product(id=BEER, gtin=product_gtin(BEER), name="Test beer", category="TEST DRINK", price_minor=300,
                min_age=18, catalogue_version=1),
        Product(id=APPLES, gtin=product_gtin(APPLES), name="Test apples", category="TEST FRUIT", price_minor=250,
                sold_by_weight=True, plu="99001", catalogue_version=1),
        Product(id=BREAD, gtin=product_gtin(BREAD), name="Test bread", category="TEST BAKERY", price_minor=120,
                catalogue_version=1),
    ])
    session.flush()
    session.add(Promotion(name="Milk 3 for 2", kind="n_for_m", product_id=MILK, params={"n": 3, "m": 2},
                          starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=7), catalogue_version=1))
    for mid, consent in ((REGULAR, True), (OPTED_OUT, False), (ERASED, True)):
        session.add(Member(id=mid, card_number=card_number(mid), store_id="S001", name=f"Member {mid}",
                           consent_personalisation=consent, erased_at=now if mid == ERASED else None))
    session.flush()
    session.add(Offer(member_id=OPTED_OUT, product_id=BREAD, kind="replenish", reward_type="percent",
                      reward_value=25, valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=7)))
    # The regular has shopped with a handheld before, so the first-trip audit does not apply.
    session.add(Trip(id=str(uuid.uuid4()), store_id="S001", member_id=REGULAR, status="checked_out",
                     started_at=now - timedelta(days=3), finished_at=now - timedelta(days=3)))
    staff = add_user(session, "auditor", "correct horse", "staff", "S001")
    session.commit()
    return staff.id


def seed_test(session: Session) -> dict[str, Any]:
    """Per test: two handhelds, a till and a new consenting member holding a 25% offer on bread."""
    now = utcnow()
    mid = next(_member_ids)
    session.add(Member(id=mid, card_number=card_number(mid), store_id="S001", name="New member",
                       consent_personalisation=True))
    session.flush()
    offer = Offer(member_id=mid, product_id=BREAD, kind="replenish", reward_type="percent", reward_value=25,
                  valid_from=now - timedelta(days=1), valid_to=now + timedelta(days=7), max_redemptions=1)
    session.add(offer)
    device, token = add_device(session, "S001", "test handheld")
    _, other = add_device(session, "S001", "other handheld")
    _, till = add_device(session, "S001", "till 1", "till")
    session.commit()
    return {"token": token, "device_id": device.id, "other_token": other, "till_token": till, "offer_id": offer.id,
            "new_member": mid}


def make_app(url: str, tmp_path: Path, **sections: dict[str, Any]) -> Flask:
    """An app over `url` whose audits only fire on first trips unless a test says otherwise."""
    from server.app import create_app
    from tests.conftest import app_config

    sections.setdefault("audit", QUIET_AUDITS)
    application = create_app(app_config(url, tmp_path, **sections))
    application.config["TESTING"] = True
    return application


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, templates: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, int]]:
    """A store app over a clone of the imported data, with the test rows; one per module and backend."""
    from server.database import engine, session_factory

    folder = tmp_path_factory.mktemp("store_api")
    for url in _database(request.param, "imported", templates, folder):
        application = make_app(url, folder)
        with session_factory(application)() as session:
            staff_id = seed_store(session)
        yield application, staff_id
        engine(application).dispose()


@pytest.fixture
def shop(store: tuple[Flask, int]) -> Shop:
    """The module's store with this test's own devices and new member."""
    from server.database import session_factory

    application, staff_id = store
    with session_factory(application)() as session:
        ids = seed_test(session)
    return Shop(app=application, client=application.test_client(), staff_user_id=staff_id, **ids)


@pytest.fixture
def events() -> Events:
    """A fresh event maker (sequence numbers from 1)."""
    return Events()
