"""Sign-in throttling per client: failed sign-ins are counted per client address and per
(client address, user name) pair, never per account alone.

There is no lock-out of an account: a user's own sign-in is held up only by failures sent
from the address they sign in from. Someone guessing from elsewhere therefore cannot lock the
real user out (the denial of service a per-account lock-out gives away for free). Failures
are counted in a sliding window:

- per client address: at most ADDRESS_LIMIT failures in WINDOW, whatever the user names
  (one client trying one password against many names, or many names to find real ones);
- per (client address, user name), case- and space-insensitive: at most PAIR_LIMIT failures
  in WINDOW (one client guessing one account's password).

Past either limit a sign-in POST is answered 429 with `Retry-After` (seconds until the
oldest counted failure leaves the window) before the password is looked at, and the
refused attempt is not counted, so waiting always helps. Successful sign-ins are not
counted: a busy till with many staff signing in never trips the limit; a success clears
that address's count for that user name only (not the address's own count, or an attacker
could reset it with an account of their own).

What this does not stop, honestly: a guesser spread over many addresses gets PAIR_LIMIT
guesses per WINDOW at one account from each address, with no cap across addresses; the
slow password hash (scrypt), the eight-character minimum and, for unknown names, the same
hash work as for real ones (server/auth/accounts.py, so timing does not reveal which names
exist) are what is left against that. The counters live in the process (like the catalogue
cache): exact for the embedded SQLite deployment (one process); under gunicorn with W
workers each worker counts on its own, so a client gets up to W times the limits. The
address is `request.remote_addr`: behind a reverse proxy, trust the proxy's
X-Forwarded-For with werkzeug's ProxyFix, or every client shares the proxy's address and a
guesser anywhere holds up everyone's sign-in for up to WINDOW. Clients behind one NAT
(a store's tills) share an address the same way, which is why ADDRESS_LIMIT is well above
what honest typing errors reach. Memory is bounded: at most MAX_KEYS addresses and pairs
are tracked, the stalest dropped first.
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

ADDRESS_LIMIT = 20  # failures from one address, any names
PAIR_LIMIT = 5  # failures from one address at one user name
WINDOW = 300.0  # seconds
MAX_KEYS = 10_000
EXTENSION = "shopgo.login_limiter"
SIGNIN_ENDPOINT = "auth.signin"


class LoginLimiter:
    """Sliding-window counts of failed sign-ins per address and per (address, user name) (thread-safe)."""

    def __init__(self, address_limit: int = ADDRESS_LIMIT, pair_limit: int = PAIR_LIMIT,
                 window: float = WINDOW, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"addr": address_limit, "pair": pair_limit}
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _pair(address: str, username: str) -> tuple[str, str] | None:
        name = username.strip().casefold()[:150]
        return ("pair", f"{address or '?'}\n{name}") if name else None  # no address holds a newline

    def _keys(self, address: str, username: str) -> list[tuple[str, str]]:
        pair = self._pair(address, username)
        return [("addr", address or "?")] + ([pair] if pair else [])

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
        """Count one failed sign-in against the address and against the address with this user name."""
        now = self.clock()
        with self._lock:
            for key in self._keys(address, username):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)  # the stalest: least recently failed

    def succeeded(self, address: str, username: str) -> None:
        """Forget this address's failures at a user name that has just signed in from it."""
        pair = self._pair(address, username)
        if pair is not None:
            with self._lock:
                self._failures.pop(pair, None)

    @property
    def tracked(self) -> int:
        """How many addresses and pairs are being counted (bounded by max_keys)."""
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
    """before_request: a 429 with Retry-After for a sign-in POST past either of this client's limits."""
    if not _is_signin_post():
        return None
    wait = limiter().retry_after(request.remote_addr or "", _username())
    if wait is None:
        return None
    resp = error_response(429, f"Too many failed sign-ins from here; wait {wait} seconds and try again.")
    resp.headers["Retry-After"] = str(wait)
    return resp


def count_outcome(response: Response) -> Response:
    """after_request: count a refused sign-in (401); clear this address's count for the name on success."""
    if _is_signin_post():
        if response.status_code == 401:
            limiter().failed(request.remote_addr or "", _username())
        elif response.status_code in (302, 303):
            limiter().succeeded(request.remote_addr or "", _username())
    return response


def init_app(app: Flask) -> None:
    """Hook the limiter around the sign-in view."""
    app.before_request(refuse_if_limited)
    app.after_request(count_outcome)
