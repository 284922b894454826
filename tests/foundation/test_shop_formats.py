"""The shared shop formats: money as text, and the catalogue snapshot read back into pricing values."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shop.catalogue import price_info, promotion_rule, promotion_window
from shop.money import format_money


@pytest.mark.parametrize(("minor", "currency", "exponent", "text"), [
    (12345, "GBP", 2, "£123.45"),
    (-250, "EUR", 2, "-€2.50"),
    (5, "USD", 2, "$0.05"),
    (123456789, "GBP", 2, "£1,234,567.89"),
    (1500, "JPY", 0, "JPY 1,500"),
    (-0.4, "GBP", 2, "£0.00"),  # a mean below half a penny is no loss
    (99.6, "GBP", 2, "£1.00"),
    (1999, "DKK", 2, "kr 19.99"),
    (7, "BHD", 3, "BHD 0.007"),
    (None, "GBP", 2, "–"),
])
def test_minor_units_read_as_the_currency_amount(minor: float | None, currency: str, exponent: int,
                                                 text: str) -> None:
    assert format_money(minor, currency, exponent) == text


def test_the_amount_can_be_shown_without_its_symbol() -> None:
    assert format_money(-12345, "GBP", symbol=False) == "-123.45"


def test_a_snapshot_product_prices_from_the_same_values_it_carries() -> None:
    info = price_info({"gtin": 5000112637922, "product_id": "42", "name": "Oat milk", "category": "Dairy",
                       "price_minor": "189", "member_price_minor": 159, "sold_by_weight": 0, "min_age": None})
    assert (info.gtin, info.product_id, info.price_minor, info.member_price_minor) == ("5000112637922", 42, 189, 159)
    assert info.sold_by_weight is False and info.category == "Dairy"


def test_a_snapshot_promotion_reads_as_its_rule_and_window() -> None:
    promotion = {"id": 7, "name": "Two for 3", "kind": "n_for_price", "params": {"n": 2, "price_minor": 300},
                 "product_id": 42, "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-08T08:00:00+01:00"}
    rule = promotion_rule(promotion)
    assert (rule.id, rule.kind, rule.params, rule.product_id, rule.category, rule.member_only) == \
        (7, "n_for_price", {"n": 2, "price_minor": 300}, 42, None, False)
    starts, ends = promotion_window(promotion)
    assert starts == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    assert ends == datetime(2026, 12, 8, 7, tzinfo=timezone.utc)


def test_a_promotion_without_a_window_is_open_and_a_naive_time_is_utc() -> None:
    assert promotion_window({"starts_at": None}) == (None, None)
    starts, _ = promotion_window({"starts_at": "2026-12-01T08:00:00"})
    assert starts == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
