"""The offline queue: events reach the real store server exactly once, through outages and lost answers."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import default_settings, interpret
from handheld.client import ApiClient, Offline
from handheld.runtime import HandheldConfig, HandheldRuntime
from shop.basket import fold
from tests.loopback import LoopbackServer

from .conftest import pick_products, server_trip, wait_until, weight_label


class LosesAnswers(ApiClient):
    """A client whose first `n` event batches reach the server but whose answers are lost on the way back."""

    def __init__(self, *args: Any, n: int = 2, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.left = n

    def send_events(self, trip_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        answer = super().send_events(trip_id, events)
        if self.left > 0:
            self.left -= 1
            raise Offline("answer lost on the way back")
        return answer


def _runtime(folder: Path, server: LoopbackServer, token: str) -> HandheldRuntime:
    config = HandheldConfig(data_dir=folder, server_url=server.url, token=token, scanner_port=None, http_port=0,
                            sync_interval=0.05, backoff_max=0.2)
    return HandheldRuntime(config)


@pytest.mark.slow
def test_events_reach_the_server_exactly_once_through_outage_and_lost_answers(
        store_server: tuple[LoopbackServer, str, str], tmp_path: Path) -> None:
    server, token, url = store_server
    picks = pick_products(url)
    barcodes = default_settings().barcodes
    rt = _runtime(tmp_path / "hh", server, token)
    rt.sync.client = LosesAnswers(server.url, token, n=2)
    rt.start()
    try:
        assert rt.catalogue_sync.loaded.wait(120), "catalogue never arrived"
        device = rt.handheld
        version, etag = rt.catalogue.version, rt.catalogue.etag
        assert version is not None and rt.catalogue.product(picks["plain"][0]) is not None
        again = rt.catalogue_sync.client.catalogue(version, etag)  # the timer's delta: nothing new
        assert again.status == 304 or (again.body["products"] == [] and again.body["version"] == version)
        assert device.on_scan(interpret(picks["card"], "EAN-13", barcodes))
        for gtin in picks["plain"][:3]:
            assert device.on_scan(interpret(gtin, "EAN-13", barcodes))
        assert device.on_scan(interpret(weight_label(picks["weighed_plu"], 812), "EAN-13", barcodes))
        assert wait_until(lambda: device.state()["pending_events"] == 0, 30)
        assert device.state()["member"] is not None
        server.stop()
        for gtin in picks["plain"][:2]:
            assert device.on_scan(interpret(gtin, "EAN-13", barcodes))  # scanning never waits for the network
        device.remove(picks["plain"][0])
        assert wait_until(lambda: device.state()["offline"], 10)
        assert device.state()["pending_events"] == 3
        server.start()
        assert wait_until(lambda: device.state()["pending_events"] == 0 and not device.state()["offline"], 30)
        trip_id = device.state()["trip_id"]
        local = device.store.trip_events(trip_id)
    finally:
        rt.stop()
    events, row = server_trip(url, trip_id)
    assert [e.id for e in events] == [e.id for e in local]  # each once, none lost, in device order
    assert row is not None and row[2] == len(local)
    assert fold(events).lines == fold(local).lines
