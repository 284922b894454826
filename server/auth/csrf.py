"""CSRF protection: one random token per session, required on every state-changing form.

Small on purpose (no extra dependency): the token lives in the signed session cookie and
must come back as the form field `csrf_token` or the `X-CSRF-Token` header. The JSON API
under /api/ is exempt: handhelds authenticate with bearer tokens, which a browser never
sends on its own, so a forged cross-site request cannot use them.
"""
from __future__ import annotations

import hmac
import secrets

from flask import request, session

from server.errors import ApiError

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def csrf_token() -> str:
    """The current session's token, made on first use."""
    token = session.get(FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[FIELD] = token
    return str(token)


def rotate() -> str:
    """A fresh token, used at sign-in so a token seen before sign-in is worthless after."""
    session[FIELD] = secrets.token_urlsafe(32)
    return str(session[FIELD])


def protect() -> None:
    """Refuse an unsafe request whose token is missing or wrong (before_request hook)."""
    if request.method not in UNSAFE or request.path.startswith("/api/"):
        return
    expected = session.get(FIELD)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not hmac.compare_digest(str(expected), str(sent)):
        raise ApiError(400, "The form's security token is missing or out of date. Reload the page and try again.")
