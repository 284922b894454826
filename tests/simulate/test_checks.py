"""The end-of-day checks on hand-made inputs: independent prices, events matched by id, 5xx outside outages."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from handheld.store import LocalStore
from server.simulate.checks import (
    AccessEntry,
    LocalEvent,
    compare_events,
    errors_outside,
    expected_total,
    local_log,
    read_access_log,
    weighed_minor,
)
from server.simulate.setup import ShelfPrice
from server.simulate.shopper import weight_label
from shop.basket import BasketLine
from shop.pricing import PriceInfo, price_basket

MILK = ShelfPrice(1, "0400000000017", 150, 120, False)
BREAD = ShelfPrice(2, "0400000000024", 100, None, False)
DEAR_MEMBER = ShelfPrice(3, "0400000000031", 200, 250, False)  # a member price above the shelf price is no discount
APPLES = ShelfPrice(4, "0400000000048", 299, None, True)       # per kg
PRICES = {p.gtin: p for p in (MILK, BREAD, DEAR_MEMBER, APPLES)}


@pytest.mark.parametrize(("weight_g", "per_kg", "expected"), [
    (1000, 299, 299), (500, 299, 150), (499, 299, 149), (250, 2, 1), (1, 499, 0), (3, 500, 2), (0, 999, 0),
])
def test_weighed_price_rounds_half_up(weight_g: int, per_kg: int, expected: int) -> None:
    assert weighed_minor(weight_g, per_kg) == expected


@pytest.mark.parametrize(("lines", "member", "expected"), [
    ([], True, 0),
    ([(MILK.gtin, 2, None)], False, 300),
    ([(MILK.gtin, 2, None)], True, 240),
    ([(MILK.gtin, 1, None), (BREAD.gtin, 3, None)], True, 420),
    ([(DEAR_MEMBER.gtin, 1, None)], True, 200),
    ([(APPLES.gtin, 1, 500)], True, 150),
    ([(APPLES.gtin, 1, 500), (APPLES.gtin, 1, 1000), (MILK.gtin, 1, None)], False, 150 + 299 + 150),
])
def test_expected_total_prices_the_shoppers_record(lines: list[tuple[str, int, int | None]], member: bool,
                                                   expected: int) -> None:
    assert expected_total(lines, PRICES, member) == expected


def test_expected_total_refuses_an_item_the_catalogue_does_not_know() -> None:
    with pytest.raises(KeyError):
        expected_total([("0400000000055", 1, None)], PRICES, True)


@pytest.mark.parametrize("member", [True, False])
def test_independent_total_agrees_with_price_basket_without_promotions(member: bool) -> None:
    record = [(MILK.gtin, 3, None), (BREAD.gtin, 2, None), (DEAR_MEMBER.gtin, 1, None), (APPLES.gtin, 1, 737)]
    lines = [BasketLine(f"k{i}" if w else g, g, q, w) for i, (g, q, w) in enumerate(record)]
    infos = {p.gtin: PriceInfo(p.gtin, p.product_id, str(p.product_id), p.price_minor, p.member_price_minor,
                               sold_by_weight=p.sold_by_weight) for p in PRICES.values()}
    assert price_basket(lines, infos, member=member).total_minor == expected_total(record, PRICES, member)


def event(eid: str, trip: str = "t1", kind: str = "scan", sent: int = 1) -> LocalEvent:
    return LocalEvent(eid, trip, kind, "2026-01-01T00:00:00+00:00", sent)


def test_every_event_once_is_clean() -> None:
    local = [event("a"), event("b"), event("c", "t2", "finish")]
    check = compare_events(local, [("a", "t1"), ("b", "t1"), ("c", "t2")], {"t1": 2, "t2": 1})
    assert (check.lost, check.duplicated, check.stray, check.trips_mismatched) == ([], [], [], [])
    assert check.made == 3 and check.on_server == 3 and check.kinds == {"scan": 2, "finish": 1}


@pytest.mark.parametrize(("server", "counts", "lost", "duplicated", "stray"), [
    ([("a", "t1")], {"t1": 1}, ["b"], [], []),                              # one never arrived
    ([("a", "t1"), ("b", "t1"), ("b", "t1")], {"t1": 2}, [], ["b"], []),    # one stored twice
    ([("a", "t1"), ("b", "t1")], {"t1": 3}, [], ["trip t1: event_count 3 for 2 events"], []),  # counted twice
    ([("a", "t1"), ("b", "t1"), ("z", "t1")], {"t1": 3}, [], [], ["z"]),    # on the server, in no log
])
def test_lost_doubled_and_stray_events_are_found(server: list[tuple[str, str]], counts: dict[str, int],
                                                 lost: list[str], duplicated: list[str], stray: list[str]) -> None:
    check = compare_events([event("a"), event("b")], server, counts)
    assert (check.lost, check.duplicated, check.stray) == (lost, duplicated, stray)
    assert check.trips_mismatched == ["t1"]


def test_refused_events_are_counted() -> None:
    assert compare_events([event("a", sent=2)], [("a", "t1")], {"t1": 1}).refused == 1


def test_local_log_reads_a_handheld_file(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    trip = store.start_trip(None)
    first = store.append(trip.id, "scan", {"gtin": MILK.gtin})
    store.append(trip.id, "finish", {})
    store.acknowledge([first.id])
    store.close()
    got = local_log(tmp_path)
    assert [(e.id == first.id, e.kind, e.sent, e.trip_id) for e in got] == [(True, "scan", 1, trip.id),
                                                                           (False, "finish", 0, trip.id)]


def test_access_log_lines_are_read_and_odd_lines_skipped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('[23/Nov/2026:01:24:15 +0000] 409 "POST /api/v1/trips/x/checkout" 54871\n'
                   "some worker noise\n"
                   '[23/Nov/2026:01:25:07 +0000] 500 "POST /api/v1/trips/y/events" 179851\n')
    entries = read_access_log(log)
    at = datetime(2026, 11, 23, 1, 24, 15, tzinfo=timezone.utc).timestamp()
    assert entries[0] == AccessEntry(at, 409, "POST", "/api/v1/trips/x/checkout", 54871)
    assert [e.status for e in entries] == [409, 500]
    assert read_access_log(tmp_path / "missing.log") == []


@pytest.mark.parametrize(("at", "outside"), [(99.0, False), (97.5, False), (96.5, True), (112.0, False),
                                             (113.5, True), (150.0, True)])
def test_5xx_count_only_outside_the_outage_windows_with_grace(at: float, outside: bool) -> None:
    entries = [AccessEntry(at, 500, "POST", "/p", 1), AccessEntry(150.0, 200, "GET", "/ok", 1)]
    assert bool(errors_outside(entries, [(100.0, 110.0)], grace=3.0)) is outside


@pytest.mark.parametrize(("plu", "grams", "code"), [("10001", 640, "2110001006401"), ("10042", 1500, "2110042015004")])
def test_weight_label_is_a_valid_gs1_weight_barcode(plu: str, grams: int, code: str) -> None:
    from firmware_bridge import default_settings, interpret

    assert weight_label(plu, grams) == code
    scan = interpret(code, "EAN-13", default_settings().barcodes)
    assert scan.kind == "weighed" and scan.weight_g == grams


def test_loading_the_config_does_not_import_pandas() -> None:
    """Every handheld loads config.toml at start: the offers engine's pandas must not come with it (~110 MB each)."""
    code = ("import sys; import handheld.cli; from server import config; config.load(None); "
            "import server.offers; assert server.offers.OfferPolicy; "
            "print(sorted(m for m in ('pandas', 'numpy', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
