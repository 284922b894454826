"""Receipts on paper: checkout's receipt laid out for a 42-column till printer (pure), and printed on
an ESC/POS printer with python-escpos.

The printer is config.toml's `[receipt] printer`: "" (none), "usb:VENDOR:PRODUCT" (hex ids),
"serial:/dev/ttyUSB0:BAUD" or "network:HOST:PORT" (port 9100 on most). Printing is never part of
the checkout's transaction: a jammed printer loses no sale, and the same receipt prints again.
"""
from __future__ import annotations

import socket
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from shop.money import format_money

WIDTH = 42


class PrinterError(RuntimeError):
    """The receipt printer is not configured or cannot be reached; the message says which."""


def _pair(left: str, right: str, width: int = WIDTH) -> str:
    left = left[: max(1, width - len(right) - 1)]
    return left + " " * (width - len(left) - len(right)) + right


def receipt_lines(receipt: Mapping[str, Any], site: Mapping[str, Any]) -> list[str]:
    """The receipt as printed lines: the store, every line with its saving, the totals, points, payment."""
    cur, exp = site.get("currency", "GBP"), int(site.get("currency_exponent", 2))

    def money(minor: int) -> str:
        return format_money(minor, cur, exp)

    at = datetime.fromisoformat(receipt["checked_out_at"]).astimezone(ZoneInfo(site.get("timezone", "UTC")))
    out = [str(site.get("store_name", "")).center(WIDTH)[:WIDTH], f"Store {site.get('store_id', '')}".center(WIDTH),
           at.strftime("%d %b %Y %H:%M").center(WIDTH), "-" * WIDTH]
    for line in receipt["lines"]:
        amount = f"{line['weight_g'] / 1000:.3f} kg" if line.get("weight_g") else f"{line['quantity']} x"
        out.append(_pair(f"{line['name']}", money(line["gross_minor"])))
        out.append(f"  {amount} {money(line['unit_price_minor'])}")
        if line["discount_minor"]:
            why = line.get("offer_text") or ", ".join(line.get("promotions") or []) or "saving"
            out.append(_pair(f"  {why}", "-" + money(line["discount_minor"])))
    out.append("-" * WIDTH)
    out.append(_pair("Subtotal", money(receipt["gross_minor"])))
    if receipt["discount_minor"]:
        out.append(_pair("You saved", "-" + money(receipt["discount_minor"])))
    if receipt.get("points_discount_minor"):
        out.append(_pair(f"{receipt['points_spent']} points", "-" + money(receipt["points_discount_minor"])))
    out.append(_pair("TOTAL", money(receipt["total_minor"])))
    payment = receipt.get("payment") or {}
    if payment:
        out.append(_pair(f"Paid by {payment['method']}", money(payment.get("tendered_minor") or payment["amount_minor"])))
        if payment.get("change_minor"):
            out.append(_pair("Change", money(payment["change_minor"])))
        if payment.get("reference"):
            out.append(f"Ref {payment['reference']}")
    if receipt.get("member_id") is not None:
        out.append(_pair("Points earned", str(receipt.get("points_awarded", 0))))
    out.append(f"{receipt.get('item_count', 0)} items   trip {str(receipt['trip_id'])[:8]}")
    out.append("Thank you for shopping with us".center(WIDTH))
    return out


def open_printer(spec: str) -> Any:
    """The python-escpos printer a `[receipt] printer` value names; PrinterError when none is set."""
    from escpos import printer

    kind, _, rest = spec.partition(":")
    try:
        if kind == "usb":
            vendor, product = rest.split(":")
            return printer.Usb(int(vendor, 16), int(product, 16))
        if kind == "serial":
            dev, _, baud = rest.rpartition(":")
            return printer.Serial(dev or rest, int(baud) if dev else 9600)
        if kind == "network":
            host, _, port = rest.rpartition(":")
            try:  # reach it first: python-escpos leaves its socket open when the connect fails
                socket.create_connection((host, int(port)), timeout=5).close()
            except OSError as exc:
                raise PrinterError(f"the receipt printer at {host}:{port} cannot be reached ({exc}); check it is "
                                   "on and on the network, then print again") from exc
            return printer.Network(host, int(port), timeout=5)
    except ValueError as exc:
        raise PrinterError(f"[receipt] printer {spec!r} is not usb:VENDOR:PRODUCT, serial:DEVICE:BAUD or "
                           f"network:HOST:PORT") from exc
    raise PrinterError("no receipt printer is configured: set [receipt] printer in config.toml")


def print_receipt(device: Any, receipt: Mapping[str, Any], site: Mapping[str, Any]) -> None:
    """Print the receipt on an escpos printer (any python-escpos printer, the Dummy one in tests)."""
    lines = receipt_lines(receipt, site)
    try:
        device.set(align="center", bold=True, double_height=True)
        device.textln(lines[0].strip())
        device.set(align="left", bold=False, normal_textsize=True)
        for line in lines[1:]:
            if line.startswith("TOTAL"):
                device.set(bold=True)
                device.textln(line)
                device.set(bold=False)
            else:
                device.textln(line)
        device.cut()
    except Exception as exc:  # python-escpos raises its own errors and OSError by connection kind
        raise PrinterError(f"the receipt printer failed: {exc}; check it is on and has paper, then print again") \
            from exc
    finally:
        close = getattr(device, "close", None)
        if close is not None and type(device).__name__ != "Dummy":
            close()
