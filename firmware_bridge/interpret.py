"""Interpretation: every frame becomes a `Scan` (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import biip
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from biip.rcn import Rcn

from . import gs1, raw, wire
from .errors import BarcodeError
from .settings import BarcodeSettings

KINDS = ("product", "weighed", "priced", "loyalty_card", "coupon", "gs1", "invalid")
EAN_UPC = ("EAN-13", "UPC-A", "UPC-E", "EAN-8", "ITF")
GS1_SYMBOLOGIES = ("GS1-128", "GS1 DataBar", "GS1 DataMatrix", "GS1 QR")
# ISO 4217 numeric codes for the currencies biip's RCN regions use (AI 393n carries one).
_CURRENCY = {"gb": "826", "de": "978", "fi": "978", "ee": "978", "lv": "978", "lt": "978",
             "se": "752", "no": "578", "dk": "208"}


@dataclass(frozen=True, slots=True)
class Scan:
    """One barcode read and what it means to the shop."""

    data: str
    symbology: str
    kind: str
    gtin: str | None = None
    price_minor: int | None = None
    weight_g: int | None = None
    batch: str | None = None
    expiry: date | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (expiry as ISO date)."""
        out = asdict(self)
        out["expiry"] = self.expiry.isoformat() if self.expiry else None
        return out


def _invalid(data: str, symbology: str, error: str) -> Scan:
    return Scan(data=data, symbology=symbology, kind="invalid", error=error)


def interpret(data: str, symbology: str, barcodes: BarcodeSettings) -> Scan:
    """Interpret one read's data; never raises, a bad read is a Scan of kind "invalid"."""
    aim, body = raw.split_aim(data)
    if aim is not None:
        # The identifier is more exact than a guess, and biip wants data without it.
        symbology = raw.symbology_for_aim(aim) if symbology == "unknown" else symbology
        if not body:
            return _invalid(data, symbology, "empty read: an AIM identifier and no data")
        data = body
    if not data:
        return _invalid(data, symbology, "empty read")
    try:
        if symbology in GS1_SYMBOLOGIES:
            return _element_string(data, symbology, barcodes)
        if symbology == "QR" and data.startswith(("http://", "https://")):
            return _digital_link(data, symbology, barcodes)
        digits = data
        if aim == "]E3" and data.isdigit() and len(data) in (15, 18):
            digits = data[:13]  # EAN/UPC with add-on: the add-on (issue number) is not priced
        if symbology in EAN_UPC or (data.isdigit() and len(data) in (8, 12, 13, 14)):
            # Digits in a QR or Code 128 (a phone's loyalty card) read as the GTIN they are.
            return _gtin(data, digits, symbology, barcodes)
        return _invalid(data, symbology, f"unknown format: {symbology} data {data[:40]!r} is not a GTIN, GS1 element string, card or coupon")
    except BarcodeError as exc:
        if symbology == "unknown" and data.isdigit():
            symbology = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13", 14: "ITF"}.get(len(data), symbology)
        return _invalid(data, symbology, str(exc))
    except biip.BiipException as exc:
        return _invalid(data, symbology, f"bad GS1 data: {exc}")


def interpret_frame(
    frame: bytes, barcodes: BarcodeSettings, symbology: str = "unknown", aim: bool | None = None
) -> Scan:
    """Interpret one frame body as bytes. An AIM identifier is stripped and names the symbology unless the
    profile says its scanner sends none (`aim` False); None, the default, recognises one when present
    (no GTIN, element string or card starts with "]")."""
    text = frame.decode("latin-1")
    if aim is False and text.startswith(wire.AIM_FLAG):
        # The profile sends no identifiers, so a leading "]" is not one: no GTIN starts so.
        return _invalid(text, symbology, f"unknown format: {text[:40]!r}")
    return interpret(text, symbology, barcodes)


def _gtin(data: str, digits: str, symbology: str, barcodes: BarcodeSettings) -> Scan:
    g13, guessed = gs1.to_gtin13(digits, symbology if symbology in EAN_UPC else "unknown")
    symbology = guessed if symbology in EAN_UPC or symbology == "unknown" else symbology
    base = Scan(data=data, symbology=symbology, kind="product", gtin=g13)
    if g13.startswith(barcodes.card_prefix):
        return _replace(base, kind="loyalty_card")
    if g13.startswith(barcodes.product_prefix):
        return base
    if any(g13.startswith(p) for p in barcodes.coupon_prefixes):
        return _replace(base, kind="coupon")
    rule = gs1.rule_for(g13, barcodes.rules)
    if rule is not None:
        label = gs1.read_label(g13, rule)
        kind = "priced" if rule.kind == "price" else "weighed"
        return _replace(base, kind=kind, gtin=label.lookup_gtin, price_minor=label.price_minor, weight_g=label.weight_g)
    if g13.startswith(gs1.RCN_GEO_PREFIXES):
        return _national_label(base, g13, barcodes)
    return base


def _national_label(base: Scan, g13: str, barcodes: BarcodeSettings) -> Scan:
    """Read an RCN with no store rule by biip's rule for the configured region."""
    region = barcodes.rcn_region
    if region is not None:
        parsed = biip.gtin.Gtin.parse(g13, config=biip.ParseConfig(rcn_region=region))
        if isinstance(parsed, Rcn):
            if parsed.price is not None:
                lookup = parsed.without_variable_measure().as_gtin_13()
                return _replace(base, kind="priced", gtin=lookup, price_minor=gs1.to_minor(parsed.price))
            if parsed.weight is not None:
                lookup = parsed.without_variable_measure().as_gtin_13()
                return _replace(base, kind="weighed", gtin=lookup, weight_g=gs1.to_grams(parsed.weight))
    raise BarcodeError(f"unknown format: in-store label prefix {g13[:2]} has no rule in [[barcodes.rules]] or region {region!r}")


def _element_string(data: str, symbology: str, barcodes: BarcodeSettings) -> Scan:
    config = biip.ParseConfig(rcn_region=barcodes.rcn_region, separator_chars=(wire.GS,))
    message = GS1Message.parse(data.lstrip(wire.GS), config=config)
    return _from_elements(data, symbology, message, barcodes)


def _digital_link(data: str, symbology: str, barcodes: BarcodeSettings) -> Scan:
    config = biip.ParseConfig(rcn_region=barcodes.rcn_region)
    message = GS1DigitalLinkURI.parse(data, config=config).as_gs1_message()
    return _from_elements(data, symbology, message, barcodes)


def _from_elements(data: str, symbology: str, message: GS1Message, barcodes: BarcodeSettings) -> Scan:
    gtin = batch = error = None
    expiry: date | None = None
    price = weight = None
    for es in message.element_strings:
        ai = es.ai.ai
        if ai == "01":
            # GTIN-14 with indicator 0 is a GTIN-13; variable-measure (indicator 9) stays 14 digits.
            gtin = es.value[1:] if es.value.startswith("0") else es.value
        elif ai == "10":
            batch = es.value
        elif ai == "17":
            expiry = es.date
        elif ai.startswith("310") and es.decimal is not None:
            weight = gs1.to_grams(es.decimal)
        elif ai.startswith("392") and es.decimal is not None:
            price = gs1.to_minor(es.decimal)
        elif ai.startswith("393") and es.decimal is not None:
            want = _CURRENCY.get(barcodes.rcn_region or "")
            if want is not None and es.value[:3] != want:
                error = f"price in currency {es.value[:3]}, the store uses {want}"
            else:
                price = gs1.to_minor(es.decimal)
    if gtin is None:
        error = error or "GS1 element string without a GTIN (AI 01)"
    if error:
        return _invalid(data, symbology, error)
    return Scan(data, symbology, "gs1", gtin, price, weight, batch, expiry)


def _replace(scan: Scan, **changes: Any) -> Scan:
    values = asdict(scan)
    values.update(changes)
    return Scan(**values)
