"""A TCP proxy on loopback between the handhelds and the store server, one port per handheld.

It runs an asyncio loop in its own thread. `cut(ports)` is a Wi-Fi dead spot for those
handhelds: their open connections are reset and new ones are accepted and reset at once,
so the handheld's client sees the network fail (not a slow server) and goes offline.
`restore(ports)` brings the network back. Other ports are untouched throughout.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, TypeVar

CHUNK = 64 * 1024
T = TypeVar("T")


@dataclass
class PortStats:
    """What one listening port carried."""

    connections: int = 0
    refused: int = 0
    reset: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class _Port:
    server: asyncio.AbstractServer
    stats: PortStats = field(default_factory=PortStats)
    cut: bool = False
    live: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class Proxy:
    """Forwards 127.0.0.1:<port> to the upstream server; ports can be cut and restored one by one."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._loop = asyncio.AbstractEventLoop()  # replaced by start(): a loop is only made when it runs
        self._thread: threading.Thread | None = None
        self._ports: dict[int, _Port] = {}
        self._started = False

    def start(self) -> Proxy:
        """Start the loop thread."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulate-proxy", daemon=True)
        self._thread.start()
        self._started = True
        return self

    def _call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run a coroutine on the proxy's loop and wait for its result."""
        if not self._started:
            raise RuntimeError("start the proxy first")
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result(30)

    def add_port(self) -> int:
        """Listen on a new loopback port (picked by the OS) and return it."""
        return self._call(self._add_port)

    def cut(self, ports: list[int]) -> None:
        """Cut these ports: reset their connections and refuse new ones until restored."""
        self._call(self._set_cut, ports, True)

    def restore(self, ports: list[int]) -> None:
        """Let these ports carry traffic again."""
        self._call(self._set_cut, ports, False)

    def is_cut(self, port: int) -> bool:
        """Whether a port is cut now."""
        return self._ports[port].cut

    def stats(self, port: int) -> PortStats:
        """The counters of one port."""
        return self._ports[port].stats

    def stop(self) -> None:
        """Close every port and connection and stop the loop thread."""
        if not self._started:
            return
        try:
            self._call(self._close_all)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop.close()
            self._started = False

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- on the loop ----------------------------------------------------------------------
    async def _add_port(self) -> int:
        holder: dict[str, _Port] = {}

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            port = holder["port"]
            task = asyncio.current_task()
            if task is not None:
                port.tasks.add(task)  # so stop() can end it rather than leave it pending
            try:
                await self._serve(port, reader, writer)
            finally:
                if task is not None:
                    port.tasks.discard(task)

        server = await asyncio.start_server(handle, self.host, 0)
        port = int(server.sockets[0].getsockname()[1])
        holder["port"] = self._ports[port] = _Port(server)
        return port

    async def _set_cut(self, ports: list[int], cut: bool) -> None:
        for number in ports:
            port = self._ports[number]
            port.cut = cut
            if cut:
                for pair in list(port.live):
                    port.stats.reset += 1
                    for w in pair:
                        w.transport.abort()
                port.live.clear()

    async def _close_all(self) -> None:
        for port in self._ports.values():
            port.server.close()
            for pair in list(port.live):
                for w in pair:
                    w.transport.abort()
            port.live.clear()
        tasks = [t for port in self._ports.values() for t in port.tasks]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for port in self._ports.values():
            await port.server.wait_closed()

    async def _serve(self, port: _Port, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if port.cut:
            port.stats.refused += 1
            writer.transport.abort()  # a reset, as a dead access point gives
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()  # the server is down: the handheld sees a refused connection
            return
        port.stats.connections += 1
        pair = (writer, up_writer)
        port.live.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer, port.stats, True),
                                 self._pump(up_reader, writer, port.stats, False))
        finally:
            port.live.discard(pair)
            for w in pair:
                w.close()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, stats: PortStats, up: bool) -> None:
        try:
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                if up:
                    stats.bytes_up += len(data)
                else:
                    stats.bytes_down += len(data)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if dst.can_write_eof() and not dst.transport.is_closing():
                    dst.write_eof()  # pass the half-close on: HTTP/1.0 clients read to EOF
            except (OSError, RuntimeError):
                pass
