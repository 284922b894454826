"""What a Scan means on the handheld: which product, and the scan event's payload (pure lookups)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_bridge import BarcodeSettings, Scan
from handheld.catalogue import Catalogue
from shop.pricing import PriceInfo

ITEM_KINDS = ("product", "weighed", "priced", "gs1")


@dataclass(frozen=True)
class Resolved:
    """A scan that names a product: the product and the event payload to log."""

    product: PriceInfo
    payload: dict[str, Any]


def label_item_code(gtin: str, barcodes: BarcodeSettings) -> str | None:
    """The item code inside an in-store label's lookup GTIN, by the store's label rules."""
    for rule in barcodes.rules:
        for prefix in rule.prefixes:
            if gtin.startswith(prefix):
                return gtin[len(prefix):len(prefix) + rule.item_digits]
    # A national RCN read by biip's region rule: GS1 layouts put a 4-5 digit item after 2 prefix digits.
    return gtin[2:7] if len(gtin) == 13 and gtin[:1] == "2" else None


def resolve(scan: Scan, catalogue: Catalogue, barcodes: BarcodeSettings) -> Resolved | str:
    """The product a scan adds, or a message for the shopper saying why it adds nothing."""
    if scan.kind == "invalid":
        return f"Could not read that barcode ({scan.error or 'bad read'}). Please scan it again."
    if scan.kind not in ITEM_KINDS or not scan.gtin:
        return f"That barcode ({scan.data}) is not an item."
    product = catalogue.product(scan.gtin)
    if product is None and (scan.weight_g is not None or scan.price_minor is not None):
        code = label_item_code(scan.gtin, barcodes)
        product = catalogue.product_by_plu(code) if code else None
    if product is None and len(scan.gtin) == 14 and scan.gtin.startswith("0"):
        product = catalogue.product(scan.gtin[1:])
    if product is None and catalogue.version is None:
        return "The price list is still loading. Please scan that item again in a moment."
    if product is None:
        return f"Item {scan.data} not found. Please ask a member of staff."
    if product.sold_by_weight and scan.weight_g is None and scan.price_minor is None:
        return f"{product.name} is sold by weight: weigh it at the scale and scan the label."
    if scan.weight_g is not None and not product.sold_by_weight:
        return f"That weight label does not match {product.name}. Please ask a member of staff."
    payload: dict[str, Any] = {"gtin": product.gtin, "barcode": scan.data}
    if scan.weight_g is not None:
        payload["weight_g"] = int(scan.weight_g)
    if scan.price_minor is not None:
        payload["label_price_minor"] = int(scan.price_minor)
    return Resolved(product, payload)
