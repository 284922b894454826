"""The shopper's display: a small Flask app served on loopback by cheroot's threaded WSGI server.

Why Flask: it is already a ShopGo dependency and gives routing, JSON errors and static
files for free; a streaming response is all server-sent events need. Why cheroot (the
CherryPy project's server) and not werkzeug's development server: every scan's screen
update is one HTTP answer, and werkzeug spends about 1 ms of CPU on each where cheroot
spends about 0.3 ms (measured on this machine: GET round trip p99 5.0 ms vs 0.7 ms),
which is most of the scan-to-state budget. Each SSE stream or long poll holds one of the
pool's threads; a device has one or two clients, so the pool is small.

Served on loopback, the display is still reachable by any web page the device's browser
opens, so a state-changing request is taken only from the display's own page: a JSON body
(a cross-site page cannot send one without a CORS preflight, which is never granted), and
`Sec-Fetch-Site` and `Origin`, when the browser sends them, saying it came from here.
A page on a name rebound to loopback (DNS rebinding) is same-origin to itself, so any
request, reads included, must also name the display itself in its Host header.
"""
from __future__ import annotations

import ipaddress
import math
import queue
import threading
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from cheroot import wsgi
from flask import Flask, Response, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from firmware_bridge import BarcodeSettings, interpret_frame
from handheld.device import CLOSED, ActionError, Handheld
from handheld.exitcode import qr_svg

STATIC = Path(__file__).resolve().parent / "static"
KEEPALIVE_SECONDS = 15.0
MAX_WAIT_SECONDS = 60.0  # the longest a GET /api/state?after=N waits for a change
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})  # Sec-Fetch-Site values of our own page, or typed in
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def create_display(handheld: Handheld, origins: Collection[str] | None = None, *,
                   demo: Mapping[str, Any] | None = None, barcodes: BarcodeSettings | None = None) -> Flask:
    """The display app for one handheld; `origins` are its own page's (None: the request's host).

    With `demo` (the demo's sample cards and products) the page also takes scans typed or
    clicked in the browser: each goes through the scanner's own interpretation (as a raw frame)
    into `on_scan`, as a read from the serial scanner does, so a newcomer needs no terminal."""
    app = Flask(__name__, static_folder=None)
    app.config["DISPLAY_ORIGINS"] = None if origins is None else frozenset(origins)

    @app.before_request
    def same_origin_only() -> None:
        origins = app.config["DISPLAY_ORIGINS"]
        _refuse_foreign_host(origins)
        if request.method not in SAFE_METHODS:
            _refuse_cross_site(origins)

    @app.errorhandler(ActionError)
    def action_error(exc: ActionError) -> ResponseReturnValue:
        return jsonify(error="refused", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return jsonify(error=exc.name, status=exc.code, message=exc.description), exc.code or 500

    @app.get("/")
    def index() -> ResponseReturnValue:
        return send_from_directory(STATIC, "index.html", max_age=0)

    @app.get("/static/<path:name>")
    def static_file(name: str) -> ResponseReturnValue:
        return send_from_directory(STATIC, name, max_age=0)

    @app.get("/api/state")
    def state() -> ResponseReturnValue:
        # ?after=N answers once the state is newer than version N (at most `wait` seconds):
        # a client that must see a change at once gets it without polling.
        after = request.args.get("after")
        if after is None:
            body = handheld.state_json()
        else:
            try:
                version, wait = int(after), float(request.args.get("wait", "10"))
            except ValueError:
                raise ActionError(400, "after must be a state version (integer) and wait a number of seconds") from None
            if not math.isfinite(wait):
                # nan would make the wait loop spin: no deadline ever compares as passed.
                raise ActionError(400, f"wait must be a finite number of seconds (0 to {MAX_WAIT_SECONDS:g})")
            body = handheld.wait_newer(version, min(max(wait, 0.0), MAX_WAIT_SECONDS))
        return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})

    @app.get("/api/stream")
    def stream() -> ResponseReturnValue:
        q = handheld.subscribe()
        return Response(_events(handheld, q), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/guest")
    def guest() -> ResponseReturnValue:
        return jsonify(handheld.start_guest())

    @app.post("/api/lines/<key>/remove")
    def remove(key: str) -> ResponseReturnValue:
        return jsonify(handheld.remove(key))

    @app.post("/api/lines/<key>/quantity")
    def quantity(key: str) -> ResponseReturnValue:
        return jsonify(handheld.set_quantity(key, _body().get("quantity")))

    @app.post("/api/finish")
    def finish() -> ResponseReturnValue:
        return jsonify(handheld.finish(_body().get("confirm") is True))

    @app.post("/api/hand-in")
    def hand_in() -> ResponseReturnValue:
        return jsonify(handheld.hand_in())

    @app.get("/api/exit/qr.svg")
    def exit_code() -> ResponseReturnValue:
        finish = handheld.state().get("finish")
        if not finish or finish.get("empty"):
            raise ActionError(404, "no exit code: the trip is not finished, or there is nothing to pay")
        return Response(qr_svg(finish["exit_code"]), mimetype="image/svg+xml")

    @app.get("/api/demo")
    def demo_samples() -> ResponseReturnValue:
        if demo is None:
            raise ActionError(404, "not a demo: scans come from the scanner")
        return jsonify(demo)

    @app.post("/api/demo/scan")
    def demo_scan() -> ResponseReturnValue:
        if demo is None or barcodes is None:
            raise ActionError(404, "not a demo: scans come from the scanner")
        code = _body().get("code")
        if not isinstance(code, str) or not 1 <= len(code.strip()) <= 128:
            raise ActionError(400, "send the barcode's text as code (1 to 128 characters)")
        good = handheld.on_scan(interpret_frame(code.strip().encode("latin-1", "replace"), barcodes))
        return jsonify(good=good, state=handheld.state())

    @app.post("/api/help")
    def call_staff() -> ResponseReturnValue:
        return jsonify(handheld.call_staff())

    @app.post("/api/consents")
    def consents() -> ResponseReturnValue:
        return jsonify(handheld.set_consents(_body()))

    @app.post("/api/problem")
    def problem() -> ResponseReturnValue:
        body = _body()
        return jsonify(handheld.report_problem(body.get("kind"), body.get("key"), body.get("message")))

    return app


def _refuse_foreign_host(origins: frozenset[str] | None) -> None:
    """Raise 403 unless the Host header names the display (any Host when its origins are unknown)."""
    # 403, not 421 Misdirected Request: 421 invites the client to retry on another
    # connection (RFC 9110 15.5.20), but there is no other server to find; the request
    # reached the display and is refused, as the cross-site actions are, with the same
    # JSON error. A missing Host falls back to the server's name, which is not one of them.
    if origins is not None and request.host.lower() not in _hosts(origins):
        raise ActionError(403, "request refused: its Host header does not name this display")


@lru_cache(maxsize=8)
def _hosts(origins: frozenset[str]) -> frozenset[str]:
    """The Host header values (host[:port], lower case) of the display's origins."""
    return frozenset(urlsplit(origin).netloc.lower() for origin in origins)


def _refuse_cross_site(origins: frozenset[str] | None) -> None:
    """Raise 403 unless the request can only have come from the display's own page (or no browser)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH:
        raise ActionError(403, "cross-site request refused: actions come from the display's own page")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in (origins if origins is not None else {request.host_url.rstrip("/")}):
        raise ActionError(403, "cross-origin request refused: actions come from the display's own page")
    if request.mimetype != "application/json":
        # A form or a no-cors fetch can be sent from any site without asking; JSON cannot.
        raise ActionError(403, "send the action as JSON (Content-Type: application/json)")


def display_origins(host: str, port: int) -> frozenset[str] | None:
    """The origins the display's page is served from on `host`:`port` (None when bound to every address)."""
    if host in ("", "0.0.0.0", "::"):
        return None  # reachable under any of the machine's addresses: take the request's own
    names = LOOPBACK_NAMES if host in LOOPBACK_NAMES else {host}
    return frozenset(_http_origin(name, port) for name in names)


def _http_origin(host: str, port: int) -> str:
    """The origin http://host:port as a browser writes it (no default port, IPv6 bracketed)."""
    # Browsers leave port 80 out of Origin and Host, and werkzeug's request.host drops it too.
    return f"http://{_url_host(host)}" + ("" if port == 80 else f":{port}")


def _url_host(name: str) -> str:
    try:
        return f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        return name  # a host name


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ActionError(400, "send a JSON object")
    return data


def _events(handheld: Handheld, q: queue.Queue[str]) -> Iterator[str]:
    """One SSE message per state change; states that piled up are skipped to the newest."""
    try:
        while True:
            try:
                data = q.get(timeout=KEEPALIVE_SECONDS)
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            while data != CLOSED:
                try:
                    data = q.get_nowait()
                except queue.Empty:
                    break
            if data == CLOSED:
                return
            yield f"data: {data}\n\n"
    finally:
        handheld.unsubscribe(q)


class DisplayServer:
    """The display app on a cheroot server in a background thread."""

    THREADS = 8  # screen SSE streams and long polls each hold one

    def __init__(self, handheld: Handheld, host: str, port: int, *, demo: Mapping[str, Any] | None = None,
                 barcodes: BarcodeSettings | None = None) -> None:
        self.handheld = handheld
        self.app = create_display(handheld, demo=demo, barcodes=barcodes)
        self.server = wsgi.Server((host, port), self.app, numthreads=self.THREADS,
                                  server_name="shopgo-handheld", shutdown_timeout=1)
        self.server.prepare()  # binds now, so the port is known (and taken) before start()
        self.host, self.port = host, int(self.server.bind_addr[1])
        # Known only now that the port is bound, and set before the first request is served.
        self.app.config["DISPLAY_ORIGINS"] = display_origins(self.host, self.port)
        self._thread = threading.Thread(target=self.server.serve, name="handheld-display", daemon=True)

    @property
    def url(self) -> str:
        """Where the page is."""
        # Always with the port (even 80): the benchmarks and the simulation split it out.
        return f"http://{_url_host(self.host)}:{self.port}/"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: end the streams first, so no worker thread is left waiting on one."""
        self.handheld.close_streams()
        self.server.stop()
        self._thread.join(5)
