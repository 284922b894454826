"""The member page's queries: search, paged baskets, lines, monthly spend, tops, lifecycle."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Purchase, PurchaseLine
from server import charts
from server.errors import ApiError
from server.staff import lifecycle, members
from tests.staff.conftest import OTHER_MEMBER


@pytest.fixture(scope="module")
def staff_app(shared_app: Flask) -> Flask:
    """Every test here only reads (or signs in): share one seeded database per backend."""
    return shared_app


def _heaviest(sess: Session) -> int:
    return int(sess.execute(select(Purchase.member_id).where(Purchase.store_id == "S001")
                            .group_by(Purchase.member_id).order_by(func.count().desc()).limit(1)).scalar_one())


@pytest.mark.parametrize("query,store,expect", [
    ("7", "S001", [7]),
    ("0490000000078", "S001", [7]),            # card number of household 7
    ("household 1", "S001", [1, 10, 11, 12]),  # by name, case-insensitive
    ("Other Household", "S001", []),           # another store's member stays hidden
    ("Other Household", None, [OTHER_MEMBER]),  # head office sees every store
    ("   ", "S001", []),
    ("%", "S001", []),                         # LIKE wildcards are not wildcards here
])
def test_search_finds_members_by_card_id_or_name(sess: Session, query: str, store: str | None,
                                                 expect: list[int]) -> None:
    assert [h.id for h in members.search_members(sess, query, store).hits] == expect


def test_search_says_how_many_matched_and_pages_through_them(sess: Session) -> None:
    first = members.search_members(sess, "household", "S001", page=1, per_page=5)
    assert first.total > 5 and first.pages == -(-first.total // 5) and len(first.hits) == 5
    seen = [h.id for p in range(1, first.pages + 1) for h in members.search_members(sess, "household", "S001",
                                                                                     page=p, per_page=5).hits]
    assert len(seen) == first.total == len(set(seen))  # every match once, none lost past the first page
    assert members.search_members(sess, "household", "S001", page=999, per_page=5).page == first.pages


def test_search_refuses_overlong_text(sess: Session) -> None:
    with pytest.raises(ApiError) as err:
        members.search_members(sess, "x" * 200, "S001")
    assert err.value.status == 400


def test_baskets_come_newest_first_and_pages_cover_every_basket(sess: Session) -> None:
    mid = _heaviest(sess)
    now = utcnow()
    since = members.history_start(now)
    stats = lifecycle.member_stats(sess, mid, now, since)
    seen: list[members.Basket] = []
    first = members.basket_page(sess, mid, 1, since, stats.baskets)
    for page in range(1, first.pages + 1):
        seen.extend(members.basket_page(sess, mid, page, since, stats.baskets).baskets)
    assert len(seen) == stats.baskets == len({b.id for b in seen})
    assert [b.purchased_at for b in seen] == sorted((b.purchased_at for b in seen), reverse=True)
    lines = sess.scalar(select(func.count()).select_from(PurchaseLine).where(PurchaseLine.member_id == mid))
    assert sum(b.lines for b in seen) == lines


@pytest.mark.parametrize("page", [0, 10_000])
def test_a_page_outside_the_history_is_404(sess: Session, page: int) -> None:
    with pytest.raises(ApiError) as err:
        members.basket_page(sess, 7, page, members.history_start(utcnow()), 30)
    assert err.value.status == 404


def test_basket_lines_add_up_to_the_basket_total(sess: Session) -> None:
    purchase = sess.scalars(select(Purchase).where(Purchase.member_id == 7).limit(1)).one()
    got, lines = members.basket_lines(sess, 7, purchase.id)
    assert got.id == purchase.id and lines
    assert sum(line.sales_minor for line in lines) == purchase.total_minor
    assert all(line.name and not line.name.startswith("Product ") for line in lines)


def test_another_members_basket_is_404(sess: Session) -> None:
    purchase = sess.scalars(select(Purchase).where(Purchase.member_id == 7).limit(1)).one()
    with pytest.raises(ApiError) as err:
        members.basket_lines(sess, 8, purchase.id)
    assert err.value.status == 404


def test_monthly_spend_covers_24_months_and_sums_to_the_history(sess: Session) -> None:
    mid = _heaviest(sess)
    now = utcnow()
    months = members.monthly_spend(sess, mid, now)
    assert len(months) == 24 and months[-1][0] == now.strftime("%Y-%m")
    total = sess.scalar(select(func.sum(Purchase.total_minor)).where(
        Purchase.member_id == mid, Purchase.purchased_at >= datetime(int(months[0][0][:4]), int(months[0][0][5:]), 1,
                                                                     tzinfo=timezone.utc)))
    assert sum(m[1] for m in months) == total
    assert sum(m[2] for m in months) > 0


def test_top_categories_and_products_are_by_spend(sess: Session) -> None:
    mid = _heaviest(sess)
    since = members.history_start(utcnow())
    by_product = members.spend_by_product(sess, mid, since)
    cats = members.top_categories(by_product)
    prods = members.top_products(by_product, limit=5)
    assert 0 < len(cats) <= 8 and 0 < len(prods) <= 5
    assert [c.spend_minor for c in cats] == sorted((c.spend_minor for c in cats), reverse=True)
    assert [p.spend_minor for p in prods] == [p.spend_minor for p in by_product[:5]]
    assert all(p.baskets >= 1 for p in prods)
    lines_total = sess.scalar(select(func.sum(PurchaseLine.sales_minor)).where(
        PurchaseLine.member_id == mid, PurchaseLine.purchased_at >= since))
    assert sum(p.spend_minor for p in by_product) == lines_total


def test_member_page_shows_stage_segment_chart_and_baskets(as_user, sess: Session) -> None:  # type: ignore[no-untyped-def]
    mid = _heaviest(sess)
    page = as_user("alice").get(f"/staff/members/{mid}").get_data(as_text=True)
    for needle in ('id="stage"', 'id="segment"', "<svg", "Basket history", "Top categories", "Top products",
                   "Offers", "Personal offers:"):
        assert needle in page
    assert page.count('class="basket"') == members.PER_PAGE
    assert page.count('<rect class="bar"') == 24


def test_basket_fragment_lists_the_lines(as_user, sess: Session) -> None:  # type: ignore[no-untyped-def]
    purchase = sess.scalars(select(Purchase).where(Purchase.member_id == 7).limit(1)).one()
    resp = as_user("alice").get(f"/staff/members/7/baskets/{purchase.id}?fragment=1")
    assert resp.status_code == 200
    assert "<table" in resp.get_data(as_text=True) and "<html" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("url,status", [("/staff/members/7?page=abc", 400), ("/staff/members/7?page=999", 404),
                                        ("/staff/members/123456789", 404), ("/staff/members/7/baskets/1", 404)])
def test_bad_member_page_requests_say_what_was_wrong(as_user, url: str, status: int) -> None:  # type: ignore[no-untyped-def]
    assert as_user("alice").get(url).status_code == status


NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _stats(first_days: int, last_days: int, baskets: int = 100, recent: tuple[int, int] = (20, 20000),
           before: tuple[int, int] = (20, 20000), b365: int = 80, s365: int = 80000) -> lifecycle.MemberStats:
    return lifecycle.MemberStats(baskets, 100000, NOW - timedelta(days=first_days), NOW - timedelta(days=last_days),
                                 b365, s365, recent[0], recent[1], before[0], before[1])


@pytest.mark.parametrize("stats,stage", [
    (_stats(30, 1, baskets=10), "trial"),                               # joined a month ago
    (_stats(400, 2, baskets=3), "trial"),                               # too few baskets to judge
    (_stats(400, 90), "decline"),                                       # not seen for three months
    (_stats(400, 2, recent=(10, 10000)), "decline"),                    # half the visits of the quarter before
    (_stats(400, 2, recent=(22, 30000)), "growth"),                     # spending a lot more
    (_stats(400, 2), "stable"),
])
def test_lifecycle_stage_follows_the_documented_rules(stats: lifecycle.MemberStats, stage: str) -> None:
    assert lifecycle.classify(stats, NOW).stage == stage


def test_member_without_baskets_is_a_trial_member() -> None:
    empty = lifecycle.MemberStats(0, 0, None, None, 0, 0, 0, 0, 0, 0)
    assert lifecycle.classify(empty, NOW).stage == "trial"


@pytest.mark.parametrize("low,high,ticks", [(0, 0, [0, 1]), (0, 7, [0, 2, 4, 6, 8]), (0, 1234, [0, 500, 1000, 1500]),
                                             (0, 0.3, [0, 1]), (-3.2, 12.7, [-5, 0, 5, 10, 15]),
                                             (-250, -10, [-300, -200, -100, 0])])
def test_chart_axes_step_in_round_whole_units_through_zero(low: float, high: float, ticks: list[int]) -> None:
    assert charts.axis(low, high) == ticks


def test_a_chart_with_nothing_to_draw_says_so_and_labels_its_axis_in_money() -> None:
    def money(minor: int) -> str:
        return f"£{minor / 100:.2f}"

    empty = str(charts.grouped_bars(["S001"], [charts.Series("sales", [0])], money, "Sales", empty="No sales yet"))
    drawn = str(charts.grouped_bars(["S001", "S002"], [charts.Series("sales", [1234, 40])], money, "Sales"))
    assert "No sales yet" in empty and "Nothing yet" not in drawn
    assert [t for t in ("£0.00", "£5.00", "£10.00", "£15.00") if f">{t}</text>" in drawn] == ["£0.00", "£5.00",
                                                                                              "£10.00", "£15.00"]
