"""GS1 number helpers: check digits, UPC-E, GTIN-13 normalisation and in-store label rules.

biip does the GS1 work it knows; this module adds only what a store needs on top:
its own configurable price/weight label rules and a GTIN-13 view of every EAN/UPC.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from biip.checksums import gs1_price_weight_check_digit, gs1_standard_check_digit
from biip.upc import Upc

from .errors import BarcodeError
from .settings import LabelRule

# GTIN-13 prefixes of restricted circulation numbers set per country (GS1 GenSpecs 2.1.11).
RCN_GEO_PREFIXES = ("02", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29")


def check_digit(payload: str) -> int:
    """Return the GS1 check digit for a GTIN payload (weights 3,1,3... from the right)."""
    if not payload.isdigit():
        raise BarcodeError(f"check digit needs digits, got {payload!r}")
    return gs1_standard_check_digit(payload)


def verify_check_digit(code: str) -> None:
    """Raise BarcodeError saying what was expected if `code`'s last digit is wrong."""
    want = check_digit(code[:-1])
    if int(code[-1]) != want:
        raise BarcodeError(f"bad check digit: {code} should end in {want}, not {code[-1]}")


def expand_upc_e(code: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to its 12-digit UPC-A."""
    if len(code) != 8 or not code.isdigit():
        raise BarcodeError(f"UPC-E must be 8 digits, got {code!r}")
    if code[0] not in "01":
        raise BarcodeError(f"UPC-E number system must be 0 or 1, got {code[0]}")
    # biip expands NS + six digits; the check digit is ours to verify, with our message.
    upc_a = Upc.parse(code[:7]).as_upc_a()
    if upc_a[-1] != code[-1]:
        raise BarcodeError(f"bad check digit: UPC-E {code} should end in {upc_a[-1]}, not {code[-1]}")
    return upc_a


def to_gtin13(digits: str, symbology: str) -> tuple[str, str]:
    """Return (check-verified GTIN-13, symbology) for an EAN/UPC read; UPC and EAN-8 get leading zeros."""
    if not digits.isdigit():
        raise BarcodeError(f"unknown format: {symbology} data {digits[:40]!r} is not all digits")
    n = len(digits)
    if n == 8 and symbology == "UPC-E":
        return "0" + expand_upc_e(digits), symbology
    if n == 8 and symbology == "unknown":
        # Without an identifier 8 digits are EAN-8 or UPC-E; usually only one check digit fits.
        if int(digits[-1]) == check_digit(digits[:-1]):
            return "00000" + digits, "EAN-8"
        try:
            return "0" + expand_upc_e(digits), "UPC-E"
        except BarcodeError:
            pass
    if n in (8, 12, 13):
        verify_check_digit(digits)
        guessed = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13"}[n]
        return digits.rjust(13, "0"), guessed if symbology == "unknown" else symbology
    if n == 14:
        verify_check_digit(digits)
        if digits[0] != "0":
            raise BarcodeError(f"GTIN-14 {digits} is an outer-case code (indicator {digits[0]}), not a shelf item")
        return digits[1:], "ITF" if symbology == "unknown" else symbology
    raise BarcodeError(f"unknown format: {n} digits is not an EAN-8, UPC-A, UPC-E, EAN-13 or GTIN-14")


def rule_for(gtin13: str, rules: tuple[LabelRule, ...]) -> LabelRule | None:
    """Return the first in-store label rule whose prefix starts `gtin13`."""
    for rule in rules:
        if any(gtin13.startswith(p) for p in rule.prefixes):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class Label:
    """What an in-store label rule read from a GTIN-13."""

    lookup_gtin: str  # the label with its value zeroed: the item's catalogue key
    price_minor: int | None
    weight_g: int | None


def read_label(gtin13: str, rule: LabelRule) -> Label:
    """Apply an in-store label rule to a check-verified GTIN-13."""
    p = len(rule.prefixes[0])
    value_at = p + rule.item_digits + int(rule.value_check)
    value = gtin13[value_at : value_at + rule.value_digits]
    if rule.value_check:
        want = gs1_price_weight_check_digit(value)
        got = int(gtin13[value_at - 1])
        if got != want:
            raise BarcodeError(f"bad {rule.kind} check digit: label {gtin13} has {got}, value {value} needs {want}")
    zeroed = "0" * rule.value_digits
    head = gtin13[: p + rule.item_digits]
    if rule.value_check:
        head += str(gs1_price_weight_check_digit(zeroed))
    payload = head + zeroed
    lookup = payload + str(check_digit(payload))
    if rule.kind == "price":
        return Label(lookup, int(value) * 10 ** (2 - rule.decimals), None)
    return Label(lookup, None, int(value) * 10 ** (3 - rule.decimals))


def to_minor(amount: Decimal) -> int:
    """Return an amount in major units (pounds) as whole minor units (pence), half up."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_grams(kilograms: Decimal) -> int:
    """Return a weight in kilograms as whole grams, half up."""
    return int((kilograms * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
