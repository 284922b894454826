"""The chain's own numbering: GTIN-13s for products and loyalty card numbers.

Both live in GS1 prefix 04, the range GS1 reserves for numbers used inside one company,
so they can never clash with a manufacturer's barcode.
"""
from __future__ import annotations

from biip.checksums import gs1_standard_check_digit

PRODUCT_PREFIX = "0400"
CARD_PREFIX = "0490"


def _with_check(body: str) -> str:
    return body + str(gs1_standard_check_digit(body))


def product_gtin(product_id: int) -> str:
    """The GTIN-13 printed on a product with this id."""
    if not 0 < product_id < 10**8:
        raise ValueError(f"product id {product_id} does not fit the 8-digit company range")
    return _with_check(f"{PRODUCT_PREFIX}{product_id:08d}")


def card_number(member_id: int) -> str:
    """The loyalty card number (a GTIN-13 in the company range) of this member."""
    if not 0 < member_id < 10**8:
        raise ValueError(f"member id {member_id} does not fit the 8-digit card range")
    return _with_check(f"{CARD_PREFIX}{member_id:08d}")


def member_id_from_card(card: str) -> int | None:
    """The member id a card number carries, or None if it is not a valid ShopGo card."""
    if len(card) != 13 or not (card.isascii() and card.isdigit()) or not card.startswith(CARD_PREFIX):
        return None
    if str(gs1_standard_check_digit(card[:12])) != card[12]:
        return None
    return int(card[4:12])
