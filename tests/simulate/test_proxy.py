"""The simulation's TCP proxy: forwards, cuts one handheld's network and restores it, leaves the others alone."""
from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from server.simulate.proxy import Proxy


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: ThreadingHTTPServer) -> Iterator[Proxy]:
    with Proxy("127.0.0.1", upstream.server_address[1]) as p:
        yield p


def get(port: int, path: str = "/x", conn: http.client.HTTPConnection | None = None) -> str:
    """GET through the proxy (on a kept-alive connection when one is given)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    except BaseException:
        conn.close()
        raise
    finally:
        if own:
            conn.close()


def test_proxy_forwards_requests_and_counts_bytes(proxy: Proxy) -> None:
    port = proxy.add_port()
    assert get(port, "/trips") == "hello /trips"
    stats = proxy.stats(port)
    assert stats.connections == 1 and stats.bytes_up > 0 and stats.bytes_down > 0


def test_cut_refuses_new_connections_and_restore_lets_them_through(proxy: Proxy) -> None:
    port = proxy.add_port()
    proxy.cut([port])
    assert proxy.is_cut(port)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        get(port)
    assert proxy.stats(port).refused == 1
    proxy.restore([port])
    assert get(port) == "hello /x"


def test_cut_resets_a_kept_alive_connection(proxy: Proxy) -> None:
    port = proxy.add_port()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    assert get(port, "/a", conn) == "hello /a"
    proxy.cut([port])
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        get(port, "/b", conn)
    assert proxy.stats(port).reset == 1
    conn.close()


def test_cutting_one_port_leaves_the_others_working(proxy: Proxy) -> None:
    cut, kept = proxy.add_port(), proxy.add_port()
    proxy.cut([cut])
    assert get(kept, "/still") == "hello /still"
    assert not proxy.is_cut(kept)


def test_server_down_behind_the_proxy_looks_like_a_refused_connection() -> None:
    from server.simulate.processes import free_port

    with Proxy("127.0.0.1", free_port()) as p:
        port = p.add_port()
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            get(port)


def test_proxy_must_be_started_first() -> None:
    with pytest.raises(RuntimeError, match="start the proxy first"):
        Proxy("127.0.0.1", 9).add_port()
