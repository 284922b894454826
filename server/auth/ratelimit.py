"""Sign-in rate limiting per client address and per user name, on top of the account lock-out.

The lock-out in server/accounts.py stops guessing one account's password (5 failures lock
it for 15 minutes), but it does nothing against one address trying many user names, nor
against guessing names that do not exist (no row to lock), and each guess still costs a
password hash. This module counts failed sign-ins in a sliding window:

- per client address: at most ADDRESS_LIMIT failures in WINDOW;
- per user name (any address, case-insensitive): at most USERNAME_LIMIT failures in WINDOW.

Past either limit a sign-in POST is answered 429 with `Retry-After` (seconds until the
oldest counted failure leaves the window) before the password is looked at, and the
refused attempt is not counted, so waiting always helps. Successful sign-ins are not
counted: a busy till with many staff signing in never trips the limit; a success clears
the counter of that user name (not of the address, or an attacker could reset it with an
account of their own).

Scope, honestly: the counters live in the process (like the catalogue cache). That is
exact for the embedded SQLite deployment (one process). Under gunicorn with W workers each
worker counts on its own, so an address gets at most W x ADDRESS_LIMIT failures per window;
the account lock-out, which is in the database, still caps guesses at one account across
all workers. Behind a reverse proxy every client has the proxy's address unless the proxy
is trusted with werkzeug's ProxyFix; the per-address limit then applies to the proxy as a
whole, which only delays failures, never successes. Memory is bounded: at most MAX_KEYS
addresses and names are tracked, the stalest dropped first.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from server.errors import error_response

ADDRESS_LIMIT = 10
USERNAME_LIMIT = 10
WINDOW = 60.0  # seconds
MAX_KEYS = 10_000
EXTENSION = "shopgo.login_limiter"
SIGNIN_ENDPOINT = "auth.signin"


class LoginLimiter:
    """Sliding-window counts of failed sign-ins per address and per user name (thread-safe)."""

    def __init__(self, address_limit: int = ADDRESS_LIMIT, username_limit: int = USERNAME_LIMIT,
                 window: float = WINDOW, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"addr": address_limit, "user": username_limit}
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(address: str, username: str) -> list[tuple[str, str]]:
        name = username.strip().casefold()[:150]
        return [("addr", address or "?")] + ([("user", name)] if name else [])

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, address: str, username: str) -> int | None:
        """Seconds to wait before this address may try this name again, or None when allowed."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(address, username):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[-self.limits[key[0]]] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, address: str, username: str) -> None:
        """Count one failed sign-in against the address and the user name."""
        now = self.clock()
        with self._lock:
            for key in self._keys(address, username):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)  # the stalest: least recently failed

    def succeeded(self, username: str) -> None:
        """Forget the failures of a user name that has just signed in."""
        with self._lock:
            self._failures.pop(("user", username.strip().casefold()[:150]), None)

    @property
    def tracked(self) -> int:
        """How many addresses and names are being counted (bounded by max_keys)."""
        return len(self._failures)


def limiter(app: Flask | None = None) -> LoginLimiter:
    """The app's limiter (made on first use)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault(EXTENSION, LoginLimiter())  # type: ignore[no-any-return]


def _is_signin_post() -> bool:
    return request.method == "POST" and request.endpoint == SIGNIN_ENDPOINT


def _username() -> str:
    return str(request.form.get("username", ""))


def refuse_if_limited() -> Response | None:
    """before_request: a 429 with Retry-After for a sign-in POST past either limit."""
    if not _is_signin_post():
        return None
    wait = limiter().retry_after(request.remote_addr or "", _username())
    if wait is None:
        return None
    resp = error_response(429, f"Too many failed sign-ins from here or for this user name; "
                               f"wait {wait} seconds and try again.")
    resp.headers["Retry-After"] = str(wait)
    return resp


def count_outcome(response: Response) -> Response:
    """after_request: count a refused sign-in (401); clear the name's count on success (redirect)."""
    if _is_signin_post():
        if response.status_code == 401:
            limiter().failed(request.remote_addr or "", _username())
        elif response.status_code in (302, 303):
            limiter().succeeded(_username())
    return response


def init_app(app: Flask) -> None:
    """Hook the limiter around the sign-in view."""
    app.before_request(refuse_if_limited)
    app.after_request(count_outcome)
