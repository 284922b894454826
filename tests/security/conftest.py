"""Fixtures of the security tests: one store site (and a head-office app over the same
database) per backend, seeded with every kind of credential and one object of
each kind a URL can name, plus clients signed in through the real sign-in form."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Audit, Feedback, Member, Product, Purchase, Trip, TripEvent
from server.auth import accounts
from shop.numbering import card_number
from tests.conftest import BACKENDS, _database, app_config

PASSWORD = "security-pass-1"
# user name -> (role, store)
USERS = {"h_staff": ("staff", "S001"), "h_manager": ("manager", "S001"), "h_office": ("head_office", None),
         "h_other": ("staff", "S002"), "h_other_manager": ("manager", "S002")}
OTHER_MEMBER = 97_000_002  # a member of the other store


def quick_hash(password: str) -> str:
    """The production password hash is slow by design; tests sign in many times."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@dataclass
class Site:
    """A seeded store app, a head-office app on the same database, and what the tests need to know."""

    store: Flask
    office: Flask
    url: str
    device_token: str
    revoked_token: str
    store_token: str
    ids: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # matrix caller -> device token

    def session(self) -> Session:
        from server.database import session_factory

        return session_factory(self.store)()


def csrf_from(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD,
            environ: dict[str, str] | None = None) -> Any:
    """Sign in through the real form, CSRF token and all."""
    token = csrf_from(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=environ or {})


def _seed(session: Session) -> dict[str, Any]:
    now = utcnow()
    accounts.ensure_store(session, "S002", "Other Store")
    ids: dict[str, Any] = {}
    for name, (role, store) in USERS.items():
        ids[name] = accounts.add_user(session, name, PASSWORD, role, store).id
    device, ids["device_token"] = accounts.add_device(session, "S001", "security handheld")
    revoked, ids["revoked_token"] = accounts.add_device(session, "S001", "lost handheld")
    accounts.revoke_device(session, revoked.id)
    # One device of every other kind: the callers of the authorisation matrix.
    for key, store, role in (("handheld", "S001", "handheld"), ("far_handheld", "S002", "handheld"),
                             ("till", "S001", "till"), ("far_till", "S002", "till")):
        ids[f"{key}_token"] = accounts.add_device(session, store, f"security {key}", role)[1]
    # Imported households are members of S001 with two years of baskets.
    purchase = session.scalars(select(Purchase).where(Purchase.member_id.is_not(None)).limit(1)).one()
    ids["member"], ids["purchase"] = purchase.member_id, purchase.id
    ids["erase_member"], ids["erase_member_2"] = session.scalars(select(Member.id).where(
        Member.store_id == "S001", Member.id != purchase.member_id).order_by(Member.id).limit(2)).all()
    session.add(Member(id=OTHER_MEMBER, card_number=card_number(OTHER_MEMBER), store_id="S002", name="Other shopper",
                       consent_personalisation=True))
    ids["other_member"] = OTHER_MEMBER
    product = session.scalars(select(Product).limit(1)).one()
    trip = Trip(id=str(uuid.uuid4()), store_id="S001", device_id=device.id, member_id=purchase.member_id,
                status="active", started_at=now - timedelta(minutes=5), needs_help=True, last_seq=1, event_count=1)
    session.add(trip)
    session.flush()
    session.add(TripEvent(id=str(uuid.uuid4()), trip_id=trip.id, device_id=device.id, seq=1, kind="scan",
                          occurred_at=now, payload={"gtin": product.gtin, "barcode": product.gtin}))
    done = Trip(id=str(uuid.uuid4()), store_id="S001", device_id=device.id, member_id=purchase.member_id,
                status="finished", started_at=now - timedelta(minutes=20), finished_at=now, audit_required=True)
    session.add(done)
    session.flush()
    audit = Audit(trip_id=done.id, member_id=purchase.member_id, store_id="S001", reason="first trip",
                  probability=1.0, status="pending", requested_at=now)
    feedback = Feedback(id=str(uuid.uuid4()), store_id="S001", trip_id=trip.id, kind="missing", message="no oat milk")
    session.add_all([audit, feedback])
    session.flush()
    ids.update(trip=trip.id, done_trip=done.id, audit=audit.id, feedback=feedback.id, product=product.id,
               gtin=product.gtin)
    return ids


def _office_rows(session: Session, product_id: int) -> dict[str, Any]:
    from server.head_office import campaigns, compiler

    _, token = compiler.add_store(session, "S001", "Test Store")
    start = utcnow().replace(microsecond=0)
    campaign = campaigns.create_campaign(session, {
        "name": "Hardening", "product_ids": [product_id], "categories": [],
        "reward": {"type": "percent", "value": 10}, "valid_from": start.isoformat(),
        "valid_to": (start + timedelta(days=14)).isoformat(), "stores": ["S001"],
        "target": {"lifecycle": [], "segments": [], "tiers": [], "min_propensity": None, "top_n": None},
        "max_per_member": 1, "budget": {"kind": "redemptions", "amount": 0}, "holdout_share": 0.1}, "test")
    return {"store_token": token, "campaign": campaign.id}


def make_site(url: str, folder: Path) -> Site:
    """A store app and a head-office app over `url`, with the seed rows."""
    from server.app import create_app
    from server.database import session_factory

    store = create_app(app_config(url, folder))
    office = create_app(app_config(url, folder, site={"role": "head_office"}))
    for application in (store, office):
        application.config["TESTING"] = True
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "generate_password_hash", quick_hash)
        with session_factory(store)() as session:
            ids = _seed(session)
            ids.update(_office_rows(session, ids["product"]))
            session.commit()
    tokens = {key: ids.pop(f"{key}_token") for key in ("handheld", "far_handheld", "till", "far_till")}
    return Site(store=store, office=office, url=url, device_token=ids.pop("device_token"),
                revoked_token=ids.pop("revoked_token"), store_token=ids.pop("store_token"), ids=ids, tokens=tokens)


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, templates: dict[str, str],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One seeded site per backend and module: the matrix erases members, the fuzzer
    completes audits, so no module sees another's leftovers."""
    from server.database import engine
    from tests.loopback import dispose_when_idle

    folder = tmp_path_factory.mktemp("security")
    for url in _database(request.param, "imported", templates, folder):
        made = make_site(url, folder)
        yield made
        for application in (made.store, made.office):
            dispose_when_idle(engine(application))
