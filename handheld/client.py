"""A small JSON client for the store server's handheld API (server/api/HANDHELD_API.md).

stdlib `http.client` with one kept-alive connection per client: a handheld talks to
one server, and reusing the connection keeps each sync round trip short.
"""
from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit


class Offline(Exception):
    """The server could not be reached or answered 5xx: try again later."""


class Refused(Exception):
    """The server answered 4xx: retrying the same request will not help."""

    def __init__(self, status: int, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = dict(body or {})  # the whole error answer (fields beside the message)


@dataclass(frozen=True)
class Answer:
    """A 2xx (or 304) answer."""

    status: int
    body: Any
    headers: Mapping[str, str]


class ApiClient:
    """Calls /api/v1 with the device token; raises Offline or Refused."""

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"server URL must be http(s)://HOST[:PORT], not {base_url!r}")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        """Drop the kept-alive connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Answer:
        """One call; JSON in and out."""
        hdrs = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self.prefix + path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                self.close()
                # A kept-alive connection the server closed fails once; a fresh one tells the truth.
                if attempt == 2 or isinstance(exc, (ConnectionRefusedError, socket.timeout)):
                    raise Offline(f"{method} {path}: {exc or type(exc).__name__}") from None
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        parsed: Any = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw.decode("utf-8", "replace")
        if resp.status >= 500:
            raise Offline(f"{method} {path}: server error {resp.status}")
        if resp.status >= 400:
            message = parsed.get("message", "") if isinstance(parsed, dict) else str(parsed)[:200]
            raise Refused(resp.status, message, parsed if isinstance(parsed, dict) else None)
        return Answer(resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()})

    # --- the calls the handheld makes -------------------------------------------------------
    def catalogue(self, since: int | None, etag: str | None) -> Answer:
        """GET /catalogue (delta when `since`); 304 when nothing changed."""
        path = "/api/v1/catalogue" + (f"?since={since}" if since is not None else "")
        return self.request("GET", path, headers={"If-None-Match": etag} if etag else None)

    def create_trip(self, trip_id: str, card_number: str | None, started_at: str) -> dict[str, Any]:
        """POST /trips: the member and their offers."""
        return self.request("POST", "/api/v1/trips", {"trip_id": trip_id, "card_number": card_number,
                                                      "started_at": started_at}).body

    def send_events(self, trip_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /trips/<id>/events: which were stored and which were duplicates."""
        return self.request("POST", f"/api/v1/trips/{trip_id}/events", {"events": events}).body

    def staff_events(self, trip_id: str, after: int) -> list[dict[str, Any]]:
        """GET /trips/<id>/staff-events: what the store did to the trip (a void, an age check) after `after`."""
        return list(self.request("GET", f"/api/v1/trips/{trip_id}/staff-events?after={after}").body["staff_events"])

    def finish(self, trip_id: str, handheld_total_minor: int, event_count: int) -> dict[str, Any]:
        """POST /trips/<id>/finish: whether a rescan audit is needed."""
        body = {"handheld_total_minor": handheld_total_minor, "event_count": event_count}
        return self.request("POST", f"/api/v1/trips/{trip_id}/finish", body).body
