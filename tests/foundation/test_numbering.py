"""Company GTINs and loyalty card numbers are valid GS1 numbers in prefix 04."""
from __future__ import annotations

import pytest
from biip.gtin import Gtin

from shop.numbering import card_number, member_id_from_card, product_gtin


def test_product_gtin_is_valid_gtin13_in_company_range() -> None:
    code = product_gtin(1095275)
    assert len(code) == 13 and code.startswith("040001095275")
    Gtin.parse(code)  # raises on a wrong check digit


def test_card_number_round_trips_to_member() -> None:
    assert member_id_from_card(card_number(1234)) == 1234


@pytest.mark.parametrize("card", ["0490000012340", "049000001234", "0400000012345", "abc"])
def test_bad_card_numbers_are_refused(card: str) -> None:
    good = card_number(1234)
    if card == good:
        pytest.fail("test table must hold bad cards only")
    assert member_id_from_card(card) is None


@pytest.mark.parametrize("bad", [0, -1, 10**8])
def test_out_of_range_ids_are_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        product_gtin(bad)
