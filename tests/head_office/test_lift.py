"""Lift math: Welch's interval against scipy and a hand computation; the report on fixed results."""
from __future__ import annotations

import math
import uuid
from datetime import timedelta

import pytest
from scipy import stats
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignAudience, Pack, StoreLink
from server.head_office.compiler import add_store
from server.head_office.definition import CampaignError, parse_definition
from server.head_office.results import campaign_report, ingest_results, welch_lift
from tests.head_office.conftest import NOW, definition, seed_chain

EXPOSED = [300.0, 0.0, 500.0, 100.0]
HOLDOUT = [100.0, 0.0, 50.0]


def test_welch_lift_matches_hand_computation() -> None:
    lift = welch_lift(EXPOSED, HOLDOUT)
    assert (lift.exposed_mean, lift.holdout_mean, lift.lift) == (225.0, 50.0, 175.0)
    a, b = (147500 / 3) / 4, 2500 / 3  # sample variances over group sizes
    df = (a + b) ** 2 / (a ** 2 / 3 + b ** 2 / 2)
    half = stats.t.ppf(0.975, df) * math.sqrt(a + b)
    assert lift.low == pytest.approx(175 - half) and lift.high == pytest.approx(175 + half)
    assert lift.relative == pytest.approx(3.5)


def test_welch_interval_agrees_with_scipy() -> None:
    ci = stats.ttest_ind(EXPOSED, HOLDOUT, equal_var=False).confidence_interval(0.95)
    lift = welch_lift(EXPOSED, HOLDOUT)
    assert (lift.low, lift.high) == (pytest.approx(ci.low), pytest.approx(ci.high))


@pytest.mark.parametrize("exposed, holdout", [([], []), ([1.0], [2.0, 3.0]), ([1.0, 2.0], [5.0])])
def test_no_interval_with_fewer_than_two_in_a_group(exposed: list[float], holdout: list[float]) -> None:
    lift = welch_lift(exposed, holdout)
    assert lift.low is None and lift.high is None


def test_equal_spend_everywhere_gives_a_point_interval() -> None:
    lift = welch_lift([100.0, 100.0], [100.0, 100.0])
    assert (lift.lift, lift.low, lift.high) == (0.0, 0.0, 0.0)


def _setup(session: Session) -> StoreLink:
    seed_chain(session, {"S001": [1, 2, 3, 4, 5, 6, 7]})
    link, _ = add_store(session, "S001", "One")
    d = parse_definition(definition(budget={"kind": "money", "amount": 500}))
    session.add(Campaign(id=5, name=d["name"], status="published", version=2, definition=d))
    session.flush()
    # head office sent S001 a pack for campaign 5, so S001 may report its results
    session.add(Pack(store_id="S001", seq=1, campaign_id=5, campaign_version=2, action="activate", body="{}",
                     signature="", created_at=NOW))
    groups = {1: "exposed", 2: "exposed", 3: "exposed", 4: "exposed", 5: "holdout", 6: "holdout", 7: "holdout"}
    session.add_all([CampaignAudience(campaign_id=5, store_id="S001", member_id=m, grp=g, version=2)
                     for m, g in groups.items()])
    session.flush()
    return link


def _row(member: int, kind: str, ref: str, **amounts: int) -> dict[str, object]:
    return {"campaign_id": 5, "member_id": member, "kind": kind, "ref": ref, "at": NOW.isoformat(), **amounts}


ROWS = [_row(1, "purchase", "p1", spend_minor=200), _row(1, "purchase", "p2", spend_minor=100),
        _row(3, "purchase", "p3", spend_minor=500), _row(4, "purchase", "p4", spend_minor=100),
        _row(5, "purchase", "p5", spend_minor=100), _row(7, "purchase", "p6", spend_minor=50),
        _row(1, "redemption", "r1", discount_minor=60), _row(3, "redemption", "r2", discount_minor=100)]


def test_report_matches_hand_computation(db_session: Session) -> None:
    link = _setup(db_session)
    ingest_results(db_session, link, str(uuid.uuid4()), ROWS)
    report = campaign_report(db_session, 5)
    line = report["stores"][0]
    assert (line["exposed"], line["holdout"], line["redemptions"], line["discount_minor"]) == (4, 3, 2, 160)
    assert (line["buyers_exposed"], line["buyers_holdout"]) == (3, 2)
    assert line["lift"]["exposed_mean"] == 225.0 and line["lift"]["holdout_mean"] == 50.0
    assert line["lift"]["lift"] == 175.0
    assert line["lift"]["low"] == pytest.approx(welch_lift(EXPOSED, HOLDOUT).low)
    assert report["budget"] == {"kind": "money", "amount": 500, "used": 160, "exhausted": False}
    assert report["overall"]["lift"]["lift"] == 175.0


def test_retried_batch_counts_once(db_session: Session) -> None:
    link = _setup(db_session)
    batch = str(uuid.uuid4())
    assert ingest_results(db_session, link, batch, ROWS)["stored"] == 8
    assert ingest_results(db_session, link, batch, ROWS) == {"batch_id": batch, "duplicate": True, "stored": 0}
    assert ingest_results(db_session, link, str(uuid.uuid4()), ROWS[:2])["stored"] == 0  # same purchases again
    assert campaign_report(db_session, 5)["stores"][0]["lift"]["exposed_mean"] == 225.0


@pytest.mark.parametrize("bad, message", [
    ({"kind": "refund"}, "needs kind"), ({"member_id": "x"}, "member_id must be a whole number"),
    ({"at": "yesterday"}, "ISO 8601"), ({"at": (NOW - timedelta(hours=1)).replace(tzinfo=None).isoformat()}, "UTC"),
    ({"campaign_id": 99}, "never sent to store S001"), ({"spend_minor": -1}, "spend_minor must be a whole number"),
    ({"campaign_id": 10**30}, "campaign_id must be a whole number"), ({"points": 2**63}, "points must be"),
])
def test_bad_result_rows_are_refused_whole(db_session: Session, bad: dict[str, object], message: str) -> None:
    link = _setup(db_session)
    with pytest.raises(CampaignError, match=message):
        ingest_results(db_session, link, str(uuid.uuid4()), [ROWS[0], {**ROWS[1], **bad}])
