"""The head-office console in real Chromium: sign in, create, preview, publish, stores, results chart, withdraw."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from db.base import utcnow
from db.models import CampaignAudience, PurchaseLine, StoreLink
from db.session import make_engine, make_session_factory
from server.auth.accounts import add_user
from server.head_office.compiler import add_store
from server.head_office.feed import apply_batch
from server.head_office.lake import open_lake
from server.head_office.signing import KEY_ENV, generate_key
from tests.conftest import app_config
from tests.head_office.conftest import feed_batch, purchase_fact
from tests.loopback import LoopbackServer, dispose_when_idle

pytestmark = [pytest.mark.browser]
import playwright.sync_api as pw_api  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "head-office-pass"


@pytest.fixture
def console(imported_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A head-office server in a thread on loopback, with a user, a linked store and a key."""
    from server.app import create_app

    generate_key(tmp_path / "ho.pem")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "ho.pem"))
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        add_user(sess, "hq", PASSWORD, "head_office", None)
        add_store(sess, "S001", "Test Store")
        products = list(sess.scalars(select(PurchaseLine.product_id).group_by(PurchaseLine.product_id)
                                     .order_by(PurchaseLine.product_id).limit(2)))
        sess.commit()
    app = create_app(app_config(imported_url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    server = LoopbackServer(app).start()
    yield {"url": server.url, "engine": eng, "products": products, "cfg": app.config["SHOPGO"]}
    server.stop()
    from server.database import engine as app_engine

    dispose_when_idle(app_engine(app))
    eng.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with pw_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, console: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.goto(f"{console['url']}/head-office/campaigns")
    pg.fill("#username", "hq")
    pg.fill("#password", PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    pw_api.expect(pg.locator("h1")).to_have_text("Campaigns")
    yield pg
    context.close()


def _fill_campaign(page: Any, products: str) -> None:
    page.get_by_role("link", name="New campaign").click()
    page.fill("#name", "Browser campaign")
    page.fill("#product_ids", products)
    page.fill("#reward_value", "15")
    page.check("input[name=stores][value=S001]")
    page.fill("#holdout_percent", "50")
    page.get_by_role("button", name="Save").click()


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_campaign_from_form_to_results_chart(page: Any, console: dict[str, Any]) -> None:
    expect = pw_api.expect
    _fill_campaign(page, ", ".join(map(str, console["products"])))
    expect(page.locator("#status")).to_have_text("draft")
    page.get_by_role("link", name="Preview audience").click()
    expect(page.locator("#preview-table tbody tr")).to_have_count(1)
    expect(page.locator("#preview-table tbody td").first).to_have_text("S001")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".notice")).to_contain_text("Version 2 published; packs sent to S001 (#1)")
    expect(page.locator("#versions tbody tr")).to_have_count(2)  # created, published
    page.get_by_role("link", name="Stores").click()
    expect(page.locator("#store-S001")).to_contain_text("1 waiting")

    with make_session_factory(console["engine"])() as sess:  # a store reports results
        link = sess.get(StoreLink, "S001")
        audience = dict(sess.execute(select(CampaignAudience.member_id, CampaignAudience.grp)).all())
        facts = [purchase_fact(m, m, utcnow(), [(console["products"][0], 300 if g == "exposed" else 100)])
                 for m, g in audience.items()]
        apply_batch(sess, open_lake(console["cfg"]), link, feed_batch(1, facts))
        sess.commit()
    page.goto(f"{console['url']}/head-office/stores")  # the store's feed: batch 1 held, nothing behind it
    expect(page.locator("#feed-S001 td").nth(1)).to_have_text("1")
    expect(page.locator("#feed-S001 td").nth(4)).to_have_text("0")
    page.goto(f"{console['url']}/head-office/chain")  # the chain: the store's members and its sales from the lake
    expect(page.locator("#sales-chart rect.bar-sales")).to_have_count(1)
    expect(page.locator("#chain-S001 td").nth(4)).to_have_text(f"{len(facts):,}")
    page.goto(f"{console['url']}/head-office/campaigns/1/results")
    expect(page.locator("#lift-chart")).to_be_visible()
    expect(page.locator("#lift-chart rect.bar-exposed")).to_have_count(2)  # the store and all stores
    expect(page.locator("#lift-chart rect.bar-holdout")).to_have_count(2)
    expect(page.locator("#results tbody tr").last).to_contain_text("3.00")  # exposed mean spend
    page.goto(f"{console['url']}/head-office/campaigns/1")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#status")).to_have_text("withdrawn")
    expect(page.locator(".notice")).to_contain_text("withdrawn; packs sent to S001 (#2)")


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_bad_campaign_form_says_what_is_wrong_and_saves_nothing(page: Any, console: dict[str, Any]) -> None:
    for products, message in [("", "give the campaign's products"), ("12, abc", "whole numbers"),
                              ("1", "not active in the catalogue")]:
        _fill_campaign(page, products)
        pw_api.expect(page.locator("#form-error")).to_contain_text(message)
        page.get_by_role("link", name="Campaigns").click()
        pw_api.expect(page.locator("#campaigns")).to_have_count(0)
