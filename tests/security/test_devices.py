"""Devices: enrolled with a role, listed and revoked from the CLI (the token refused at once),
and a device that walks card numbers is throttled and logged."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select, update

from db.base import utcnow
from db.models import Device, Member, Trip
from server.cli.main import main
from server.store.trips import CARD_FAILURES_ALLOWED
from shop.numbering import card_number
from tests.conftest import app_config


@pytest.fixture
def store(imported_url: str, tmp_path: Path) -> Iterator[Flask]:
    from server.app import create_app
    from server.database import engine

    app = create_app(app_config(imported_url, tmp_path))
    app.config["TESTING"] = True
    yield app
    engine(app).dispose()


def _cli(url: str, *args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--database", url])
    return result


def _token(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_device_add_takes_a_role_and_list_shows_it(imported_url: str) -> None:
    till = _cli(imported_url, "device", "add", "till-1", "--role", "till")
    assert till.exit_code == 0 and till.output.startswith("till ")
    assert _cli(imported_url, "device", "add", "hh-1").output.startswith("handheld ")
    bad = _cli(imported_url, "device", "add", "x", "--role", "printer")
    assert bad.exit_code != 0 and "'printer' is not one of 'handheld', 'till'" in bad.output
    listed = _cli(imported_url, "device", "list").output
    assert any("till-1" in line and "till" in line.split("till-1")[1] for line in listed.splitlines())
    assert any("hh-1" in line and "handheld" in line for line in listed.splitlines())


def test_a_revoked_device_is_refused_at_once_even_from_a_warm_cache(store: Flask, imported_url: str) -> None:
    token = _token(_cli(imported_url, "device", "add", "lost-1").output)
    client, auth = store.test_client(), {"Authorization": f"Bearer {token}"}
    trip = str(uuid.uuid4())
    assert client.post("/api/v1/trips", json={"trip_id": trip}, headers=auth).status_code == 201
    # The events view keeps known tokens in a per-worker cache: warm it.
    assert client.post(f"/api/v1/trips/{trip}/events", json={"events": []}, headers=auth).status_code == 200
    revoked = _cli(imported_url, "device", "revoke", "lost-1")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert client.post(f"/api/v1/trips/{trip}/events", json={"events": []}, headers=auth).status_code == 401
    assert client.get("/api/v1/catalogue?since=999999", headers=auth).status_code == 401
    assert client.post("/api/v1/trips", json={"trip_id": str(uuid.uuid4())}, headers=auth).status_code == 401
    listed = _cli(imported_url, "device", "list").output
    assert any("lost-1" in line and line.rstrip()[-1] != "-" for line in listed.splitlines())


def test_revoking_an_unknown_or_ambiguous_name_says_what_to_do(imported_url: str) -> None:
    missing = _cli(imported_url, "device", "revoke", "nobody")
    assert missing.exit_code != 0 and "shopgo device list" in missing.output
    _cli(imported_url, "device", "add", "twin")
    _cli(imported_url, "device", "add", "twin")
    twice = _cli(imported_url, "device", "revoke", "twin")
    assert twice.exit_code != 0 and "revoke one by its id" in twice.output


def test_a_device_walking_card_numbers_is_throttled_and_logged(store: Flask, imported_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from server.database import session_factory

    token = _token(_cli(imported_url, "device", "add", "walker").output)
    client, auth = store.test_client(), {"Authorization": f"Bearer {token}"}
    with session_factory(store)() as s:
        real = s.scalars(select(Member).where(Member.erased_at.is_(None)).order_by(Member.id).limit(1)).one()
        top = int(s.scalar(select(func.max(Member.id))) or 0)
    unknown = [card_number(top + 1000 + i) for i in range(CARD_FAILURES_ALLOWED)]

    def start(card: str) -> Any:
        return client.post("/api/v1/trips", json={"trip_id": str(uuid.uuid4()), "card_number": card}, headers=auth)

    with caplog.at_level(logging.WARNING, logger="server.store.trips"):
        assert [start(card).status_code for card in unknown] == [404] * CARD_FAILURES_ALLOWED
    assert sum("presented unknown card" in r.getMessage() for r in caplog.records) == CARD_FAILURES_ALLOWED
    paused = start(real.card_number)  # even a real card: the device is paused, the member not revealed
    assert paused.status_code == 429 and paused.get_json().get("retry_after", 0) > 0
    assert "member" not in paused.get_json()
    with session_factory(store)() as s:
        assert s.scalar(select(func.count()).select_from(Trip).where(Trip.member_id == real.id,
                                                                     Trip.device_id.in_(select(Device.id).where(
                                                                         Device.name == "walker")))) == 0
        # The window passes: the device may present cards again.
        s.execute(update(Device).where(Device.name == "walker").values(
            card_failures_since=utcnow() - timedelta(hours=1)))
        s.commit()
    again = start(real.card_number)
    assert again.status_code == 201 and again.get_json()["member"]["card_number"] == real.card_number


def test_a_guest_trip_is_never_throttled_by_card_failures(store: Flask, imported_url: str) -> None:
    token = _token(_cli(imported_url, "device", "add", "clumsy").output)
    client, auth = store.test_client(), {"Authorization": f"Bearer {token}"}
    for i in range(CARD_FAILURES_ALLOWED):
        client.post("/api/v1/trips", json={"trip_id": str(uuid.uuid4()), "card_number": card_number(90_000_000 + i)},
                    headers=auth)
    guest = client.post("/api/v1/trips", json={"trip_id": str(uuid.uuid4())}, headers=auth)
    assert guest.status_code == 201 and guest.get_json()["member"] is None
