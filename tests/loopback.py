"""A Flask app served on loopback in a thread, and stopped without stranding a database connection.

A request still running when its server stops holds a pooled connection. If the test then
disposes the app's engine, that connection is checked back in to a pool nobody will close,
and when the garbage collector gets to it psycopg warns that an open connection was deleted:
a failure under `-W error`, in whichever later test the collector happens to run (CI saw it
in the head-office campaign tests). So stop() is a real outage: it closes the connections
clients keep alive too (a handheld's sync client does), then waits for every request
thread; and dispose_when_idle() checks that no connection is still out before it disposes.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any

from sqlalchemy import Engine


class LoopbackServer:
    """`app` on 127.0.0.1 (a free port unless given one), one thread per request; restartable on the same port."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app, self.port = app, port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LoopbackServer":
        from werkzeug.serving import make_server

        server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        # Werkzeug's request threads are daemons, which server_close() does not wait for.
        server.daemon_threads = False
        accept = server.get_request

        def get_request() -> tuple[socket.socket, Any]:
            client, address = accept()
            with self._lock:
                self._clients = {c for c in self._clients if c.fileno() != -1} | {client}
            return client, address

        server.get_request = get_request
        self._server, self.port = server, server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, hang up on every client, and wait for the requests in flight to finish."""
        if self._server is None:
            return
        self._server.shutdown()
        with self._lock:
            clients, self._clients = self._clients, set()
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)  # a kept-alive connection's thread reads EOF and ends
            except OSError:
                pass  # already closed by its request thread
        self._server.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None


def dispose_when_idle(engine: Engine, timeout: float = 30.0) -> None:
    """Dispose `engine` once none of its pooled connections is checked out (fail if one stays out).

    Head office's store notifications run in threads of their own after the request that
    started them has answered, so they are waited for first."""
    from server.head_office.notify import wait_for_notifications

    wait_for_notifications()
    checked_out = getattr(engine.pool, "checkedout", lambda: 0)
    deadline = time.monotonic() + timeout
    while checked_out() and time.monotonic() < deadline:
        time.sleep(0.01)
    held = checked_out()
    engine.dispose()
    assert held == 0, f"{held} database connection(s) still checked out {timeout:.0f} s after the server stopped"
