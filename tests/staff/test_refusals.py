"""Refused requests change nothing, so these share one seeded database per backend."""
from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Audit, DataRequest
from tests.staff.conftest import OTHER_MEMBER, Seed, token_of


@pytest.fixture(scope="module")
def staff_app(shared_app: Flask) -> Flask:
    return shared_app


@pytest.mark.parametrize("form,message", [
    ({"found_{food}": "-1"}, "whole number"),
    ({"found_{food}": "two"}, "whole number"),
    ({"found_{food}": "1000"}, "whole number"),
    ({}, "whole number"),
    ({"found_{food}": "2", "extra_gtin": "12ab"}, "8 to 14 digits"),
    ({"found_{food}": "2", "extra_gtin": "{food}"}, "already a line"),
])
def test_bad_rescan_counts_are_refused_and_change_nothing(as_user, sess: Session, seeded: Seed,
                                                          form: dict[str, str], message: str) -> None:  # type: ignore[no-untyped-def]
    client = as_user("alice")
    data = {k.format(food=seeded.food_gtin): v.format(food=seeded.food_gtin) for k, v in form.items()}
    resp = client.post(f"/staff/audits/{seeded.audit_id}", data={**data, "csrf_token": token_of(client)})
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)
    audit = sess.get(Audit, seeded.audit_id)
    assert audit is not None and audit.status == "pending"


def test_feedback_of_another_store_cannot_be_changed(as_user, seeded: Seed) -> None:  # type: ignore[no-untyped-def]
    client = as_user("bob")
    resp = client.post(f"/staff/feedback/{seeded.feedback_id}/status",
                       data={"csrf_token": token_of(client), "status": "resolved"})
    assert resp.status_code == 403


def test_dashboard_rejects_a_bad_day(as_user) -> None:  # type: ignore[no-untyped-def]
    assert as_user("alice").get("/staff/?day=31-12-2025").status_code == 400
    assert as_user("alice").get(f"/staff/?day={date.today().isoformat()}").status_code == 200


@pytest.mark.parametrize("member,confirm,code", [("7", "8", 400), ("7", "", 400), ("abc", "abc", 400),
                                                 (str(OTHER_MEMBER), str(OTHER_MEMBER), 403), ("424242", "424242", 404)])
def test_erase_needs_confirmation_and_a_member_of_the_store(as_user, sess: Session, member: str, confirm: str,
                                                            code: int) -> None:  # type: ignore[no-untyped-def]
    client = as_user("mia")
    resp = client.post("/staff/data-requests/erase", data={"csrf_token": token_of(client), "member_id": member,
                                                           "confirm": confirm})
    assert resp.status_code == code
    assert sess.scalars(select(DataRequest)).all() == []
