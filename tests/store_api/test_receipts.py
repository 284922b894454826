"""Printed receipts: the layout carries the store, lines, savings, points and payment; python-escpos
prints it (its Dummy printer, and a network printer listening on loopback); a missing or failing
printer never undoes the sale."""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from escpos.printer import Dummy

from server.store.receipts import PrinterError, open_printer, print_receipt, receipt_lines
from shop.numbering import card_number, product_gtin
from tests.store_api.conftest import BEER, MILK, REGULAR, Events, Shop
from tests.store_api.test_api_checkout import _give_points, shop_trip

SITE = {"store_name": "ShopGo Test Store", "store_id": "S001", "currency": "GBP", "currency_exponent": 2,
        "timezone": "Europe/London"}


def paid_receipt(shop: Shop, events: Events, **body: Any) -> dict[str, Any]:
    _give_points(shop, REGULAR, 500)
    trip_id, _ = shop_trip(shop, events, card_number(REGULAR), [events.scan(BEER), events.scan(MILK)],
                           handheld_total=390)
    resp = shop.till(f"/api/v1/trips/{trip_id}/checkout",
                     {"spend_points": 100, "payment": {"method": "cash", "tendered_minor": 500}, **body})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_the_printed_bytes_carry_the_lines_savings_points_and_the_store(shop: Shop, events: Events) -> None:
    receipt = paid_receipt(shop, events)
    printer = Dummy()
    print_receipt(printer, receipt, SITE)
    out = printer.output.decode("cp437", errors="replace")
    for line in receipt["lines"]:
        assert line["name"][:20] in out
    assert "ShopGo Test Store" in out and "Store S001" in out
    assert "member price" in out and "You saved" in out and "0.10" in out  # milk's member price saving
    assert "100 points" in out and "1.00" in out and "TOTAL" in out and "2.90" in out
    assert "Paid by cash" in out and "Change" in out and "2.10" in out
    assert "Points earned" in out
    assert printer.output.endswith(b"\x1dV\x00")  # cut


def test_lines_fit_a_42_column_printer(shop: Shop, events: Events) -> None:
    assert all(len(line) <= 42 for line in receipt_lines(paid_receipt(shop, events), SITE))


def test_checkout_prints_on_the_configured_network_printer(shop: Shop, events: Events, network_printer: Any) -> None:
    port, got, thread = network_printer
    shop.app.config["SHOPGO"]["receipt"]["printer"] = f"network:127.0.0.1:{port}"
    receipt = paid_receipt(shop, events, print=True)
    assert receipt["printed"] is True
    deadline = time.monotonic() + 10
    while b"\x1dV\x00" not in b"".join(got) and time.monotonic() < deadline:  # up to the cut
        time.sleep(0.05)
    printed = b"".join(got)
    assert b"TOTAL" in printed and product_gtin(BEER) not in printed.decode("cp437") and b"Paid by cash" in printed


def test_no_printer_or_a_dead_one_loses_no_sale(shop: Shop, events: Events) -> None:
    shop.app.config["SHOPGO"]["receipt"]["printer"] = ""
    receipt = paid_receipt(shop, events, print=True)
    assert receipt["printed"] is False and "no receipt printer is configured" in receipt["print_error"]
    again = shop.till(f"/api/v1/trips/{receipt['trip_id']}/checkout", {}).get_json()
    assert again["purchase_id"] == receipt["purchase_id"]  # the sale stands
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(PrinterError, match="check it is on"):
        print_receipt(open_printer(f"network:127.0.0.1:{port}"), receipt, SITE)
