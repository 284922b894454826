"""The head-office console in real Chromium: a category manager creates a campaign with the pickers, previews
its audience, publishes it after the confirmation, reads the stores page and the results charts, and
withdraws it; by keyboard alone, on a tablet, and with a bad form. Screenshots go to var/screenshots."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from db.base import utcnow
from db.models import CampaignAudience, Product, PurchaseLine, StoreLink
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

expect = pw_api.expect
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "head-office-pass"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def console(imported_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A head-office server in a thread on loopback, with a user, a linked store and a key; two products
    sold in the history and a small category to pick by name."""
    from server.app import create_app

    generate_key(tmp_path / "ho.pem")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "ho.pem"))
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        add_user(sess, "hq", PASSWORD, "head_office", None)
        add_store(sess, "S001", "Test Store")
        sold = list(sess.scalars(select(PurchaseLine.product_id).group_by(PurchaseLine.product_id)
                                 .order_by(PurchaseLine.product_id).limit(2)))
        products = [sess.get(Product, pid) for pid in sold]
        category = sess.execute(select(Product.category, func.count()).where(Product.active.is_(True),
                                                                             Product.category.is_not(None))
                                .group_by(Product.category).having(func.count().between(2, 30))
                                .order_by(Product.category).limit(1)).one()
        sess.commit()
    app = create_app(app_config(imported_url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    server = LoopbackServer(app).start()
    yield {"url": server.url, "engine": eng, "products": products, "category": category, "cfg": app.config["SHOPGO"]}
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


def _signed_in(browser: Any, console: dict[str, Any], **context: Any) -> Any:
    pg = browser.new_context(**context).new_page()
    pg.set_default_timeout(15_000)
    pg.goto(f"{console['url']}/head-office/campaigns")
    expect(pg.locator("h1")).to_have_text("Sign in to head office")
    pg.fill("#username", "hq")
    pg.fill("#password", PASSWORD)
    pg.get_by_role("button", name="Sign in").click()
    expect(pg.locator("h1")).to_have_text("Campaigns")
    return pg


@pytest.fixture
def page(browser: Any, console: dict[str, Any]) -> Iterator[Any]:
    pg = _signed_in(browser, console, viewport={"width": 1280, "height": 900})
    yield pg
    pg.context.close()


def _pick(page: Any, text: str, option: str) -> None:
    """Type into the picker and choose, with the arrow keys and Enter, the option that holds `option`."""
    search = page.locator("#product-search")
    search.fill(text)
    options = page.locator("#picker-options [role=option]")
    expect(options.first).to_be_visible()
    texts = options.all_text_contents()
    index = next(i for i, t in enumerate(texts) if option in t)
    for _ in range(index):
        search.press("ArrowDown")
    expect(page.locator("#picker-options [aria-selected=true]")).to_contain_text(option)
    search.press("Enter")


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"head-office-{name}.png"), full_page=True)


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_a_campaign_from_the_pickers_to_its_results_charts(page: Any, console: dict[str, Any]) -> None:
    first, second = console["products"]
    category, in_category = console["category"]
    page.get_by_role("link", name="New campaign").click()
    page.fill("#name", "Browser campaign")
    _pick(page, f"{first.name} {first.brand or ''}", first.gtin)  # by its name and its brand
    _pick(page, second.name, second.gtin)
    _pick(page, category[:6].lower(), f"Every product in {category}")  # a category found by its name, any case
    expect(page.locator("#picked .chip")).to_have_count(3)
    expect(page.locator("#picked .chip.category")).to_contain_text(f"Category: {category}")
    page.select_option("#reward_type", "fixed")
    expect(page.locator("#reward-hint")).to_contain_text("Money off each unit")
    expect(page.locator(".unit-input .prefix").first).to_be_visible()  # the currency sign beside the amount
    page.fill("#reward_value", "0.50")
    start = (datetime.now(ZoneInfo("Europe/London")) - timedelta(days=1)).replace(hour=8, minute=0)
    page.fill("#valid_from", start.strftime("%Y-%m-%dT%H:%M"))  # the date picker, in the chain's zone
    page.fill("#valid_to", "2030-01-05T20:00")
    page.check("input[name=stores][value=S001]")
    page.select_option("#budget_kind", "money")
    page.fill("#budget_amount", "250")
    page.fill("#holdout_percent", "50")
    _shoot(page, "campaign-form")
    page.get_by_role("button", name="Save as draft").click()

    expect(page.locator("#status")).to_have_text("draft")
    expect(page.locator("#reward")).to_have_text("£0.50 off each unit")
    expect(page.locator("dl.facts")).to_contain_text(first.name)
    expect(page.locator("dl.facts")).to_contain_text(f"every product in {category}")
    expect(page.locator("dl.facts")).to_contain_text(f"{start:%a %d %b %Y} 08:00 to Sat 05 Jan 2030 20:00 GMT")
    expect(page.locator("dl.facts")).to_contain_text("£250.00 of discount")
    page.get_by_role("button", name="Preview audience").click()  # the preview streams its steps, then the counts
    expect(page.locator("#preview-step")).to_have_text("Done.")
    expect(page.locator("#preview-progress")).to_have_attribute("value", "2")
    expect(page.locator("#preview-table tbody tr")).to_have_count(1)
    expect(page.locator("#preview-table tbody td").first).to_have_text("S001")
    exposed = int(page.locator("#preview-table tbody td").nth(2).text_content().replace(",", ""))
    assert exposed > 0
    _shoot(page, "campaign-preview")

    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))  # asked, and refused: nothing sent
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#status")).to_have_text("draft")
    assert questions and "reaches store S001" in questions[0] and f"{exposed:,} members get it" in questions[0]
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".notice")).to_contain_text(
        f"Version 2 published; packs sent to S001 (#1); {exposed:,} members get the offer.")
    expect(page.locator("#versions tbody tr")).to_have_count(2)  # created, published

    page.get_by_role("navigation").get_by_role("link", name="Campaigns").click()  # the list: status, reach and budget at a glance
    row = page.locator("#campaign-1")
    expect(row.locator(".pill")).to_have_text("published")
    expect(row.locator("td").nth(4)).to_contain_text(f"{exposed:,}")
    expect(row.locator("td.budget")).to_contain_text("£0.00 of £250.00")
    page.get_by_role("navigation").get_by_role("link", name="Stores").click()
    expect(page.locator("#store-S001 .pill").first).to_have_text("never heard from")
    expect(page.locator("#store-S001 td.pack")).to_contain_text("1 waiting")

    with make_session_factory(console["engine"])() as sess:  # the store reports results through its feed
        link = sess.get(StoreLink, "S001")
        audience = dict(sess.execute(select(CampaignAudience.member_id, CampaignAudience.grp)).all())
        facts = [purchase_fact(m, m, utcnow(), [(first.id, 300 if g == "exposed" else 100)])
                 for m, g in audience.items()]
        apply_batch(sess, open_lake(console["cfg"]), link, feed_batch(1, facts))
        sess.commit()
    page.reload()
    expect(page.locator("#store-S001 .pill").first).to_have_text("behind")  # heard from, its pack not yet pulled
    expect(page.locator("#store-S001 td.feed")).to_contain_text("batch 1")
    expect(page.locator("#store-S001 td.lag")).to_contain_text("0 facts")
    expect(page.locator("#store-S001 td.contact")).not_to_contain_text("never")
    _shoot(page, "stores")
    page.get_by_role("navigation").get_by_role("link", name="Chain").click()
    expect(page.locator("#sales-chart rect.sales")).to_have_count(1)
    expect(page.locator("#chain-S001 td").nth(4)).to_have_text(f"{len(facts):,}")

    page.goto(f"{console['url']}/head-office/campaigns/1/results")
    expect(page.locator("#lift-chart rect.exposed:not(.key)")).to_have_count(2)  # the store and all stores
    expect(page.locator("#lift-chart rect.holdout:not(.key)")).to_have_count(2)
    expect(page.locator("#lift-chart rect.key")).to_have_count(2)  # the legend
    expect(page.locator("#interval-chart circle.point")).to_have_count(2)
    expect(page.locator("#results tbody tr").last).to_contain_text("£3.00")  # exposed mean spend
    expect(page.locator("#lift-overall")).to_have_text("£2.00")
    for chart in ("#lift-chart", "#interval-chart"):  # the value axes read as money, never "-£0.00"
        labels = page.locator(f"{chart} text.axis:not(.label)").all_text_contents()
        money = [t for t in labels if "£" in t]
        assert money and all(re.fullmatch(r"-?£\d[\d,]*\.\d\d", t) for t in money), labels
        assert "-£0.00" not in labels and len(set(money)) == len(money), labels
    _shoot(page, "results")

    page.goto(f"{console['url']}/head-office/campaigns/1")
    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#status")).to_have_text("withdrawn")
    assert "Withdraw \u201cBrowser campaign\u201d? It reaches store S001" in questions[-1]
    expect(page.locator(".notice")).to_contain_text("withdrawn; packs sent to S001 (#2)")


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_the_picker_works_by_keyboard_alone_and_enter_never_submits(page: Any, console: dict[str, Any]) -> None:
    first = console["products"][0]
    page.get_by_role("link", name="New campaign").click()
    search = page.locator("#product-search")
    search.focus()
    page.keyboard.type(first.name)
    expect(search).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("#picked .chip")).to_have_count(1)
    assert page.url.endswith("/campaigns/new")  # Enter chose; it did not post the form
    expect(search).to_be_focused()
    page.keyboard.type(first.name)  # the same product again is refused, said aloud
    expect(page.locator("#picker-options [role=option]").first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#picker-status")).to_contain_text("already chosen")
    page.keyboard.press("Escape")
    expect(page.locator("#picker-options")).to_be_hidden()
    page.keyboard.press("Shift+Tab")  # back to the chip's remove button
    expect(page.locator("#picked .remove")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#picked .chip")).to_have_count(0)
    page.keyboard.type("zzqqxx-no-such-thing")
    expect(page.locator("#picker-status")).to_contain_text("Nothing matches")


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_a_bad_form_says_what_is_wrong_keeps_what_was_typed_and_saves_nothing(page: Any,
                                                                             console: dict[str, Any]) -> None:
    first = console["products"][0]
    page.get_by_role("link", name="New campaign").click()
    page.fill("#name", "Half-typed")
    page.check("input[name=stores][value=S001]")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.locator("#form-error")).to_contain_text("give the campaign's products")
    _pick(page, first.name, first.gtin)
    page.select_option("#reward_type", "member_price")
    page.fill("#reward_value", "1.999")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.locator("#form-error")).to_contain_text("'1.999' is not an amount of money")
    expect(page.locator("#name")).to_have_value("Half-typed")  # what was typed is all still there
    expect(page.locator("#picked .chip")).to_contain_text(first.name)
    expect(page.locator("#reward_type")).to_have_value("member_price")
    expect(page.locator("input[name=stores][value=S001]")).to_be_checked()
    page.get_by_role("navigation").get_by_role("link", name="Campaigns").click()
    expect(page.locator("#campaigns")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No campaigns yet")


@pytest.mark.parametrize("imported_url", ["sqlite"], indirect=True)
def test_every_page_reads_on_a_tablet_without_sideways_scrolling(browser: Any, console: dict[str, Any]) -> None:
    page = _signed_in(browser, console, viewport={"width": 768, "height": 1024}, is_mobile=True, has_touch=True)
    try:
        for path in ("/head-office/campaigns/new", "/head-office/campaigns", "/head-office/stores", "/head-office/chain"):
            page.goto(console["url"] + path)
            width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (path, width)
        _shoot(page, "tablet-chain")
    finally:
        page.context.close()
