"""JSON over HTTP between sites, with the standard library only (stores and head office).

An answer is read with a size cap (`max_bytes`, MAX_ANSWER_BYTES unless the caller says
otherwise): at most that many bytes plus one are read, and one byte too many refuses the
answer, so a broken or hostile peer cannot fill this process's memory.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Mapping

MAX_ANSWER_BYTES = 16 * 1024 * 1024
MAX_ERROR_BYTES = 4096  # of an error answer, only the start is shown


class LinkError(RuntimeError):
    """The other site could not be reached or answered with an error; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def call(method: str, url: str, body: Mapping[str, Any] | None = None, token: str | None = None,
         timeout: float = 15.0, max_bytes: int = MAX_ANSWER_BYTES) -> dict[str, Any]:
    """Send a JSON request and return the JSON answer; LinkError on network or HTTP errors, or
    an answer that is not JSON or larger than `max_bytes`."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URLs come from config
            raw = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        detail = exc.read(MAX_ERROR_BYTES).decode(errors="replace")[:300]
        try:
            detail = json.loads(detail).get("message", detail)
        except (ValueError, AttributeError, RecursionError):
            pass
        raise LinkError(f"{method} {url}: HTTP {exc.code}: {detail}", exc.code) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise LinkError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > max_bytes:
        raise LinkError(f"{method} {url}: the answer is larger than {max_bytes} bytes; refused")
    try:
        answer = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise LinkError(f"{method} {url}: the answer is not JSON") from None
    return answer if isinstance(answer, dict) else {"data": answer}
