"""The store's processes: gunicorn, the scheduler and the handhelds, each in its own process group.

Every child is started with `start_new_session=True` so one `killpg` ends it and whatever
it forked (gunicorn's workers); `Children.close()` kills every group still alive and is
called from a `finally`, so Ctrl-C or an error never leaves a process behind.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from firmware_bridge.virtual import VirtualScanner
from handheld.catalogue import IMAGE_FILES


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shopgo_command() -> list[str]:
    """How to run `shopgo` with this interpreter."""
    exe = Path(sys.executable).parent / "shopgo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli.main"]


def rss_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB, from /proc; (0, 0) when it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.endswith("kB")}
    return values.get("Rss", 0), values.get("Pss", 0)


class Children:
    """Every process the simulation started; `close()` kills what is left."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, stdout and stderr appended to `log`."""
        out: IO[bytes] = open(log, "ab")
        try:
            proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            out.close()
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """SIGKILL every child's group that is still alive and reap it."""
        for proc in self.procs:
            kill_group(proc, signal.SIGKILL)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()


def kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` to the child's process group (its own session)."""
    if proc.poll() is not None:
        try:
            os.killpg(proc.pid, sig)  # the leader is gone; its workers may not be
        except (ProcessLookupError, PermissionError):
            pass
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_http(url: str, seconds: float) -> bool:
    """True once `url` answers (any status below 500).

    Each try waits up to 15 s: a server working through a fleet's backlog answers late,
    and a short timeout would only queue more probes behind the same backlog.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=min(15.0, max(1.0, deadline - time.monotonic()))) as resp:
                if resp.status < 500:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


class StoreServer:
    """gunicorn server.wsgi:app on a fixed loopback port, with an access log, restartable."""

    def __init__(self, children: Children, env: dict[str, str], folder: Path, workers: int = 3) -> None:
        self.children, self.env, self.folder, self.workers = children, env, folder, workers
        self.port = free_port()
        self.access_log = folder / "access.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        """Start gunicorn and wait for /healthz."""
        gunicorn = Path(sys.executable).parent / "gunicorn"
        # --preload: the app is imported once in the master and forked, so a restart is not three imports
        # of the whole app competing for two cores.
        args = [str(gunicorn) if gunicorn.exists() else "gunicorn", "server.wsgi:app", "--preload", "--no-control-socket",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), "--worker-class", "gthread", "--threads", "4",  # as README's run
                "--timeout", "30", "--graceful-timeout", "5",
                "--access-logfile", str(self.access_log),
                # epoch-free but parseable: [time] status "request" duration_us
                "--access-logformat", '%(t)s %(s)s "%(m)s %(U)s" %(D)s']
        self.proc = self.children.spawn(args, self.env, self.folder / "gunicorn.log")
        # /api/v1/ping, not /healthz: the health check loads the migration scripts (~0.3 s a call).
        if not wait_http(self.url + "/api/v1/ping", timeout):
            raise RuntimeError(f"the store server did not come up; see {self.folder / 'gunicorn.log'}")

    def stop(self) -> None:
        """Stop gunicorn as an operator would (SIGTERM: workers finish their request), then make sure."""
        if self.proc is None:
            return
        kill_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(10)
        kill_group(self.proc, signal.SIGKILL)  # a worker that outlived its master

    def restart(self) -> None:
        """Stop and start again on the same port (a fleet catching up may keep /healthz waiting a while)."""
        self.stop()
        self.start(timeout=180)
        self.restarts += 1


class HandheldProc:
    """One `python -m handheld` process with its own virtual scanner (pty) and data dir."""

    def __init__(self, index: int, children: Children, env: dict[str, str], folder: Path, token: str,
                 server_url: str, image: Path, backoff_max: float) -> None:
        self.index, self.children, self.env, self.folder = index, children, env, folder
        self.token, self.server_url, self.backoff_max = token, server_url, backoff_max
        folder.mkdir(parents=True, exist_ok=True)
        for name in IMAGE_FILES:
            shutil.copyfile(image / name, folder / name)
        self.scanner = VirtualScanner("raw", link=folder / "scanner")
        self.scanner.open()
        self.log = folder / "handheld.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def spawn(self) -> None:
        """Start the process (do not wait)."""
        self._log_size = self.log.stat().st_size if self.log.exists() else 0
        args = [sys.executable, "-m", "handheld", "--scanner", str(self.scanner.path), "--protocol", "raw",
                "--server", self.server_url, "--data-dir", str(self.folder),
                "--http", "127.0.0.1:0", "--backoff-max", f"{self.backoff_max:g}"]
        # The token goes in the environment, not on the command line that `ps` shows everyone.
        self.proc = self.children.spawn(args, {**self.env, "SHOPGO_HANDHELD_TOKEN": self.token}, self.log)
        self.starts += 1

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the process printed its display URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                f.seek(self._log_size)
                text = f.read().decode(errors="replace")
            if "handheld display on " in text:
                self.url = text.split("handheld display on ", 1)[1].split()[0].rstrip("/")
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"handheld {self.index} exited ({self.proc.returncode}); see {self.log}")
            time.sleep(0.1)
        raise RuntimeError(f"handheld {self.index} did not start in {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as a flat battery."""
        if self.proc is not None:
            kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not go."""
        if self.proc is None:
            return
        kill_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def memory(self) -> tuple[int, int]:
        """(RSS, PSS) in KiB."""
        return rss_kib(self.proc.pid) if self.proc is not None and self.proc.poll() is None else (0, 0)

    def close(self) -> None:
        """Stop the process and unplug the scanner for good."""
        self.stop()
        self.scanner.close()
