"""What the head-office console's pages stand on: the catalogue search of the pickers, the stores' states,
the campaign list's figures, and the audience preview streamed step by step (on both databases)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select, update

from db.base import utcnow
from db.models import CampaignAudience, CampaignResult, Product, ResultBatch, StoreLink
from db.session import make_session_factory
from server.auth.accounts import add_user
from server.head_office import campaigns
from server.head_office.products import find_categories, find_products, products_by_id
from server.head_office.results import campaign_summaries
from server.head_office.stores import stores_overview
from tests.head_office.conftest import definition
from tests.head_office.office import Office, close_office, open_office
from tests.security.conftest import csrf_from, sign_in


@pytest.fixture
def office(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    made = open_office(db_url, tmp_path, monkeypatch)
    with make_session_factory(made.engine)() as sess:
        sess.add_all([Product(id=9101, gtin="2000000009101", name="Tomato Soup 400 G", brand="Heinz",
                              category="SOUP", price_minor=120, active=True),
                      Product(id=9102, gtin="2000000009102", name="Cream of Tomato 100% Rich", brand="Campbell",
                              category="SOUP", price_minor=150, active=True),
                      Product(id=9103, gtin="2000000009103", name="Tomato Soup Old Recipe", brand="Heinz",
                              category="SOUP", price_minor=99, active=False)])
        add_user(sess, "hq", "head-office-pass", "head_office", None)
        sess.commit()
    yield made
    close_office(made)


def test_the_picker_finds_active_products_by_every_word_of_name_brand_or_category(office: Office) -> None:
    with make_session_factory(office.engine)() as sess:
        assert [p["id"] for p in find_products(sess, "tomato HEINZ")] == [9101]  # any case, every word
        assert [p["id"] for p in find_products(sess, "soup")] == [9102, 9101]  # by category too; name order
        assert [p["id"] for p in find_products(sess, "100%")] == [9102]  # a % is a character, not a wildcard
        assert find_products(sess, "1_0") == [] and find_products(sess, "   ") == []
        assert find_categories(sess, "sou") == [{"name": "SOUP", "products": 2}]  # active products only
        named = products_by_id(sess, [9102, 424242])
        assert [p["name"] for p in named] == ["Cream of Tomato 100% Rich", "product 424242 (not in the catalogue)"]


def test_the_picker_answers_signed_in_head_office_only(office: Office) -> None:
    client = office.client()
    assert client.get("/head-office/products?q=soup").status_code == 302  # to sign-in
    sign_in(client, "hq", "head-office-pass")
    body = client.get("/head-office/products?q=tomato heinz").get_json()
    assert [(p["id"], p["price"]) for p in body["products"]] == [(9101, "£1.20")]
    assert body["categories"] == []


def test_each_store_gets_one_word_for_its_state(office: Office) -> None:
    with make_session_factory(office.engine)() as sess:
        assert {s["store_id"]: s["state"] for s in stores_overview(sess)} == {
            "S001": "never heard from", "S002": "never heard from"}
        now = utcnow()
        sess.execute(update(StoreLink).where(StoreLink.store_id == "S001").values(last_contact_at=now, acked_seq=1))
        sess.execute(update(StoreLink).where(StoreLink.store_id == "S002").values(
            last_contact_at=now - timedelta(minutes=5), notify_error="connection refused"))
        rows = {s["store_id"]: s for s in stores_overview(sess, now)}
        assert rows["S001"]["state"] == "ok" and rows["S001"]["errors"] == []
        assert rows["S002"]["state"] == "error" and rows["S002"]["errors"] == ["notify: connection refused"]
        assert rows["S002"]["contact_ago_s"] == pytest.approx(300, abs=1)
        sess.execute(update(StoreLink).where(StoreLink.store_id == "S002").values(notify_error=""))
        assert {s["store_id"]: s["state"] for s in stores_overview(sess, now)}["S002"] == "behind"  # pack 1 unpulled


def test_the_campaign_list_counts_reach_redemptions_and_budget(office: Office) -> None:
    with make_session_factory(office.engine)() as sess:
        draft = campaigns.create_campaign(sess, definition(name="Draft", stores=["S001"])).id
        sess.add(ResultBatch(id="batch-1", store_id="S001", rows=2))
        sess.flush()
        sess.add_all([CampaignResult(batch_id="batch-1", campaign_id=office.mine, store_id="S001", kind="redemption",
                                     ref=f"r{i}", member_id=1, discount_minor=40, at=utcnow()) for i in range(2)])
        sess.flush()
        summary = campaign_summaries(sess)
        groups = list(sess.scalars(select(CampaignAudience.grp).where(CampaignAudience.campaign_id == office.mine)))
        mine = summary[office.mine]
        assert (mine["exposed"], mine["holdout"]) == (groups.count("exposed"), groups.count("holdout"))
        assert len(groups) == 3
        assert (mine["redemptions"], mine["discount_minor"]) == (2, 80)
        assert mine["budget"] == {"kind": "redemptions", "amount": 1, "used": 2, "exhausted": True, "share": 1.0}
        assert summary[office.theirs]["redemptions"] == 0 and draft not in summary


def test_the_audience_preview_streams_its_steps_then_the_counts(office: Office) -> None:
    client = office.client()
    sign_in(client, "hq", "head-office-pass")
    answer = client.get(f"/head-office/campaigns/{office.mine}/preview")
    assert answer.status_code == 200 and answer.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in answer.get_data(as_text=True).splitlines()]
    steps, result = lines[:-1], lines[-1]
    assert [s["done"] for s in steps] == list(range(len(steps))) and steps[-1]["done"] == steps[-1]["of"]
    assert steps[0]["step"] == "finding the consenting members of 1 store(s)" and steps[-1]["step"] == "done"
    assert set(result["stores"]) == {"S001"}
    assert result["total"]["audience"] == result["stores"]["S001"]["exposed"] + result["stores"]["S001"]["holdout"] == 3
    with make_session_factory(office.engine)() as sess:  # nothing was published by looking
        assert sess.get(StoreLink, "S001").acked_seq == 0


def test_a_preview_that_cannot_be_computed_says_why_in_the_stream(office: Office) -> None:
    client = office.client()
    sign_in(client, "hq", "head-office-pass")
    page = client.get(f"/head-office/campaigns/{office.mine}/edit").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "name": "Needs stages", "product_ids": ["9001"], "reward_type": "percent",
            "reward_value": "10", "valid_from": "2026-12-01T00:00", "valid_to": "2036-12-01T00:00",
            "stores": ["S001"], "lifecycle": ["growth"], "max_per_member": "1", "budget_kind": "redemptions",
            "budget_amount": "", "holdout_percent": "10"}
    assert client.post(f"/head-office/campaigns/{office.mine}/edit", data=form).status_code == 302
    lines = [json.loads(x) for x in client.get(f"/head-office/campaigns/{office.mine}/preview")
             .get_data(as_text=True).splitlines()]
    assert "no member profiles yet" in lines[-1]["error"]


@pytest.mark.parametrize("product", ["²", "12abc", str(2**40)])
def test_a_posted_product_that_is_not_an_id_is_a_400_that_keeps_the_form(office: Office, product: str) -> None:
    client = office.client()
    sign_in(client, "hq", "head-office-pass")
    page = client.get("/head-office/campaigns/new").get_data(as_text=True)
    answer = client.post("/head-office/campaigns/new", data={
        "csrf_token": csrf_from(page), "name": "Typed by hand", "product_ids": ["9101", product],
        "reward_type": "percent", "reward_value": "10", "valid_from": "2026-12-01T00:00",
        "valid_to": "2036-12-01T00:00", "stores": ["S001"], "max_per_member": "1", "budget_kind": "redemptions",
        "holdout_percent": "10"})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Products must be a whole number" in text
    assert 'value="Typed by hand"' in text and "Tomato Soup 400 G" in text  # the good product's chip is kept
