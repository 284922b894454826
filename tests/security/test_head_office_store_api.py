"""Head office's store API under attack by a linked store (issue 23): its feed counts results only
for campaigns head office sent that store, acks only for packs issued to it, and numbers within bounds.
Every refusal is a 4xx with a JSON message and leaves head office exactly as it was."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.head_office.conftest import NOW, feed_batch, purchase_fact
from tests.head_office.office import Office, close_office, open_office


@pytest.fixture
def office(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    made = open_office(db_url, tmp_path, monkeypatch)
    yield made
    close_office(made)


def _fact(campaign: Any, **changes: Any) -> dict[str, Any]:
    red = {"offer_id": 1, "campaign_id": campaign, "discount_minor": 50, "points": 0, **changes}
    return purchase_fact(int(uuid.uuid4().int % 10**9) + 1, 1, NOW, [(9001, 100)], [red])


def _post_feed(office: Office, facts: list[dict[str, Any]], store: str = "S001", seq: int | None = None) -> Any:
    held = office.state()["links"][store][2]
    return office.client().post("/api/v1/head-office/feed", json=feed_batch(held + 1 if seq is None else seq, facts),
                                headers=office.auth(store))


def _refused(answer: Any, status: int, words: str) -> None:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["status"] == status and words in body["message"], body


def test_a_store_cannot_spend_another_stores_campaign_budget(office: Office) -> None:
    before = office.state()
    answer = _post_feed(office, [_fact(office.theirs)])
    assert answer.status_code == 200 and str(office.theirs) in answer.get_json()["skipped"][0]
    after = office.state()
    assert after["campaigns"] == before["campaigns"]  # "theirs" is not withdrawn
    assert [r for r in after["result_rows"] if r[0] == office.theirs] == []


def test_a_redemption_of_an_unknown_campaign_is_left_out_like_another_stores(office: Office) -> None:
    answer = _post_feed(office, [_fact(999_999)])
    assert answer.status_code == 200 and "999999" in answer.get_json()["skipped"][0]
    assert [r for r in office.state()["result_rows"] if r[0] == 999_999] == []


def test_a_batch_counts_under_the_token_s_store_only(office: Office) -> None:
    assert _post_feed(office, [_fact(office.mine)], store="S002").status_code == 200
    state = office.state()
    assert state["links"]["S001"][2] == 0 and state["links"]["S002"][2] == 1
    assert state["campaigns"][office.mine] == "published"  # S002 was never sent "mine"


def test_results_for_the_stores_own_campaign_count_and_spend_its_budget(office: Office) -> None:
    answer = _post_feed(office, [_fact(office.mine)])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["results"] == 2 and answer.get_json()["withdrawn"] == [office.mine]
    assert office.state()["campaigns"] == {office.mine: "withdrawn", office.theirs: "published"}


@pytest.mark.parametrize("field, value, words", [
    ("discount_minor", -50, "discount_minor must be a whole number from 0"),
    ("points", -3, "points must be a whole number from 0"),
    ("discount_minor", 10**30, "discount_minor must be a whole number"),
    ("campaign_id", 10**30, "campaign_id must be a whole number"),
    ("campaign_id", 2**63, "campaign_id must be a whole number"),
    ("campaign_id", -(2**63) - 1, "campaign_id must be a whole number"),
    ("offer_id", 2**63, "offer_id must be a whole number"),
    ("discount_minor", 1e300, "discount_minor must be a whole number"),
    ("discount_minor", 2.5, "discount_minor must be a whole number"),
    ("campaign_id", "1", "campaign_id must be a whole number"),
    ("campaign_id", True, "campaign_id must be a whole number"),
])
def test_a_fact_out_of_bounds_is_a_422_and_changes_nothing(office: Office, field: str, value: Any,
                                                           words: str) -> None:
    before = office.state()
    _refused(_post_feed(office, [_fact(office.mine), _fact(office.mine, **{field: value})]), 422,
             f"redemptions[1].{field}")
    _refused(_post_feed(office, [_fact(office.mine, **{field: value})]), 422, words)
    after = office.state()
    assert {k: v for k, v in after.items() if k != "links"} == {k: v for k, v in before.items() if k != "links"}
    assert after["links"]["S001"][:3] == before["links"]["S001"][:3]  # not even the good first fact, nor its budget
    assert words.split(" must")[0] in after["links"]["S001"][3]  # the refusal is kept for the console


def test_an_integer_valued_number_is_a_whole_number(office: Office) -> None:
    answer = _post_feed(office, [_fact(float(office.mine), discount_minor=50.0)])
    assert answer.status_code == 200 and answer.get_json()["results"] == 2


def _ack(office: Office, acks: Any, store: str = "S001") -> Any:
    return office.client().post("/api/v1/head-office/acks", json={"acks": acks}, headers=office.auth(store))


def test_an_ack_for_a_pack_never_issued_to_the_store_is_refused(office: Office) -> None:
    before = office.state()
    _refused(_ack(office, [{"seq": 2, "status": "activated"}]), 422, "issued no pack(s) 2 to store S001")
    _refused(_ack(office, [{"seq": 1, "status": "activated"}, {"seq": 7, "status": "activated"}]), 422,
             "issued no pack(s) 7")
    assert office.state() == before  # not even pack 1 of the refused batch is marked acknowledged


@pytest.mark.parametrize("seq", [2**63, 10**30, 2**31, -1, 0, "1", None, True, 1.5])
def test_an_ack_seq_out_of_bounds_is_a_422_not_a_500(office: Office, seq: Any) -> None:
    before = office.state()
    _refused(_ack(office, [{"seq": seq, "status": "activated"}]), 422, "acks[0].seq must be a whole number")
    assert office.state() == before


def test_acked_seq_never_moves_past_the_last_pack_issued(office: Office) -> None:
    answer = _ack(office, [{"seq": 1, "status": "activated", "reason": "ok"}])
    assert answer.status_code == 200 and answer.get_json() == {"recorded": 1, "acked_seq": 1}
    _refused(_ack(office, [{"seq": 2, "status": "activated"}]), 422, "issued no pack(s) 2")
    _refused(_ack(office, [{"seq": 2**31 - 1, "status": "withdrawn"}]), 422, "issued no pack(s) 2147483647")
    assert office.state()["links"]["S001"][:2] == (1, "activated")


@pytest.mark.parametrize("after", ["%C2%B2", str(2**63), "-1", str(10**30), "", "1.5", "0x1", "%20", str(2**31)])
def test_packs_after_out_of_bounds_is_a_400_not_a_500(office: Office, after: str) -> None:
    answer = office.client().get(f"/api/v1/head-office/packs?after={after}", headers=office.auth())
    _refused(answer, 400, "after (the last applied pack's sequence number) must be a whole number from 0 to")


def test_packs_after_a_valid_number_lists_only_the_stores_own_packs(office: Office) -> None:
    answer = office.client().get("/api/v1/head-office/packs?after=0", headers=office.auth())
    assert answer.status_code == 200
    assert [p["seq"] for p in answer.get_json()["packs"]] == [1]
    assert f'"id":{office.mine},' in answer.get_json()["packs"][0]["body"]
