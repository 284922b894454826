"""Virtual scanner (pty) -> bridge -> `shopgo handheld` process -> the real store server on loopback, through
a server outage and a kill -9 of the handheld: the server's copy of the trip equals the handheld's."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge import VirtualScanner
from handheld.store import LocalStore
from shop.basket import fold
from tests.loopback import LoopbackServer

from .conftest import pick_products, server_trip, wait_until, weight_label
from .procs import HandheldProcess


@pytest.mark.slow
def test_trip_survives_outage_and_kill_and_server_copy_equals_handheld(
        store_server: tuple[LoopbackServer, str, str], tmp_path: Path) -> None:
    server, token, url = store_server
    picks = pick_products(url)
    a, b, c, d = picks["plain"][:4]
    data_dir, link = tmp_path / "hh", str(tmp_path / "scanner")
    with VirtualScanner("raw", aim=True, link=link) as scanner:
        hh = HandheldProcess(data_dir, link, server.url, token).start()
        try:
            assert wait_until(lambda: hh.state()["catalogue_version"] is not None and hh.state()["scanner"]["connected"],
                              120)
            scanner.scan(picks["card"])
            assert wait_until(lambda: (hh.state()["member"] or {}).get("card_number") == picks["card"], 30)
            for code in (a, b, a, c, weight_label(picks["weighed_plu"], 640), picks["aged"]):
                scanner.scan(code)
            assert wait_until(lambda: hh.state()["item_count"] == 6)
            assert hh.post(f"/api/lines/{b}/remove")[0] == 200
            assert hh.post(f"/api/lines/{a}/quantity", {"quantity": 3})[0] == 200
            assert wait_until(lambda: hh.state()["pending_events"] == 0, 30)
            server.stop()  # the network goes
            for code in (d, c):
                scanner.scan(code)
            assert wait_until(lambda: hh.state()["offline"] and hh.state()["pending_events"] == 2, 15)
            before = hh.state()
            assert before["item_count"] == 3 + 2 + 1 + 1 + 1
        finally:
            hh.kill()  # and the battery
        hh = HandheldProcess(data_dir, link, server.url, token).start()
        try:
            after = hh.state()
            for key in ("trip_id", "lines", "total_minor", "item_count", "savings_minor"):
                assert after[key] == before[key], key
            server.start()  # the network comes back
            assert wait_until(lambda: hh.state()["pending_events"] == 0 and not hh.state()["offline"], 30)
            code, answer = hh.post("/api/finish", {"confirm": True})
            assert code == 200 and answer["status"] == "finished"
            finished = wait_until(lambda: (hh.state()["finish"] or {}).get("confirmed_by_server") and hh.state(), 30)
            assert finished and finished["finish"]["exit_code"] == before["trip_id"]
            assert finished["finish"]["audit"] is True  # a member's first self-scan trip is always audited
            trip_id, total = finished["trip_id"], finished["total_minor"]
        finally:
            hh.stop()
    store = LocalStore(data_dir)
    local = store.trip_events(trip_id)
    store.close()
    events, row = server_trip(url, trip_id)
    assert [(e.id, e.seq, e.kind) for e in events] == [(e.id, e.seq, e.kind) for e in local]
    assert fold(events).lines == fold(local).lines and fold(events).finished
    assert row == ("finished", total, len(local))
