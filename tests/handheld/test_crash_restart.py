"""Kill -9 at any moment and start again: the same trip with the same lines, nothing acknowledged lost."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import VirtualScanner
from handheld.catalogue import Catalogue
from handheld.state import compute_state
from handheld.store import LocalStore
from server.simulate.processes import free_port

from .conftest import CARD, CHEESE, MILK, gtin, wait_until
from .procs import HandheldProcess

SHOWN = ("trip_id", "lines", "total_minor", "savings_minor", "item_count", "status", "card_number")


def _shown(state: dict[str, Any]) -> dict[str, Any]:
    return {k: state[k] for k in SHOWN}


def _from_log(data_dir: Path) -> dict[str, Any]:
    store = LocalStore(data_dir)
    try:
        trip = store.current_trip()
        return compute_state(trip, store.trip_events(trip.id) if trip else [], Catalogue(store))
    finally:
        store.close()


def _good_reads(scanner: VirtualScanner) -> int:
    return sum(1 for kind, value in scanner.feedback if kind == "esc" and value == "7")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [3, 17])
def test_kill_9_mid_trip_restarts_with_the_same_trip(seeded_dir: Path, tmp_path: Path, kill_after: int) -> None:
    offline_server = f"http://127.0.0.1:{free_port()}"  # nobody there: the device is offline throughout
    with VirtualScanner("raw", aim=True, link=tmp_path / "scanner") as scanner:
        device = HandheldProcess(seeded_dir, str(tmp_path / "scanner"), offline_server).start()
        try:
            assert wait_until(lambda: device.state()["scanner"]["connected"])
            scanner.scan(CARD)
            assert wait_until(lambda: device.state()["status"] == "active")
            sent = 0
            for i in range(40):  # scans keep arriving while the process dies
                scanner.scan(gtin(MILK if i % 3 else CHEESE))
                sent += 1
                if i == kill_after:
                    device.kill()
            acknowledged = _good_reads(scanner) - 1  # minus the card
        finally:
            device.kill()
        logged = _from_log(seeded_dir)
        # Every scan the shopper heard a good beep for is in the log; nothing is there twice.
        assert acknowledged <= logged["item_count"] <= kill_after + 1 < sent
        again = HandheldProcess(seeded_dir, str(tmp_path / "scanner"), offline_server).start()
        try:
            assert wait_until(lambda: again.state()["scanner"]["connected"])
            assert _shown(again.state()) == _shown(logged)
            scanner.scan(gtin(CHEESE))
            assert wait_until(lambda: again.state()["item_count"] == logged["item_count"] + 1)
            assert again.state()["trip_id"] == logged["trip_id"]
        finally:
            again.kill()
