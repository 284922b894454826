"""Interpretation: GTINs, UPC-E, in-store labels, cards, coupons, GS1 element strings, bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from biip.checksums import gs1_price_weight_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import KINDS, BarcodeError, BarcodeSettings, LabelRule, Scan, gs1, interpret, interpret_frame


def with_check(payload: str) -> str:
    return payload + str(gs1.check_digit(payload))


def gb_price_label(item: str, pence: int) -> str:
    value = f"{pence:04d}"
    return with_check("20" + item + str(gs1_price_weight_check_digit(value)) + value)


def test_check_digit_known_answer() -> None:
    assert gs1.check_digit("590123412345") == 7


def test_upc_e_expands_to_known_upc_a() -> None:
    assert gs1.expand_upc_e("04252614") == "042100005264"


@pytest.mark.parametrize(
    ("upc_e", "upc_a"),
    [("04252614", "042100005264"), ("06543208", "065000004328"), ("01234133", "012300000413"),
     ("01234145", "012340000015"), ("01234558", "012345000058"), ("19876597", "198765000097")],
)
def test_upc_e_expansion_follows_the_sixth_digit_rule(upc_e: str, upc_a: str) -> None:
    assert gs1.expand_upc_e(upc_e) == upc_a


@pytest.mark.parametrize(
    ("code", "match"),
    [("0425261", "must be 8 digits"), ("24252614", "number system must be 0 or 1"), ("04252615", "bad check digit: UPC-E 04252615 should end in 4, not 5")],
)
def test_bad_upc_e_is_refused_with_reason(code: str, match: str) -> None:
    with pytest.raises(BarcodeError, match=match):
        gs1.expand_upc_e(code)


CASES = [
    # data, symbology, kind, gtin, price_minor, weight_g
    ("5901234123457", "EAN-13", "product", "5901234123457", None, None),
    ("5901234123457", "unknown", "product", "5901234123457", None, None),
    ("]E05901234123457", "unknown", "product", "5901234123457", None, None),
    ("]E00012345678905", "unknown", "product", "0012345678905", None, None),
    ("012345678905", "UPC-A", "product", "0012345678905", None, None),
    ("04252614", "UPC-E", "product", "0042100005264", None, None),
    ("96385074", "EAN-8", "product", "0000096385074", None, None),
    ("96385074", "unknown", "product", "0000096385074", None, None),
    ("05901234123457", "ITF", "product", "5901234123457", None, None),
    (with_check("040000001234"), "EAN-13", "product", with_check("040000001234"), None, None),
    (with_check("049000004321"), "EAN-13", "loyalty_card", with_check("049000004321"), None, None),
    (with_check("049000004321"), "QR", "loyalty_card", with_check("049000004321"), None, None),
    (with_check("991234567890"), "EAN-13", "coupon", with_check("991234567890"), None, None),
    (with_check("981234567890"), "EAN-13", "coupon", with_check("981234567890"), None, None),
    (gb_price_label("12345", 123), "EAN-13", "priced", gb_price_label("12345", 0), 123, None),
    (gb_price_label("00042", 9999), "EAN-13", "priced", gb_price_label("00042", 0), 9999, None),
    (with_check("211234501234"), "EAN-13", "weighed", with_check("211234500000"), None, 1234),
    ("]E3590123412345712", "unknown", "product", "5901234123457", None, None),
]


@pytest.mark.parametrize(("data", "symbology", "kind", "gtin", "price", "weight"), CASES)
def test_barcode_is_interpreted(data: str, symbology: str, kind: str, gtin: str, price: int | None,
                                weight: int | None, barcodes: BarcodeSettings) -> None:
    scan = interpret(data, symbology, barcodes)
    assert (scan.kind, scan.gtin, scan.price_minor, scan.weight_g, scan.error) == (kind, gtin, price, weight, None)


BAD = [
    ("5901234123458", "EAN-13", "bad check digit: 5901234123458 should end in 7, not 8"),
    ("012345678906", "UPC-A", "bad check digit"),
    ("04252615", "UPC-E", "bad check digit"),
    ("96385075", "EAN-8", "bad check digit"),
    ("590123412345X", "EAN-13", "unknown format: EAN-13 data '590123412345X' is not all digits"),
    ("59012341234", "EAN-13", "unknown format: 11 digits"),
    ("15901234123454", "ITF", "outer-case code (indicator 1)"),
    ("hello", "QR", "unknown format: QR data 'hello'"),
    ("ABC-123", "Code 128", "unknown format"),
    ("", "EAN-13", "empty read"),
    ("]E1", "unknown", "empty read"),
    ("12", "EAN add-on", "unknown format"),
    (gb_price_label("12345", 123)[:7] + "0" + gb_price_label("12345", 123)[8:12] + "X", "EAN-13", "not all digits"),
    (with_check("20123450" + "0123"), "EAN-13", "bad price check digit"),
    (with_check("231234567890"), "EAN-13", "in-store label prefix 23 has no rule"),
    ("10ABC", "GS1-128", "GS1 element string without a GTIN"),
    ("01059012341234581", "GS1-128", "bad GS1 data"),
    ("0105901234123457" "3932978" "1999", "GS1-128", "price in currency 978, the store uses 826"),
]


@pytest.mark.parametrize(("data", "symbology", "error"), BAD)
def test_bad_barcode_is_invalid_with_reason(data: str, symbology: str, error: str, barcodes: BarcodeSettings) -> None:
    scan = interpret(data, symbology, barcodes)
    assert scan.kind == "invalid"
    assert scan.gtin is None and scan.price_minor is None
    assert scan.error is not None and error in scan.error


def test_gs1_128_element_string_gives_gtin_batch_expiry() -> None:
    scan = interpret("0105901234123457" "10ABC\x1d" "17251231", "GS1-128", BarcodeSettings())
    assert scan == Scan("0105901234123457" "10ABC\x1d" "17251231", "GS1-128", "gs1", "5901234123457",
                        batch="ABC", expiry=date(2025, 12, 31))


def test_gs1_variable_measure_keeps_gtin_14_and_reads_weight_and_price() -> None:
    scan = interpret("]C1" "0195012345678903" "3103001234" "3922" "0499", "unknown", BarcodeSettings())
    assert (scan.symbology, scan.kind, scan.gtin, scan.weight_g, scan.price_minor) == (
        "GS1-128", "gs1", "95012345678903", 1234, 499)


def test_gs1_databar_with_aim_reads_price() -> None:
    scan = interpret("]e0" "0105901234123457" "3921" "0199", "unknown", BarcodeSettings())
    assert (scan.symbology, scan.gtin, scan.price_minor) == ("GS1 DataBar", "5901234123457", 1990)


def test_gs1_digital_link_qr_is_read() -> None:
    scan = interpret("https://id.gs1.org/01/05901234123457/10/ABC", "QR", BarcodeSettings())
    assert (scan.kind, scan.gtin, scan.batch) == ("gs1", "5901234123457", "ABC")


def test_national_rule_from_biip_reads_label_when_no_store_rule_matches() -> None:
    barcodes = BarcodeSettings(rcn_region="gb", rules=())
    label = gb_price_label("12345", 250)
    scan = interpret(label, "EAN-13", barcodes)
    assert (scan.kind, scan.price_minor, scan.gtin) == ("priced", 250, gb_price_label("12345", 0))


def test_german_weight_label_uses_biip_region_rule() -> None:
    value = "01500"  # 1.500 kg
    label = with_check("281234" + str(gs1_price_weight_check_digit(value)) + value)
    scan = interpret(label, "EAN-13", BarcodeSettings(rcn_region="de", rules=()))
    assert (scan.kind, scan.weight_g) == ("weighed", 1500)


def test_store_rule_wins_over_national_rule() -> None:
    rule = LabelRule("whole-pounds", ("20",), "price", 5, 5, 0, False)  # 20 IIIII PPPPP K in pounds
    scan = interpret(with_check("201234500012"), "EAN-13", BarcodeSettings(rules=(rule,)))
    assert (scan.kind, scan.price_minor) == ("priced", 1200)


def test_company_prefixes_come_from_settings() -> None:
    code = with_check("049000004321")
    barcodes = replace(BarcodeSettings(), card_prefix="0491", product_prefix="049")
    assert interpret(code, "EAN-13", barcodes).kind == "product"


def test_label_rule_pattern_reads_like_gs1_notation(barcodes: BarcodeSettings) -> None:
    assert [r.pattern for r in barcodes.rules] == ["20 IIIII C PPPP K", "21 IIIII WWWWW K"]


def test_interpret_frame_strips_aim_unless_the_profile_says_none_is_sent(barcodes: BarcodeSettings) -> None:
    assert interpret_frame(b"]E05901234123457", barcodes, aim=True).gtin == "5901234123457"
    plain = interpret_frame(b"]E05901234123457", barcodes, aim=False)
    assert plain.kind == "invalid" and plain.error is not None and "unknown format" in plain.error


@pytest.mark.parametrize("frame, symbology, kind", [
    (b"]E05901234123457", "EAN-13", "product"),
    (b"]C1" + b"0105901234123457" + b"17251231", "GS1-128", "gs1"),
    (b"]d2" + b"0105901234123457" + b"17251231", "GS1 DataMatrix", "gs1"),
    (b"]Q3" + b"0105901234123457", "GS1 QR", "gs1"),
    (b"5901234123457", "EAN-13", "product"),
])
def test_a_profile_that_does_not_say_detects_aim_identifiers(barcodes: BarcodeSettings, frame: bytes,
                                                             symbology: str, kind: str) -> None:
    scan = interpret_frame(frame, barcodes)  # what a profile without an `aim` key gives
    assert (scan.kind, scan.symbology, scan.gtin) == (kind, symbology, "5901234123457"), scan.error


def test_ssi_symbology_is_kept(barcodes: BarcodeSettings) -> None:
    assert interpret_frame(b"012345678905", barcodes, symbology="UPC-A").symbology == "UPC-A"


def test_scan_to_dict_is_json_ready() -> None:
    scan = interpret("0105901234123457" "17251231", "GS1-128", BarcodeSettings())
    assert scan.to_dict()["expiry"] == "2025-12-31"


def test_scan_is_frozen() -> None:
    scan = interpret("5901234123457", "EAN-13", BarcodeSettings())
    with pytest.raises(AttributeError):
        scan.kind = "coupon"  # type: ignore[misc]


@settings(deadline=None, max_examples=300)
@given(data=st.text(max_size=60), symbology=st.sampled_from(
    ["unknown", "EAN-13", "UPC-A", "UPC-E", "EAN-8", "ITF", "GS1-128", "GS1 DataBar", "GS1 QR", "QR", "Code 128"]))
def test_interpret_never_raises_and_invalid_always_says_why(data: str, symbology: str) -> None:
    scan = interpret(data, symbology, BarcodeSettings())
    assert scan.kind in KINDS
    assert (scan.kind == "invalid") == (scan.error is not None)
    if scan.kind == "invalid":
        assert scan.gtin is None


@settings(deadline=None, max_examples=200)
@given(payload=st.text(alphabet="0123456789", min_size=12, max_size=12), wrong=st.integers(1, 9))
def test_any_gtin_13_reads_with_its_check_digit_and_not_with_another(payload: str, wrong: int) -> None:
    barcodes = BarcodeSettings(rcn_region=None, rules=())
    good = with_check(payload)
    bad = payload + str((int(good[-1]) + wrong) % 10)
    scan = interpret(good, "EAN-13", barcodes)
    if not good.startswith(gs1.RCN_GEO_PREFIXES):
        assert scan.kind != "invalid" and scan.gtin == good
    bad_scan = interpret(bad, "EAN-13", barcodes)
    assert bad_scan.kind == "invalid" and bad_scan.error is not None and "bad check digit" in bad_scan.error
