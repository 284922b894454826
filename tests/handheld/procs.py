"""Helpers that run `shopgo handheld` as a real process and talk to its display over HTTP."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class HandheldProcess:
    """`shopgo handheld` in a subprocess; `kill()` is SIGKILL, as a flat battery would be."""

    def __init__(self, data_dir: Path, scanner: str | None, server_url: str, token: str = "test-token",
                 protocol: str = "raw", profile: str = "honeywell") -> None:
        self.args = [sys.executable, "-m", "handheld", "--data-dir", str(data_dir),
                     "--server", server_url, "--http", "127.0.0.1:0", "--backoff-max", "0.3"]
        self.token = token
        self.args += ["--scanner", scanner, "--protocol", protocol, "--profile", profile] if scanner else ["--no-scanner"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> HandheldProcess:
        env = {**os.environ, "SHOPGO_HANDHELD_SYNC_INTERVAL_SECONDS": "0.05", "PYTHONUNBUFFERED": "1",
               "SHOPGO_HANDHELD_TOKEN": self.token}
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert self.proc.stdout is not None
        end = time.monotonic() + timeout
        line = b""
        while time.monotonic() < end and b"\n" not in line:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        text = line.decode()
        if "handheld display on " not in text:
            self.kill()
            raise RuntimeError(f"handheld did not start: {text!r}")
        self.url = text.split("handheld display on ", 1)[1].split()[0].rstrip("/")
        return self

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/api/state", timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
