"""The display's HTTP API: state as JSON, screen actions, exit codes; bad input is a 4xx that changes nothing."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from firmware_bridge import Scan
from handheld.device import Handheld
from handheld.web import create_display

from .conftest import CARD, CHEESE, MILK, gtin


@pytest.fixture
def client(device: Handheld) -> Any:
    return create_display(device).test_client()


def test_state_json_has_what_the_screen_shows(client: Any, device: Handheld, scan: Callable[[str], Scan]) -> None:
    device.on_scan(scan(CARD))
    device.on_scan(scan(gtin(MILK)))
    state = client.get("/api/state").get_json()
    for key in ("member", "trip_id", "lines", "total_minor", "savings_minor", "item_count", "offline",
                "pending_events", "offers"):
        assert key in state
    assert (state["item_count"], state["total_minor"], state["pending_events"]) == (1, 120, 1)


def test_page_and_assets_are_served_without_network_resources(client: Any) -> None:
    texts = {}
    for path in ("/", "/static/app.js", "/static/style.css"):
        with client.get(path) as answer:
            assert answer.status_code == 200
            texts[path] = answer.get_data(as_text=True)
    assert "/static/app.js" in texts["/"] and "EventSource" in texts["/static/app.js"]
    assert not any("http://" in t or "https://" in t for t in texts.values())


@pytest.mark.parametrize("path, body, status, message", [
    (f"/api/lines/{gtin(CHEESE)}/quantity", {"quantity": "two"}, 400, "whole number"),
    (f"/api/lines/{gtin(CHEESE)}/quantity", {"quantity": 1000}, 400, "whole number"),
    (f"/api/lines/{gtin(CHEESE)}/quantity", ["not", "an", "object"], 400, "JSON object"),
    ("/api/lines/nope/remove", {}, 404, "no line"),
    ("/api/finish", {"confirm": "yes"}, 400, "did you scan everything"),
    ("/api/guest", {}, 409, "already running"),
    ("/api/hand-in", {}, 409, "finish the trip"),
])
def test_bad_requests_get_a_4xx_with_a_message(client: Any, device: Handheld, scan: Callable[[str], Scan], path: str,
                                                body: Any, status: int, message: str) -> None:
    device.start_guest()
    device.on_scan(scan(gtin(CHEESE)))
    before = device.state()["lines"], device.store.pending_count()
    answer = client.post(path, json=body)
    assert answer.status_code == status and message in answer.get_json()["message"]
    assert (device.state()["lines"], device.store.pending_count()) == before


def test_actions_over_http_change_the_basket(client: Any, device: Handheld, scan: Callable[[str], Scan]) -> None:
    assert client.post("/api/guest", json={}).status_code == 200
    device.on_scan(scan(gtin(CHEESE)))
    assert client.post(f"/api/lines/{gtin(CHEESE)}/quantity", json={"quantity": 4}).get_json()["total_minor"] == 1600
    assert client.post(f"/api/lines/{gtin(CHEESE)}/remove", json={}).get_json()["lines"] == []


def test_the_exit_qr_code_exists_only_after_finish(client: Any, device: Handheld, scan: Callable[[str], Scan]) -> None:
    device.start_guest()
    device.on_scan(scan(gtin(CHEESE)))
    assert client.get("/api/exit/qr.svg").status_code == 404
    client.post("/api/finish", json={"confirm": True})
    trip_id = device.state()["trip_id"]
    svg = client.get("/api/exit/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get("/api/exit/code128.svg").status_code == 404  # one code: the QR the till reads in one go
    assert device.state()["finish"]["exit_code"] == trip_id and device.state()["finish"]["empty"] is False


def test_an_empty_trip_has_nothing_to_pay_and_no_exit_code(client: Any, device: Handheld) -> None:
    device.start_guest()
    state = client.post("/api/finish", json={"confirm": True}).get_json()
    assert state["finish"]["empty"] is True and "nothing to pay" in state["message"]["text"]
    assert client.get("/api/exit/qr.svg").status_code == 404
    assert client.post("/api/hand-in", json={}).get_json()["status"] == "idle"


def test_call_staff_and_report_a_problem_are_logged_for_the_server(client: Any, device: Handheld,
                                                                   scan: Callable[[str], Scan]) -> None:
    device.start_guest()
    device.on_scan(scan(gtin(CHEESE)))
    state = client.post("/api/help", json={}).get_json()
    assert state["help"] is True and "on the way" in state["message"]["text"]
    assert "already" in client.post("/api/help", json={}).get_json()["message"]["text"]  # one call is enough
    assert client.post("/api/problem", json={"kind": "broken"}).status_code == 400
    assert client.post("/api/problem", json={"kind": "damaged", "key": "nope"}).status_code == 404
    state = client.post("/api/problem", json={"kind": "damaged", "key": gtin(CHEESE), "message": "torn pack"}).get_json()
    assert "report" in state["message"]["text"]
    logged = [(e.kind, dict(e.payload)) for e in device.events if e.kind in ("help", "feedback")]
    assert logged == [("help", {}), ("feedback", {"kind": "damaged", "message": "torn pack", "gtin": gtin(CHEESE)})]
    device.server_events_arrived(state["trip_id"], [{"id": "00000000-0000-4000-8000-000000000001",
                                                     "seq": 1_000_000_001, "kind": "help_done",
                                                     "payload": {"up_to_seq": 10}, "occurred_at": "2026-12-04T10:00:00+00:00"}])
    assert device.state()["help"] is False and "answered" in device.state()["message"]["text"]


def test_stream_sends_the_current_state_first(client: Any, device: Handheld) -> None:
    answer = client.get("/api/stream", buffered=False)
    assert answer.mimetype == "text/event-stream"
    first = next(answer.response)
    answer.close()
    assert (first.decode() if isinstance(first, bytes) else first).startswith('data: {"version"')


@pytest.mark.parametrize("query", ["after=x", "after=1&wait=soon"])
def test_state_after_refuses_bad_numbers(client: Any, query: str) -> None:
    answer = client.get(f"/api/state?{query}")
    assert answer.status_code == 400 and "after must be" in answer.get_json()["message"]


@pytest.fixture
def waits(device: Handheld, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The timeouts GET /api/state?after= hands to the device's wait (which answers at once here)."""
    seen: list[float] = []

    def wait_newer(version: int, timeout: float) -> str:
        seen.append(timeout)
        return device.state_json()

    monkeypatch.setattr(device, "wait_newer", wait_newer)
    return seen


@pytest.mark.parametrize("wait", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999"])
def test_state_after_refuses_a_wait_that_is_not_a_finite_number(client: Any, waits: list[float], wait: str) -> None:
    # nan would make the wait loop spin on the CPU: no deadline compares as passed.
    answer = client.get(f"/api/state?after=0&wait={wait}")
    assert answer.status_code == 400 and answer.is_json
    assert "wait must be a finite number of seconds" in answer.get_json()["message"]
    assert waits == []


@pytest.mark.parametrize(("wait", "timeout"), [("-5", 0.0), ("-0", 0.0), ("-1e999", None), ("0", 0.0),
                                                ("2.5", 2.5), ("60", 60.0), ("61", 60.0), ("1e9", 60.0)])
def test_state_after_keeps_the_wait_between_0_and_60_seconds(client: Any, waits: list[float], wait: str,
                                                             timeout: float | None) -> None:
    answer = client.get(f"/api/state?after=0&wait={wait}")
    assert answer.status_code == (400 if timeout is None else 200)
    assert waits == ([] if timeout is None else [timeout])


def test_state_after_a_version_answers_with_a_newer_state(client: Any, device: Handheld,
                                                          scan: Callable[[str], Scan]) -> None:
    device.start_guest()
    version = device.state()["version"]
    device.on_scan(scan(gtin(MILK)))
    newer = client.get(f"/api/state?after={version}&wait=5").get_json()
    assert newer["version"] > version and newer["item_count"] == 1
    same = client.get(f"/api/state?after={newer['version']}&wait=0").get_json()
    assert same["version"] == newer["version"]


def test_display_server_streams_a_scan_and_ends_open_streams_when_stopped(
        device: Handheld, scan: Callable[[str], Scan]) -> None:
    import http.client
    import threading

    from handheld.web import DisplayServer

    display = DisplayServer(device, "127.0.0.1", 0)
    display.start()
    stopper = threading.Thread(target=display.stop)
    conn = http.client.HTTPConnection("127.0.0.1", display.port, timeout=10)
    try:
        conn.request("GET", "/api/stream")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader("Content-Type", "").startswith("text/event-stream")
        assert answer.readline().startswith(b"data: ")  # the current state at once
        device.on_scan(scan(CARD))
        while not (line := answer.readline()).startswith(b"data: "):
            assert line, "the stream ended before the scan arrived"
        assert b'"status":"active"' in line
        stopper.start()
        rest = answer.read()  # returns only when the server ends the stream (the socket timeout would raise)
        stopper.join(10)
        assert not stopper.is_alive() and b"data:" not in rest
    finally:
        conn.close()
        if stopper.ident is None:
            display.stop()


def test_a_member_changes_their_choices_on_the_handheld(client: Any, device: Handheld,
                                                        scan: Callable[[str], Scan]) -> None:
    device.on_scan(scan(CARD))
    assert device.trip is not None
    member = {"id": 1, "name": "Ann", "tier": "gold", "points": 10, "email_known": False,
              "consents": {"personal_offers": True, "email_receipts": False, "marketing": False}}
    device.store.update_trip(device.trip.id, on_server=1, member=member)
    device.sync_changed(False)
    assert client.post("/api/consents", json={"email_receipts": True}).status_code == 409  # no address held
    assert client.post("/api/consents", json={"dance": True}).status_code == 400
    state = client.post("/api/consents", json={"personal_offers": False, "marketing": False}).get_json()
    assert "no personal offers from your next trip" in state["message"]["text"]
    assert state["member"]["consents"]["personal_offers"] is False
    logged = [dict(e.payload) for e in device.events if e.kind == "consent"]
    assert logged == [{"purpose": "personal_offers", "given": False}]  # only what changed


def test_a_guest_has_no_choices_to_change(client: Any, device: Handheld) -> None:
    device.start_guest()
    assert client.post("/api/consents", json={"marketing": True}).status_code == 409


def test_the_demo_page_takes_scans_from_the_browser(device: Handheld) -> None:
    from firmware_bridge import default_settings

    plain = create_display(device).test_client()
    assert plain.get("/api/demo").status_code == 404  # a real handheld scans with its scanner only
    assert plain.post("/api/demo/scan", json={"code": gtin(MILK)}).status_code == 404
    samples = {"cards": [CARD], "products": [[gtin(MILK), "Milk 2L"]]}
    demo = create_display(device, demo=samples, barcodes=default_settings().barcodes).test_client()
    assert demo.get("/api/demo").get_json() == samples
    assert demo.post("/api/demo/scan", json={"code": ""}).status_code == 400
    answer = demo.post("/api/demo/scan", json={"code": CARD}).get_json()
    assert answer["good"] is True and answer["state"]["status"] == "active"
    answer = demo.post("/api/demo/scan", json={"code": gtin(MILK)}).get_json()
    assert answer["good"] is True and [line["name"] for line in answer["state"]["lines"]] == ["Milk 2L"]
    bad = demo.post("/api/demo/scan", json={"code": gtin(99)}).get_json()  # a good barcode, not sold here
    assert bad["good"] is False and "not found" in bad["state"]["message"]["text"]
