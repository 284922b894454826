"""The sync path's lane past Flask: `POST /api/v1/trips/<id>/events` for the usual batch.

A store server's requests are nearly all handhelds' event batches, and Flask's request
machinery (request context, routing, hooks, the Response object) cost that request about as
much CPU as its own work. This WSGI middleware answers the usual batch itself: a token this
worker has already authenticated (handheld.token_cache), a body within the size limits that
is exactly {"events": [conforming events]}, on PostgreSQL, from a client that keeps its
events until they are reported on disk (server/durability.py). It makes the same service call as
the view (ingest_pg.ingest_without_session) and sends the same answer bytes.

Every other request goes to Flask untouched (with the body it read put back), and so does a
batch that the service refuses or that needs the general path: every error answer, every
first sight of a token and every SQLite request is still the view's. Refusals write nothing,
so the view asked again gives the same answer the lane would have had to give.
"""
from __future__ import annotations

import io
import json
import re
from typing import Any, Callable, Iterable

from flask import Flask

from server.api.handheld import DeviceRef, bearer_hash, events_answer, token_cache, usual_events
from server import durability
from server.database import engine
from server.errors import ApiError
from server.ingest_pg import ingest_without_session

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_EVENTS_PATH = re.compile(r"/api/v1/trips/([^/]+)/events\Z")  # the view's route, `<trip_id>` as Flask's string


class SyncLane:
    """WSGI middleware in front of the app's own wsgi_app (installed by init_app)."""

    def __init__(self, app: Flask, flask_wsgi: WsgiApp) -> None:
        self.app = app
        self.flask_wsgi = flask_wsgi
        self._postgres: bool | None = None  # known after the first batch (the engine is made lazily)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = _EVENTS_PATH.match(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        answer = self._answer(environ, match.group(1)) if match is not None else None
        if answer is None:
            return self.flask_wsgi(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]

    def _answer(self, environ: dict[str, Any], trip_id: str) -> bytes | None:
        """The 200 answer's body for the usual batch; None to hand the request to Flask."""
        if self._postgres is None:
            self._postgres = engine(self.app).dialect.name == "postgresql"
        known = token_cache(self.app).get(bearer_hash(environ.get("HTTP_AUTHORIZATION", "")) or "")
        length = environ.get("CONTENT_LENGTH") or ""
        if not (self._postgres and known and durability.aware(environ) and length.isdigit()
                and int(length) <= self.app.config["MAX_CONTENT_LENGTH"]):
            return None
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # Flask reads it again if the lane hands the request on
        try:
            events = usual_events(json.loads(body))
        except ValueError:  # not JSON (UnicodeDecodeError included): the view says what is wrong
            return None
        if events is None or len(events) > int(self.app.config["SHOPGO"]["server"]["max_batch_events"]):
            return None
        try:
            result = ingest_without_session(engine(self.app), DeviceRef(known[0], known[1], checked=False),
                                            trip_id, events, True)
        except ApiError:  # refused, nothing written: the view answers it (and forgets a revoked token)
            return None
        return events_answer(result) if result is not None else None


def init_app(app: Flask) -> None:
    """Put the lane in front of the app's WSGI callable."""
    app.wsgi_app = SyncLane(app, app.wsgi_app)  # type: ignore[method-assign]
