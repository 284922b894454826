"""The display answers only under its own names: a page on a name rebound to loopback (DNS
rebinding: evil.example made to resolve to 127.0.0.1) cannot read the basket or act on it."""
from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Callable, Iterator

import pytest

from firmware_bridge import Scan
from handheld.device import Handheld
from handheld.web import DisplayServer, create_display, display_origins

from .conftest import CHEESE, gtin

# Every route the display serves, reads included: the page, its assets, the state (plain and
# long-polled), the event stream and the exit codes.
READS = ["/", "/static/app.js", "/api/state", "/api/state?after=0&wait=0", "/api/stream", "/api/exit/qr.svg"]
FOREIGN_HOSTS = [
    "evil.example:8080",  # a rebound name, on the display's port
    "evil.example",
    "localhost.evil.example:8080",
    "127.0.0.1:9999",  # another port of this host
    "127.0.0.1",  # the right address, the wrong (default) port
    "10.0.0.7:8080",
]
OWN_HOSTS = ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080"]


@pytest.fixture
def client(device: Handheld, scan: Callable[[str], Scan]) -> Any:
    """A display on 127.0.0.1:8080 with a trip under way (something worth stealing)."""
    device.start_guest()
    device.on_scan(scan(gtin(CHEESE)))
    return create_display(device, display_origins("127.0.0.1", 8080)).test_client()


def assert_refused(answer: Any) -> None:
    assert answer.status_code == 403 and answer.is_json
    error = answer.get_json()
    assert (error["error"], error["status"]) == ("refused", 403) and "Host" in error["message"]
    assert gtin(CHEESE) not in answer.get_data(as_text=True)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize("path", READS)
def test_read_under_a_foreign_host_is_refused_with_403(client: Any, path: str, host: str) -> None:
    with client.get(path, base_url=f"http://{host}") as answer:
        assert_refused(answer)


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_action_under_a_foreign_host_is_refused_and_changes_nothing(client: Any, device: Handheld, host: str) -> None:
    before = device.state()
    # Headers as the rebound page itself would send them: same origin, as far as the browser knows.
    headers = {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    answer = client.post(f"/api/lines/{gtin(CHEESE)}/remove", json={}, headers=headers, base_url=f"http://{host}")
    assert_refused(answer)
    assert device.state() == before


@pytest.mark.parametrize("host", OWN_HOSTS)
def test_reads_under_the_displays_own_names_are_served(client: Any, host: str) -> None:
    answer = client.get("/api/state", base_url=f"http://{host}")
    assert answer.status_code == 200 and answer.get_json()["item_count"] == 1


def test_display_on_port_80_knows_its_names_without_the_port(device: Handheld) -> None:
    # Browsers leave the default port out of Host and Origin alike.
    client = create_display(device, display_origins("127.0.0.1", 80)).test_client()
    for host in ("127.0.0.1", "localhost", "[::1]", "127.0.0.1:80"):
        assert client.get("/api/state", base_url=f"http://{host}").status_code == 200, host
    own = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/guest", json={}, headers=own, base_url="http://localhost").status_code == 200
    assert_refused(client.get("/api/state", base_url="http://evil.example"))


def test_display_without_known_origins_answers_any_host(device: Handheld) -> None:
    # create_display(handheld) alone (tests, a display bound to every address): no Host list to check.
    client = create_display(device).test_client()
    assert client.get("/api/state", base_url="http://evil.example:8080").status_code == 200


# --- the served display, as the simulation and the benchmarks talk to it ------------------

@pytest.fixture
def served(device: Handheld) -> Iterator[DisplayServer]:
    server = DisplayServer(device, "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def get(host: str, port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_served_display_answers_a_plain_http_client_on_loopback(served: DisplayServer) -> None:
    # http.client (the simulation's and the benchmarks' client) sends Host: 127.0.0.1:<port>.
    status, state = get("127.0.0.1", served.port, "/api/state")
    assert status == 200 and state["status"] == "idle"
    status, error = get("127.0.0.1", served.port, "/api/state", {"Host": f"evil.example:{served.port}"})
    assert status == 403 and error["status"] == 403


def test_served_display_url_brackets_an_ipv6_host(device: Handheld) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = DisplayServer(device, "::1", 0)
    server.start()
    try:
        assert server.url == f"http://[::1]:{server.port}/"
        assert get("::1", server.port, "/api/state")[0] == 200  # Host: [::1]:<port>
    finally:
        server.stop()
