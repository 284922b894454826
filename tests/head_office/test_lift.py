"""Lift math: Welch's interval against scipy and a hand computation; the report on fixed results."""
from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from scipy import stats
from sqlalchemy.orm import Session

from db.models import Campaign, CampaignAudience, Pack, StoreLink
from server.head_office.compiler import add_store
from server.head_office.definition import CampaignError, parse_definition
from server.head_office.feed import apply_batch
from server.head_office.lake import Lake
from server.head_office.results import campaign_report, welch_lift
from tests.head_office.conftest import NOW, definition, feed_batch, purchase_fact, seed_chain

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


def _red(offer_id: int, discount: int) -> dict[str, int]:
    return {"offer_id": offer_id, "campaign_id": 5, "discount_minor": discount, "points": 0}


AT = NOW + timedelta(hours=1)
FACTS = [purchase_fact(1, 1, AT, [(9001, 200), (9003, 999)], [_red(11, 60)]), purchase_fact(2, 1, AT, [(9002, 100)]),
         purchase_fact(3, 3, AT, [(9001, 500)], [_red(12, 100)]), purchase_fact(4, 4, AT, [(9001, 100)]),
         purchase_fact(5, 5, AT, [(9002, 100)]), purchase_fact(6, 7, AT, [(9001, 50)]),
         purchase_fact(7, 2, AT, [(9001, 100), (9002, -250)]),  # a return outweighs: no spend, no row
         purchase_fact(8, 6, NOW - timedelta(days=3), [(9001, 5000)]),  # before the window
         purchase_fact(9, None, AT, [(9001, 700)])]  # a guest is nobody's audience


def test_report_matches_hand_computation(db_session: Session, tmp_path: Path) -> None:
    link = _setup(db_session)
    apply_batch(db_session, Lake(str(tmp_path / "lake")), link, feed_batch(1, FACTS))
    report = campaign_report(db_session, 5)
    line = report["stores"][0]
    assert (line["exposed"], line["holdout"], line["redemptions"], line["discount_minor"]) == (4, 3, 2, 160)
    assert (line["buyers_exposed"], line["buyers_holdout"]) == (3, 2)
    assert line["lift"]["exposed_mean"] == 225.0 and line["lift"]["holdout_mean"] == 50.0
    assert line["lift"]["lift"] == 175.0
    assert line["lift"]["low"] == pytest.approx(welch_lift(EXPOSED, HOLDOUT).low)
    assert report["budget"] == {"kind": "money", "amount": 500, "used": 160, "exhausted": False, "share": 0.32}
    assert report["overall"]["lift"]["lift"] == 175.0


def test_a_batch_sent_again_counts_once(db_session: Session, tmp_path: Path) -> None:
    link, lake = _setup(db_session), Lake(str(tmp_path / "lake"))
    assert apply_batch(db_session, lake, link, feed_batch(1, FACTS)).results == 8
    again = apply_batch(db_session, lake, link, feed_batch(1, FACTS))
    assert (again.applied, again.held, again.results) == (False, 1, 0)
    assert campaign_report(db_session, 5)["stores"][0]["lift"]["exposed_mean"] == 225.0
    assert lake.table().count() == sum(len(f["data"]["lines"]) for f in FACTS)


def test_a_redemption_of_a_campaign_never_sent_to_the_store_is_left_out(db_session: Session, tmp_path: Path) -> None:
    link = _setup(db_session)
    foreign = purchase_fact(1, 1, AT, [(9001, 200)], [{**_red(11, 60), "campaign_id": 99}])
    done = apply_batch(db_session, Lake(str(tmp_path / "lake")), link, feed_batch(1, [foreign]))
    assert done.skipped and "99" in done.skipped[0] and link.feed_error == done.skipped[0]
    assert campaign_report(db_session, 5)["stores"][0]["redemptions"] == 0


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to a wire batch: "lines.sales_minor.1" sets that list's item, "purchases.lines" the whole list."""
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set("purchases.member_id.1", "x"), r"purchases.member_id\[1\] must be a whole number"),
    (_set("purchases.purchased_at.0", "yesterday"), r"purchases.purchased_at\[0\] must be an RFC 3339"),
    (_set("purchases.purchased_at.1", AT.replace(tzinfo=None).isoformat()), r"purchased_at\[1\] .*UTC offset"),
    (_set("purchases.purchase_id.1", 1), "holds a purchase twice"),
    (_set("purchases.lines", [2]), "purchases.lines must be a list of 2 whole numbers"),
    (_set("lines.sales_minor.1", 10**30), r"lines.sales_minor\[1\] must be a whole number"),
    (_set("lines.quantity.2", True), r"lines.quantity\[2\] must be a whole number"),
    (_set("lines.weight_g.0", -5), r"lines.weight_g\[0\] must be a whole number from 0"),
    (_set("lines.product_id.0", 2.5), r"lines.product_id\[0\] must be a whole number"),
    (_set("lines.discount_minor", [0]), "lines.discount_minor must be a list of 3 whole numbers"),
    (_set("redemptions.0.discount_minor", -1), r"redemptions\[0\].discount_minor must be a whole number"),
    (_set("redemptions.0.points", 2**63), r"redemptions\[0\].points must be"),
    (_set("redemptions.0.purchase_id", 99), "names no purchase of this batch"),
    (_set("members", [{"member_id": 1, "card_number": "\x00", "store_id": "S001", "tier": "gold",
                       "joined_at": AT.isoformat()}]), r"members\[0\].card_number must be a text"),
    (_set("erasures", [{"member_id": 1}]), r"erasures\[0\].at must be an RFC 3339"),
])
def test_a_bad_value_refuses_the_whole_batch(db_session: Session, tmp_path: Path,
                                             change: Callable[[dict[str, Any]], None], message: str) -> None:
    link, lake = _setup(db_session), Lake(str(tmp_path / "lake"))
    db_session.commit()
    body = feed_batch(1, FACTS[:2])  # purchases 1 (two lines, a redemption) and 2 (one line)
    change(body)
    with pytest.raises(CampaignError, match=message):
        apply_batch(db_session, lake, link, body)
    db_session.rollback()
    assert db_session.get(StoreLink, "S001").feed_seq == 0 and lake.held("S001") == 0


def test_integer_valued_numbers_in_lines_are_whole_numbers(db_session: Session, tmp_path: Path) -> None:
    link, lake = _setup(db_session), Lake(str(tmp_path / "lake"))
    fact = purchase_fact(1, 1, AT, [(9001, 200)])
    fact["data"]["lines"] = [[9001.0, 2.0, 350.0, 200.0, 0]]  # JSON's 9001.0 is the integer 9001
    assert apply_batch(db_session, lake, link, feed_batch(1, [fact])).lines == 1
    row = lake.table().to_pyarrow_table().to_pylist()[0]
    assert (row["product_id"], row["quantity"], row["weight_g"], row["sales_minor"]) == (9001, 2, 350, 200)
