"""The shopper's display: a small Flask app served on loopback by cheroot's threaded WSGI server.

Why Flask: it is already a ShopGo dependency and gives routing, JSON errors and static
files for free; a streaming response is all server-sent events need. Why cheroot (the
CherryPy project's server) and not werkzeug's development server: every scan's screen
update is one HTTP answer, and werkzeug spends about 1 ms of CPU on each where cheroot
spends about 0.3 ms (measured on this machine: GET round trip p99 5.0 ms vs 0.7 ms),
which is most of the scan-to-state budget. Each SSE stream or long poll holds one of the
pool's threads; a device has one or two clients, so the pool is small.
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, Iterator

from cheroot import wsgi
from flask import Flask, Response, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from handheld.device import CLOSED, ActionError, Handheld
from handheld.exitcode import code128_svg, qr_svg

STATIC = Path(__file__).resolve().parent / "static"
KEEPALIVE_SECONDS = 15.0


def create_display(handheld: Handheld) -> Flask:
    """The display app for one handheld."""
    app = Flask(__name__, static_folder=None)

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
                version, wait = int(after), min(float(request.args.get("wait", "10")), 60.0)
            except ValueError:
                raise ActionError(400, "after must be a state version (integer) and wait a number of seconds") from None
            body = handheld.wait_newer(version, max(wait, 0.0))
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

    @app.get("/api/exit/<kind>.svg")
    def exit_code(kind: str) -> ResponseReturnValue:
        finish = handheld.state().get("finish")
        if not finish:
            raise ActionError(404, "no exit code: the trip is not finished")
        makers = {"code128": code128_svg, "qr": qr_svg}
        if kind not in makers:
            raise ActionError(404, f"unknown code {kind!r}; use code128 or qr")
        return Response(makers[kind](finish["exit_code"]), mimetype="image/svg+xml")

    return app


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

    def __init__(self, handheld: Handheld, host: str, port: int) -> None:
        self.handheld = handheld
        self.server = wsgi.Server((host, port), create_display(handheld), numthreads=self.THREADS,
                                  server_name="shopgo-handheld", shutdown_timeout=1)
        self.server.prepare()  # binds now, so the port is known (and taken) before start()
        self.host, self.port = host, int(self.server.bind_addr[1])
        self._thread = threading.Thread(target=self.server.serve, name="handheld-display", daemon=True)

    @property
    def url(self) -> str:
        """Where the page is."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: end the streams first, so no worker thread is left waiting on one."""
        self.handheld.close_streams()
        self.server.stop()
        self._thread.join(5)
