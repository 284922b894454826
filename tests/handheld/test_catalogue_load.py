"""A catalogue download never holds up scanning, and one cut short leaves the old catalogue whole."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from firmware_bridge import Scan
from handheld import catalogue as catalogue_module
from handheld.device import Handheld

from .conftest import CARD, MILK, catalogue_answer, gtin


def _dearer(version: int) -> dict[str, Any]:
    """The same catalogue with every price up by 10 (and a new version)."""
    answer = catalogue_answer(version)
    answer["products"] = [{**p, "price_minor": p["price_minor"] + 10,
                           "member_price_minor": None} for p in answer["products"]]
    return answer


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue_module, "LOAD_CHUNK", 1)


def _products(device: Handheld) -> int:
    return len(device.catalogue._reader.execute("SELECT gtin FROM products"))


def test_a_scan_during_a_full_load_is_not_held_and_sees_the_old_prices(
        device: Handheld, scan: Callable[[str], Scan]) -> None:
    device.on_scan(scan(CARD))
    totals: list[int] = []

    def scan_from_another_thread(done: int, total: int) -> None:
        if done == 1:  # inside the download's transaction: one product written
            worker = threading.Thread(target=lambda: totals.append(
                device.on_scan(scan(gtin(MILK))) and device.state()["total_minor"]))
            worker.start()
            worker.join(10)
            assert not worker.is_alive(), "the scan waited for the catalogue load"

    before = device.state()["total_minor"]
    device.catalogue.apply(_dearer(2), progress=scan_from_another_thread)
    assert totals and totals[0] > before  # the scan went through during the load, at the old member price
    assert device.catalogue.version == 2
    assert device.catalogue.product(gtin(MILK)).price_minor == 160  # after the swap: the new price


def test_a_full_load_cut_short_keeps_the_old_catalogue_and_the_next_load_succeeds(device: Handheld) -> None:
    def crash(done: int, total: int) -> None:
        if done == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        device.catalogue.apply(_dearer(2), progress=crash)
    assert device.catalogue.version == 1
    assert device.catalogue.product(gtin(MILK)).price_minor == 150
    count = _products(device)
    assert count == len(catalogue_answer()["products"])
    device.catalogue.apply(_dearer(3))
    assert device.catalogue.version == 3 and device.catalogue.product(gtin(MILK)).price_minor == 160
    assert _products(device) == count


def test_a_data_folder_from_before_the_split_keeps_its_trip_and_downloads_the_catalogue_again(tmp_path: Path) -> None:
    from handheld.catalogue import Catalogue
    from handheld.store import SCHEMA_VERSION, LocalStore

    store = LocalStore(tmp_path)
    trip = store.start_trip(None)
    store.append(trip.id, "scan", {"gtin": gtin(MILK)})
    # schema version 1: the catalogue in the same file, no server events yet
    store.execute("DROP TABLE server_events")
    store.execute("CREATE TABLE products (gtin TEXT PRIMARY KEY, product_id INTEGER NOT NULL)")
    store.execute("CREATE TABLE promotions (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    store.execute("CREATE TABLE barcode_rules (name TEXT PRIMARY KEY, body TEXT NOT NULL)")
    store.set_meta("catalogue_version", "7")
    store.execute("PRAGMA user_version = 1")
    store.close()

    again = LocalStore(tmp_path)
    assert [e.payload["gtin"] for e in again.trip_events(trip.id)] == [gtin(MILK)]
    tables = {r[0] for r in again.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    assert not tables & {"products", "promotions", "barcode_rules"} and "server_events" in tables
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION and again.meta("catalogue_version") is None
    catalogue = Catalogue(again)
    assert catalogue.version is None  # the catalogue worker downloads it in full
    catalogue.close()
    again.close()


def test_a_version_3_file_sends_again_what_waited_for_the_servers_flush(tmp_path: Path) -> None:
    from handheld.store import SCHEMA_VERSION, LocalStore

    store = LocalStore(tmp_path)
    trip = store.start_trip(None)
    on_disk, waiting = (store.append(trip.id, "scan", {"gtin": gtin(MILK)}) for _ in range(2))
    # schema version 3: acknowledged events waited (sent = 3) until the server reported its flush
    store.execute("ALTER TABLE events ADD COLUMN wal_bound INTEGER")
    store.execute("UPDATE events SET sent = 1 WHERE id = ?", (on_disk.id,))
    store.execute("UPDATE events SET sent = 3, wal_bound = 42 WHERE id = ?", (waiting.id,))
    store.set_meta("server_epoch", "E1")
    store.execute("PRAGMA user_version = 3")
    store.close()

    again = LocalStore(tmp_path)
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [e.id for e in again.unsent(10)] == [waiting.id]  # the server stores it once, by its id
    columns = {r[1] for r in again.execute("PRAGMA table_info(events)").fetchall()}
    assert "wal_bound" not in columns and again.meta("server_epoch") is None
