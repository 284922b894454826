"""The trip's state is the fold of its local event log, priced by the shared price_basket."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import BarcodeSettings, Scan
from handheld.catalogue import Catalogue
from handheld.device import ActionError, Handheld
from handheld.state import RunningBasket, compute_state
from handheld.store import LocalStore
from shop.basket import Event, fold
from shop.pricing import PriceInfo, PromotionRule, price_basket

from .conftest import (
    APPLES,
    BREAD,
    CARD,
    CHEESE,
    MILK,
    WINE,
    catalogue_answer,
    gtin,
    price_label,
    weight_label,
    with_check,
)

Scanner = Callable[[str], Scan]


def start(device: Handheld, scan: Scanner, card: str | None = CARD) -> None:
    if card is None:
        device.start_guest()
    else:
        assert device.on_scan(scan(card)) is True


def line(device: Handheld, pid: int) -> dict[str, Any]:
    return next(x for x in device.state()["lines"] if x["gtin"] == gtin(pid))


def test_scanning_an_item_adds_a_line_and_again_adds_one(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    assert device.on_scan(scan(gtin(CHEESE))) is True
    assert device.state()["total_minor"] == 400
    assert device.on_scan(scan(gtin(CHEESE))) is True
    state = device.state()
    assert [(x["name"], x["quantity"]) for x in state["lines"]] == [("Cheddar", 2)]
    assert (state["total_minor"], state["item_count"]) == (800, 2)


def test_newest_item_is_first(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    for pid in (CHEESE, MILK, CHEESE):
        device.on_scan(scan(gtin(pid)))
    assert [x["gtin"] for x in device.state()["lines"]] == [gtin(CHEESE), gtin(MILK)]


def test_remove_item_lowers_total(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(CHEESE)))
    device.on_scan(scan(gtin(MILK)))
    device.remove(gtin(CHEESE))
    state = device.state()
    assert state["total_minor"] == 150 and [x["gtin"] for x in state["lines"]] == [gtin(MILK)]


def test_set_quantity_changes_line_and_zero_removes_it(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(CHEESE)))
    device.set_quantity(gtin(CHEESE), 3)
    assert device.state()["total_minor"] == 1200
    device.set_quantity(gtin(CHEESE), 0)
    assert device.state()["lines"] == [] and device.state()["total_minor"] == 0


def test_member_prices_and_promotions_count_as_savings(device: Handheld, scan: Scanner) -> None:
    start(device, scan, CARD)
    device.on_scan(scan(gtin(MILK)))
    for _ in range(3):
        device.on_scan(scan(gtin(BREAD)))
    state = device.state()
    assert state["total_minor"] == 120 + 200
    assert state["savings_minor"] == 30 + 100
    assert line(device, BREAD)["promotions"] == ["3 for 2"]


def test_guest_pays_shelf_price(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(MILK)))
    assert (device.state()["total_minor"], device.state()["savings_minor"], device.state()["guest"]) == (150, 0, True)


def test_weighed_label_is_its_own_line_found_by_plu(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    assert device.on_scan(scan(weight_label("10001", 1250))) is True
    assert device.on_scan(scan(weight_label("10001", 500))) is True
    lines = device.state()["lines"]
    assert [(x["gtin"], x["weight_g"], x["net_minor"], x["is_label"]) for x in lines] == [
        (gtin(APPLES), 500, 150, True), (gtin(APPLES), 1250, 375, True)]


def test_price_embedded_label_uses_the_label_price(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    assert device.on_scan(scan(price_label("10001", 349))) is True, device.state()["message"]
    (only,) = device.state()["lines"]
    assert (only["gtin"], only["net_minor"], only["is_label"]) == (gtin(APPLES), 349, True)


def test_age_restricted_item_is_added_and_flagged(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    assert device.on_scan(scan(gtin(WINE))) is True
    state = device.state()
    assert line(device, WINE)["age_check"] is True and state["staff_check_needed"] is True
    assert "will check your ID at the till" in state["message"]["text"]


@pytest.mark.parametrize("data, why", [
    (gtin(99), "not found"),                       # valid GTIN, not in the catalogue
    ("0400000000017", "Could not read"),           # bad check digit
    ("hello", "Could not read"),                   # not a barcode the shop knows
    (with_check("990000000001"), "not an item"),   # a coupon
    (gtin(APPLES), "sold by weight"),              # weighed item without its label
])
def test_unknown_or_invalid_barcode_is_a_bad_read_and_adds_nothing(device: Handheld, scan: Scanner, data: str,
                                                                   why: str) -> None:
    start(device, scan, None)
    before = device.store.pending_count()
    assert device.on_scan(scan(data)) is False
    state = device.state()
    assert state["lines"] == [] and why in state["message"]["text"]
    assert device.store.pending_count() == before


def test_item_scanned_before_the_first_price_list_asks_to_wait_not_for_staff(tmp_path: Path, barcodes: BarcodeSettings,
                                                                               scan: Scanner) -> None:
    store = LocalStore(tmp_path / "fresh")  # a device with no catalogue yet: the first download is under way
    catalogue = Catalogue(store)
    try:
        device = Handheld(store, catalogue, barcodes)
        start(device, scan, None)
        assert device.on_scan(scan(gtin(MILK))) is False
        assert "still loading" in device.state()["message"]["text"] and device.state()["lines"] == []
        catalogue.apply(catalogue_answer())
        assert device.on_scan(scan(gtin(MILK))) is True
    finally:
        catalogue.close()
        store.close()


def test_item_before_any_trip_is_refused(device: Handheld, scan: Scanner) -> None:
    assert device.on_scan(scan(gtin(MILK))) is False
    assert device.state()["status"] == "idle" and "loyalty card" in device.state()["message"]["text"]


def test_personal_offer_is_announced_and_applied(device: Handheld, scan: Scanner) -> None:
    start(device, scan, CARD)
    assert device.trip is not None
    offer = {"offer_id": 7, "product_id": CHEESE, "gtin": gtin(CHEESE), "kind": "replenish", "reward_type": "percent",
             "reward_value": 25, "valid_to": None, "description": "25% off Cheddar", "max_redemptions": 1}
    device.store.update_trip(device.trip.id, on_server=1, offers=[offer])
    device.sync_changed(False)
    device.on_scan(scan(gtin(CHEESE)))
    state = device.state()
    assert state["message"]["text"] == "Your offer applies: 25% off Cheddar. You save £1.00."
    assert state["message"]["level"] == "offer"
    assert state["total_minor"] == 300 and line(device, CHEESE)["offer_text"] == "25% off Cheddar"


def test_an_offer_that_does_not_apply_says_why(device: Handheld, scan: Scanner) -> None:
    start(device, scan, CARD)
    assert device.trip is not None
    offer = {"offer_id": 8, "product_id": MILK, "gtin": gtin(MILK), "kind": "replenish", "reward_type": "fixed",
             "reward_value": 10, "valid_to": None, "description": "10p off Milk 2L", "max_redemptions": 1}
    device.store.update_trip(device.trip.id, on_server=1, offers=[offer])
    device.sync_changed(False)
    device.on_scan(scan(gtin(MILK)))  # member price 1.20 beats 1.50 - 0.10
    assert device.state()["message"]["text"] == ("Your offer (10p off Milk 2L) does not apply: "
                                                 "your member price is already lower.")


def test_a_multibuy_one_short_says_what_one_more_saves(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(BREAD)))
    assert device.state()["message"]["text"] == 'Add 2 more for "3 for 2": save £1.00.'
    device.on_scan(scan(gtin(BREAD)))
    assert device.state()["message"]["text"] == 'Add one more for "3 for 2": save £1.00.'
    device.on_scan(scan(gtin(BREAD)))
    assert device.state()["message"] is None and device.state()["total_minor"] == 200


@pytest.mark.parametrize("action, status", [
    (lambda d: d.remove("no-such-line"), 404),
    (lambda d: d.set_quantity(gtin(CHEESE), -1), 400),
    (lambda d: d.set_quantity(gtin(CHEESE), 100), 400),
    (lambda d: d.set_quantity(gtin(CHEESE), "2"), 400),
    (lambda d: d.set_quantity(gtin(CHEESE), True), 400),
    (lambda d: d.finish(False), 400),
    (lambda d: d.start_guest(), 409),
    (lambda d: d.hand_in(), 409),
])
def test_bad_screen_actions_are_refused_and_change_nothing(device: Handheld, scan: Scanner, action: Any,
                                                           status: int) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(CHEESE)))
    before = (device.state()["lines"], device.store.pending_count())
    with pytest.raises(ActionError) as err:
        action(device)
    assert err.value.status == status and err.value.message
    assert (device.state()["lines"], device.store.pending_count()) == before


def test_label_line_quantity_cannot_change(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(weight_label("10001", 1000)))
    key = device.state()["lines"][0]["key"]
    with pytest.raises(ActionError) as err:
        device.set_quantity(key, 2)
    assert err.value.status == 409


def test_device_is_bound_until_finish_and_hand_in(device: Handheld, scan: Scanner) -> None:
    start(device, scan, CARD)
    device.on_scan(scan(gtin(MILK)))
    other = __import__("shop.numbering", fromlist=["card_number"]).card_number(2)
    assert device.on_scan(scan(other)) is False
    first = device.state()["trip_id"]
    device.finish(True)
    assert device.state()["status"] == "finished" and device.state()["finish"]["exit_code"] == first
    assert device.on_scan(scan(other)) is False and device.on_scan(scan(gtin(MILK))) is False
    device.hand_in()
    assert device.on_scan(scan(other)) is True
    assert device.state()["trip_id"] != first and device.state()["lines"] == []


def test_sequence_numbers_run_on_across_trips(device: Handheld, scan: Scanner) -> None:
    start(device, scan, None)
    device.on_scan(scan(gtin(MILK)))
    device.finish(True)
    device.hand_in()
    start(device, scan, None)
    device.on_scan(scan(gtin(MILK)))
    seqs = [r[0] for r in device.store.execute("SELECT seq FROM events ORDER BY seq").fetchall()]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 3  # scan, finish, scan


def test_state_after_restart_equals_state_before(seeded_dir: Path, barcodes: BarcodeSettings, scan: Scanner) -> None:
    store = LocalStore(seeded_dir)
    first = Handheld(store, Catalogue(store), barcodes)
    start(first, scan, CARD)
    for data in (gtin(MILK), gtin(BREAD), gtin(MILK), weight_label("10001", 700), gtin(WINE)):
        first.on_scan(scan(data))
    first.remove(gtin(WINE))
    first.set_quantity(gtin(MILK), 5)
    before = {k: v for k, v in first.state().items() if k not in ("version", "message", "pending_events")}
    store.close()
    store = LocalStore(seeded_dir)
    again = Handheld(store, Catalogue(store), barcodes)
    after = {k: v for k, v in again.state().items() if k not in ("version", "message", "pending_events")}
    store.close()
    assert after == before and after["item_count"] == 7


def test_state_is_fold_and_price_basket_of_the_log(device: Handheld, scan: Scanner) -> None:
    start(device, scan, CARD)
    for data in (gtin(BREAD), gtin(BREAD), gtin(MILK), gtin(BREAD), weight_label("10001", 333)):
        device.on_scan(scan(data))
    device.set_quantity(gtin(MILK), 2)
    assert device.trip is not None
    events = device.store.trip_events(device.trip.id)
    cat = device.catalogue
    lines = fold(events).lines
    priced = price_basket(lines, cat.prices([x.gtin for x in lines]), cat.promotions(), member=True)
    state = compute_state(device.trip, events, cat)
    assert (state["total_minor"], state["item_count"]) == (priced.total_minor, priced.item_count)
    assert [x["key"] for x in state["lines"]] == [x.key for x in lines]


def test_promotion_outside_its_window_does_not_apply(device: Handheld) -> None:
    device.catalogue.apply({"version": 2, "full": False, "products": [], "barcode_rules": [], "promotions": [
        {"id": 1, "name": "3 for 2", "kind": "n_for_m", "params": {"n": 3, "m": 2}, "product_id": BREAD,
         "category": None, "member_only": False, "starts_at": "2020-01-01T00:00:00+00:00",
         "ends_at": "2021-01-01T00:00:00+00:00", "active": True}]})
    assert device.catalogue.promotions() == [] and device.catalogue.version == 2


def test_withdrawn_product_in_a_delta_is_no_longer_found(device: Handheld) -> None:
    assert device.catalogue.product(gtin(MILK)) is not None
    device.catalogue.apply({"version": 2, "full": False, "promotions": [], "barcode_rules": [],
                            "products": [{"product_id": MILK, "gtin": gtin(MILK), "name": "Milk 2L", "category": None,
                                          "price_minor": 150, "member_price_minor": None, "sold_by_weight": False,
                                          "plu": None, "min_age": None, "active": False}]})
    assert device.catalogue.product(gtin(MILK)) is None and device.catalogue.product(gtin(BREAD)) is not None


# --- the running fold equals the whole fold ----------------------------------------------------
KEYS = [gtin(MILK), gtin(BREAD), gtin(CHEESE)]
_event = st.one_of(
    st.tuples(st.just("scan"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("label"), st.just(gtin(APPLES)), st.integers(1, 5000)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS + ["label"]), st.none()),
    st.tuples(st.just("set_quantity"), st.sampled_from(KEYS + ["label"]), st.integers(0, 5)),
    st.tuples(st.just("finish"), st.none(), st.none()),
    st.tuples(st.just("staff_void"), st.sampled_from(KEYS), st.none()),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_event, max_size=40))
def test_running_basket_equals_folding_the_whole_log(steps: list[tuple[str, Any, Any]]) -> None:
    events: list[Event] = []
    running = RunningBasket()
    labels: list[str] = []
    for seq, (kind, key, value) in enumerate(steps, start=1):
        ev_id = f"e{seq}"
        if kind == "scan":
            ev = Event(ev_id, seq, "scan", {"gtin": key})
        elif kind == "label":
            ev = Event(ev_id, seq, "scan", {"gtin": key, "weight_g": value})
            labels.append(ev_id)
        elif kind == "staff_void":  # made on the server: sorts after every device event
            ev = Event(ev_id, 1_000_000_000 + seq, "remove", {"key": key})
        else:
            target = (labels[-1] if labels else "none") if key == "label" else key
            payload = {"key": target} if kind == "remove" else {"key": target, "quantity": value}
            ev = Event(ev_id, seq, kind, payload if kind != "finish" else {})
        events.append(ev)
        got = running.add(ev)
        want = fold(events).lines
        assert [(x.key, x.gtin, x.quantity, x.weight_g, x.last_seq) for x in got] == \
               [(x.key, x.gtin, x.quantity, x.weight_g, x.last_seq) for x in want]


def test_price_info_comes_from_the_cache(device: Handheld) -> None:
    info = device.catalogue.product(gtin(MILK))
    assert info == PriceInfo(gtin(MILK), MILK, "Milk 2L", 150, 120, "GROCERY", False, None)
    assert device.catalogue.promotions()[0] == PromotionRule(1, "3 for 2", "n_for_m", {"n": 3, "m": 2}, BREAD, None,
                                                             False)


# --- what staff do on the server reaches the screen --------------------------------------------
STAFF_SEQ = 1_000_000_001  # the store server's console events sort after every device event


def _staff_void(key: str, n: int = 0) -> dict[str, Any]:
    return {"id": f"staff-{n}", "seq": STAFF_SEQ + n, "kind": "remove", "payload": {"key": key, "by": "staff"},
            "occurred_at": "2026-11-23T10:00:00+00:00"}


def test_a_staff_void_removes_the_line_says_so_and_survives_a_restart(device: Handheld, scan: Scanner,
                                                                       seeded_dir: Path,
                                                                       barcodes: BarcodeSettings) -> None:
    device.on_scan(scan(CARD))
    device.on_scan(scan(gtin(WINE)))
    device.on_scan(scan(gtin(MILK)))
    trip_id = device.state()["trip_id"]
    device.server_events_arrived(trip_id, [_staff_void(gtin(WINE))])
    device.server_events_arrived(trip_id, [_staff_void(gtin(WINE))])  # the same void again: held once
    state = device.state()
    assert [line["gtin"] for line in state["lines"]] == [gtin(MILK)] and state["total_minor"] == 120
    assert "Staff removed Red wine" in state["message"]["text"]
    again = Handheld(device.store, Catalogue(device.store), barcodes)
    assert [line["gtin"] for line in again.state()["lines"]] == [gtin(MILK)]


def test_an_item_staff_voided_cannot_be_scanned_back_and_the_basket_matches_the_servers_fold(
        device: Handheld, scan: Scanner) -> None:
    device.on_scan(scan(CARD))
    device.on_scan(scan(gtin(WINE)))
    trip_id = device.state()["trip_id"]
    device.server_events_arrived(trip_id, [_staff_void(gtin(WINE))])
    assert device.on_scan(scan(gtin(WINE))) is False
    assert "cannot be added again" in device.state()["message"]["text"]
    assert device.on_scan(scan(gtin(BREAD))) is True  # scans after the void still fold before it, as on the server
    server_view = fold([*device.events, *device.server_events]).lines
    assert [line.gtin for line in server_view] == [line["gtin"] for line in device.state()["lines"]] == [gtin(BREAD)]
    assert device.state()["pending_events"] == len(device.events)  # the staff event is never sent back


def test_staff_events_for_another_trip_or_unreadable_change_nothing(device: Handheld, scan: Scanner) -> None:
    device.on_scan(scan(CARD))
    device.on_scan(scan(gtin(MILK)))
    before = device.state()
    device.server_events_arrived("some-other-trip", [_staff_void(gtin(MILK))])
    device.server_events_arrived(before["trip_id"], [{"kind": "remove"}])
    assert device.state()["lines"] == before["lines"]


def test_a_staff_age_approval_clears_the_check_until_another_restricted_item(device: Handheld, scan: Scanner) -> None:
    device.on_scan(scan(CARD))
    device.on_scan(scan(gtin(WINE)))
    state = device.state()
    assert state["staff_check_needed"] is True
    up_to = max(e.seq for e in device.events)
    device.server_events_arrived(state["trip_id"], [{"id": "ok-1", "seq": STAFF_SEQ + 5, "kind": "age_ok",
                                                     "payload": {"up_to_seq": up_to, "by": "staff"}}])
    state = device.state()
    assert state["staff_check_needed"] is False and "Age check done" in state["message"]["text"]
    assert [line["gtin"] for line in state["lines"]] == [gtin(WINE)]  # an approval changes no line
    device.on_scan(scan(gtin(WINE)))  # more wine after the check: staff look again
    assert device.state()["staff_check_needed"] is True


def test_the_state_json_with_kept_lines_equals_a_fresh_serialisation_scan_after_scan(device: Handheld,
                                                                                      scan: Scanner) -> None:
    import json

    start(device, scan)
    steps: list[Callable[[], Any]] = [
        lambda: device.on_scan(scan(gtin(MILK))), lambda: device.on_scan(scan(gtin(BREAD))),
        lambda: device.on_scan(scan(gtin(MILK))), lambda: device.on_scan(scan(weight_label("10001", 640))),
        lambda: device.set_quantity(gtin(MILK), 5), lambda: device.on_scan(scan(gtin(WINE))),
        lambda: device.remove(gtin(BREAD)), lambda: device.on_scan(scan(gtin(BREAD))),
        lambda: device.server_events_arrived(device.state()["trip_id"], [
            {"id": "ok", "seq": STAFF_SEQ, "kind": "age_ok", "payload": {"up_to_seq": 10**6}}]),
    ]
    for step in steps:
        step()
        fresh = compute_state(device.trip, device.events, device.catalogue, lines=device.basket.lines,
                              pending=device.store.pending_count(), message=device.state()["message"],
                              version=device.state()["version"], age_ok_up_to=10**6 if step is steps[-1] else -1)
        fresh["scanner"], fresh["help"] = device.state()["scanner"], device.state()["help"]
        assert device.state_json() == json.dumps(fresh, separators=(",", ":"))
        assert json.loads(device.state_json()) == device.state()
