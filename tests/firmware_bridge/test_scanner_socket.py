"""A scanner behind a serial-to-network adapter: the bridge opened from a socket:// URL."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from firmware_bridge import ScannerBridge


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    yield server
    server.close()


def test_socket_url_scanner_reconnects_after_adapter_drops(listener: socket.socket,
                                                           make_bridge: Callable[..., ScannerBridge],
                                                           recorder: Any, wait: Any) -> None:
    port = listener.getsockname()[1]
    bridge = make_bridge(f"socket://127.0.0.1:{port}", "raw", recorder)
    conn, _ = listener.accept()
    assert bridge.wait_connected(5)  # pyserial's open flushes what arrives before it returns
    conn.sendall(b"5901234123457\r4006")
    assert recorder.wait(1) == ["5901234123457"]
    conn.close()  # the adapter drops the link mid-frame
    assert wait(lambda: any("gone" in s for s in recorder.statuses))
    conn, _ = listener.accept()  # the bridge dials again by itself
    assert wait(lambda: bridge.connects == 2 and bridge.connected)
    conn.sendall(b"4006381333931\r")
    assert recorder.wait(2) == ["5901234123457", "4006381333931"]
    assert bridge.connects == 2
    conn.close()
