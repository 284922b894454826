"""One way to answer errors: JSON for API clients, a small HTML page for browsers."""
from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template_string, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{{ status }} {{ title }}</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3rem"><h1>{{ status }} {{ title }}</h1><p>{{ message }}</p>
<p><a href="/">Back to the start page</a></p></body></html>"""


class ApiError(Exception):
    """A client error with a status and a message that says what was wrong."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def wants_json() -> bool:
    """True when the client prefers JSON (API paths, or an Accept header asking for it)."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def error_response(status: int, message: str, **extra: object) -> Response:
    """The one error answer: JSON or HTML by the Accept header."""
    titles = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
              409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable entity",
              429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
    title = titles.get(status, "Error")
    if wants_json():
        resp = jsonify({"error": title.lower(), "status": status, "message": message, **extra})
    else:
        resp = Response(render_template_string(PAGE, status=status, title=title, message=message), mimetype="text/html")
    resp.status_code = status
    return resp


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        resp = error_response(exc.code or 500, exc.description or "")
        # The exception's own headers (a 405's Allow, a 401's WWW-Authenticate), not its
        # Content-Type: the body is ours.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        sess = g.get("db_session")
        if sess is not None:
            sess.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on the server; it has been logged. Try again, "
                                   "and tell the store's IT if it keeps happening.")
