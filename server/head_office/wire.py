"""JSON over HTTP between sites, with the standard library only (stores and head office)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Mapping


class LinkError(RuntimeError):
    """The other site could not be reached or answered with an error; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def call(method: str, url: str, body: Mapping[str, Any] | None = None, token: str | None = None,
         timeout: float = 15.0) -> dict[str, Any]:
    """Send a JSON request and return the JSON answer; LinkError on network or HTTP errors."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URLs come from config
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        try:
            detail = json.loads(detail).get("message", detail)
        except ValueError:
            pass
        raise LinkError(f"{method} {url}: HTTP {exc.code}: {detail}", exc.code) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise LinkError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None
    try:
        answer = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise LinkError(f"{method} {url}: the answer is not JSON") from None
    return answer if isinstance(answer, dict) else {"data": answer}
