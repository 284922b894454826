"""Real sites on loopback for the multi-site test: `shopgo server` processes with their own env."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from server.simulate.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOPGO = [str(Path(sys.executable).parent / "shopgo")]


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """A JSON request; returns (status, decoded body) for errors too."""
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_for(check: Callable[[], Any], what: str, limit: float = 60.0) -> Any:
    """Poll until check() is truthy (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


class Site:
    """One ShopGo server process with its own configuration in SHOPGO_* variables."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "SHOPGO_SERVER_BIND": f"127.0.0.1:{self.port}",
                    "SHOPGO_SERVER_SECRET_KEY": f"secret-{name}", "PYTHONUNBUFFERED": "1"}
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Site:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([*SHOPGO, "server"], cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_for(self._healthy, f"{self.name} to answer /healthz (log: {self.log})")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
        try:
            return http("GET", f"{self.url}/healthz")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `shopgo ARGS` with this site's configuration."""
        return subprocess.run([*SHOPGO, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
