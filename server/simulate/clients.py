"""The two HTTP clients a shopper uses: the handheld's display (loopback) and the till (store API)."""
from __future__ import annotations

import http.client
import json
import re
import threading
import time
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

Json = dict[str, Any]


class HttpJson:
    """One kept-alive connection that reconnects once after the peer closed it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 15.0) -> None:
        self.headers = headers or {}
        self.timeout = timeout
        self.base_url = ""
        self._conn: http.client.HTTPConnection | None = None
        self.retarget(base_url)

    def retarget(self, base_url: str) -> None:
        """Talk to another address from now on (a restarted handheld has a new display port)."""
        self.close()
        parts = urlsplit(base_url)
        self.host, self.port, self.base_url = parts.hostname or "127.0.0.1", parts.port or 80, base_url

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def conn(self) -> http.client.HTTPConnection:
        """The connection, made when needed."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def send(self, method: str, path: str, body: Any = None) -> None:
        """Send a request without reading the answer (read it with `answer()`)."""
        data = None if body is None else json.dumps(body).encode()
        hdrs = {**self.headers, "Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        try:
            self.conn().request(method, path, body=data, headers=hdrs)
        except (OSError, http.client.HTTPException):
            self.close()
            self.conn().request(method, path, body=data, headers=hdrs)

    def answer(self) -> tuple[int, Any]:
        """Read the answer of the request sent last: (status, JSON or text)."""
        try:
            resp = self.conn().getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request and its answer; a connection the peer had closed is retried once."""
        for attempt in (1, 2):
            try:
                self.send(method, path, body)
                return self.answer()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Display(HttpJson):
    """The handheld's display API on loopback."""

    def state(self) -> Json:
        """GET /api/state."""
        status, body = self.call("GET", "/api/state")
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"display answered {status}: {body!r}")
        return body

    def wait(self, pred: Callable[[Json], bool], timeout: float) -> Json | None:
        """The first state that satisfies `pred` (long-polling `?after=`), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        state = self.state()
        while not pred(state):
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            status, body = self.call("GET", f"/api/state?after={state['version']}&wait={min(left, 5):.2f}")
            if status == 200 and isinstance(body, dict):
                state = body
        return state

    def post(self, path: str, body: Json | None = None) -> tuple[int, Json]:
        """POST a screen action."""
        status, answer = self.call("POST", path, body or {})
        return status, answer if isinstance(answer, dict) else {"raw": answer}


class Till(HttpJson):
    """The till's side of the store API: checkout, the staff's rescan outcome and age approval."""

    def __init__(self, server_url: str, token: str, staff: tuple[str, str]) -> None:
        self.console = StaffConsole(server_url, *staff)  # first: the base class retargets (closes) at once
        super().__init__(server_url, {"Authorization": f"Bearer {token}"}, timeout=30)

    def close(self) -> None:
        """Drop the till's connection and its staff member's."""
        super().close()
        self.console.close()

    def retarget(self, base_url: str) -> None:
        """Talk to another address from now on, the staff member too."""
        super().retarget(base_url)
        self.console.retarget(base_url)

    def checkout(self, trip_id: str, findings: list[Json], deadline: float,
                 stop: threading.Event | None = None) -> tuple[Json | None, int | None, str]:
        """Check a finished trip out, doing a pending rescan and age approval first; retries through
        outages until `deadline` (or until `stop` is set).

        Returns (receipt or None, audit id or None, last error).
        """
        audit_id, error = None, ""
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            try:
                status, body = self.call("POST", f"/api/v1/trips/{trip_id}/checkout", {})
            except (OSError, http.client.HTTPException) as exc:
                status, body = 0, str(exc)
            if status == 200 and isinstance(body, dict):
                return body, audit_id, ""
            if status == 409 and isinstance(body, dict) and body.get("audit_id"):
                audit_id = int(body["audit_id"])
                try:
                    status, body = self.call("POST", f"/api/v1/audits/{audit_id}/outcome", {"findings": findings})
                except (OSError, http.client.HTTPException) as exc:
                    status, body = 0, str(exc)
                if status in (200, 409):  # 409: recorded already (our earlier answer was lost)
                    continue
            elif status == 409 and isinstance(body, dict) and body.get("age_check"):
                try:
                    status, body = self.console.approve_age(trip_id)
                except (OSError, http.client.HTTPException) as exc:
                    status, body = 0, str(exc)
                if status in (200, 409):  # 409: approved already (our earlier answer was lost)
                    continue
            error = f"{status}: {body if not isinstance(body, dict) else body.get('message')}"
            if stop is not None:
                stop.wait(0.5)  # the server is restarting or the database is: as a till, try again
            else:
                time.sleep(0.5)
        return None, audit_id, error or ("stopped" if stop is not None and stop.is_set() else "deadline passed")


class StaffConsole(HttpJson):
    """The till's staff member signed in to the console (cookie and CSRF token), for age approvals."""

    CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

    def __init__(self, server_url: str, username: str, password: str) -> None:
        super().__init__(server_url, timeout=30)
        self.username, self.password = username, password
        self.csrf = ""

    def _form(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        """A browser-like request with the session cookie; keeps any cookie the answer sets."""
        hdrs = dict(self.headers)
        data = None
        if form is not None:
            data = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn = self.conn()
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        cookie = resp.getheader("Set-Cookie")
        if cookie:
            self.headers["Cookie"] = cookie.split(";", 1)[0]
        return resp.status, text

    def sign_in(self) -> None:
        """Sign in through the real form; keep the session's CSRF token."""
        self.headers.pop("Cookie", None)
        _, page = self._form("GET", "/signin")
        found = self.CSRF.search(page)
        if not found:
            raise RuntimeError("the sign-in page carries no CSRF token")
        status, _ = self._form("POST", "/signin", {"username": self.username, "password": self.password,
                                                   "csrf_token": found.group(1)})
        if status != 302:
            raise RuntimeError(f"staff sign-in refused ({status})")
        _, page = self._form("GET", "/staff/")
        found = self.CSRF.search(page)
        self.csrf = found.group(1) if found else ""

    def approve_age(self, trip_id: str) -> tuple[int, Any]:
        """POST the trip's age approval, signing in first (and again when the session is gone)."""
        for attempt in (1, 2):
            if not self.csrf:
                self.sign_in()
            self.headers["X-CSRF-Token"] = self.csrf
            status, body = self.call("POST", f"/api/v1/trips/{trip_id}/age-approval")
            if status in (401, 403) and attempt == 1:
                self.csrf = ""
                continue
            return status, body
        raise AssertionError("unreachable")
