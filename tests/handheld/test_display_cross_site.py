"""The display's actions are taken only from its own page: another site's page, open in the
device's browser, cannot start, change or finish a trip (a form, a no-cors fetch, a JSON
fetch from another origin or from a name rebound to loopback)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from firmware_bridge import Scan
from handheld.device import Handheld
from handheld.web import create_display

from .conftest import CHEESE, gtin

EVIL = "http://evil.example"
# Each action with a body it would succeed with on a device prepared by `prepare`.
ACTIONS = [
    ("/api/guest", {}),
    (f"/api/lines/{gtin(CHEESE)}/remove", {}),
    (f"/api/lines/{gtin(CHEESE)}/quantity", {"quantity": 3}),
    ("/api/finish", {"confirm": True}),
    ("/api/hand-in", {}),
]
# What a browser sends when another site's page posts to the display (and what older
# browsers, or other tools, may leave out).
ATTACKS = {
    "form from another site": dict(content_type="application/x-www-form-urlencoded", data="confirm=true",
                                   headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
    "multipart form": dict(content_type="multipart/form-data; boundary=x", data="--x--\r\n",
                           headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
    "no-cors fetch of text": dict(content_type="text/plain", data='{"confirm": true, "quantity": 3}',
                                  headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}),
    "text without fetch metadata": dict(content_type="text/plain;charset=UTF-8", data='{"confirm": true}', headers={}),
    "no content type": dict(data='{"confirm": true}', headers={}),
    "JSON marked cross-site": dict(json={"confirm": True, "quantity": 3}, headers={"Sec-Fetch-Site": "cross-site"}),
    "JSON from another port of this host": dict(json={"confirm": True, "quantity": 3},
                                               headers={"Origin": "http://localhost:9999", "Sec-Fetch-Site": "same-site"}),
    "JSON with a foreign origin only": dict(json={"confirm": True, "quantity": 3}, headers={"Origin": EVIL}),
    "JSON from a sandboxed frame": dict(json={"confirm": True, "quantity": 3}, headers={"Origin": "null"}),
}


@pytest.fixture
def client(device: Handheld) -> Any:
    return create_display(device).test_client()


def prepare(device: Handheld, scan: Callable[[str], Scan], path: str) -> None:
    """Put the device where `path` would succeed: idle for a guest start, finished for hand-in."""
    if path == "/api/guest":
        return
    device.start_guest()
    device.on_scan(scan(gtin(CHEESE)))
    if path == "/api/hand-in":
        device.finish(True)


def snapshot(device: Handheld) -> tuple[Any, ...]:
    state = device.state()
    return state["version"], state["status"], state["lines"], device.store.pending_count()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize(("path", "body"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_cross_site_action_is_refused_with_403_and_changes_nothing(client: Any, device: Handheld,
                                                                   scan: Callable[[str], Scan], path: str,
                                                                   body: dict[str, Any], attack: str) -> None:
    prepare(device, scan, path)
    before = snapshot(device)
    answer = client.post(path, **ATTACKS[attack])
    assert answer.status_code == 403 and answer.is_json
    error = answer.get_json()
    assert (error["error"], error["status"]) == ("refused", 403)
    assert "request refused" in error["message"] or "send the action as JSON" in error["message"]
    assert snapshot(device) == before


@pytest.mark.parametrize(("path", "body"), ACTIONS, ids=[a[0] for a in ACTIONS])
@pytest.mark.parametrize("headers", [
    {},  # not a browser: the simulation, the benchmarks, curl
    {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},  # the display's own page
    {"Sec-Fetch-Site": "none"},  # the user's own doing (typed into the browser)
], ids=["no browser", "own page", "user"])
def test_action_from_the_own_page_or_no_browser_is_taken(client: Any, device: Handheld, scan: Callable[[str], Scan],
                                                         path: str, body: dict[str, Any],
                                                         headers: dict[str, str]) -> None:
    prepare(device, scan, path)
    before = snapshot(device)
    answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert snapshot(device) != before


def test_json_with_a_charset_is_json(client: Any, device: Handheld) -> None:
    answer = client.post("/api/guest", data="{}", content_type="application/json; charset=utf-8")
    assert answer.status_code == 200 and device.state()["status"] == "active"


def test_served_display_takes_only_its_own_origin_not_a_name_rebound_to_it(device: Handheld) -> None:
    # DNS rebinding: evil.example made to resolve to 127.0.0.1 is same-origin to itself, and its
    # Host header matches its Origin; only the display's own origins are taken.
    from handheld.web import display_origins

    client = create_display(device, display_origins("127.0.0.1", 8080)).test_client()
    rebound = {"Origin": "http://evil.example:8080", "Sec-Fetch-Site": "same-origin"}
    answer = client.post("/api/guest", json={}, headers=rebound, base_url="http://evil.example:8080")
    assert answer.status_code == 403 and device.state()["status"] == "idle"
    own = {"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/guest", json={}, headers=own, base_url="http://127.0.0.1:8080").status_code == 200


@pytest.mark.parametrize(("host", "origins"), [
    ("127.0.0.1", {"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"}),
    ("localhost", {"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"}),
    ("192.168.1.20", {"http://192.168.1.20:8080"}),
    ("fe80::1", {"http://[fe80::1]:8080"}),
    ("0.0.0.0", None),
])
def test_display_origins_are_those_its_page_is_served_from(host: str, origins: set[str] | None) -> None:
    from handheld.web import display_origins

    assert display_origins(host, 8080) == (None if origins is None else frozenset(origins))
