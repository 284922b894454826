"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""
from __future__ import annotations

import os
import select
import stat
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker


class StorageLost(RuntimeError):
    """The SQLite file a connection writes to is no longer the one at the database's path."""


def _file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def sqlite_file_problem(path: str) -> str | None:
    """What is wrong with a SQLite database file for a server that writes to it, or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"the database file {path} is missing"
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK) or not os.access(os.path.dirname(path) or ".",
                                                                                  os.W_OK):
        return f"the database file {path} (or its folder) is read-only"
    return None


def keep_private(path: str | os.PathLike[str]) -> None:
    """Take group and other permissions off a file that holds members' data (a database, its WAL,
    a backup): the umask of whoever made it may have left it world-readable."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, stat.S_IMODE(mode) & 0o700)


def _guard_the_file(engine: Engine, path: str) -> None:
    """Refuse a commit when the file was deleted or replaced under the open connection: SQLite
    would write to the unlinked file and the commit would be gone at the next start."""

    @event.listens_for(engine, "connect")
    def _remember(_dbapi_conn: Any, record: Any) -> None:
        record.info["shopgo_file"] = _file_id(path)
        for part in (path, f"{path}-wal", f"{path}-shm"):
            keep_private(part)

    @event.listens_for(engine, "commit")
    def _same_file(conn: Any) -> None:
        opened = conn.connection.info.get("shopgo_file")
        if opened is not None and _file_id(path) != opened:
            conn.invalidate()  # this connection writes to a file nobody will read again
            raise StorageLost(f"the database file {path} was deleted or replaced while the server ran; "
                              "nothing was stored: restore the file (shopgo restore) and restart the server")


def make_engine(url: str, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine tuned for the database behind `url`."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, **kwargs)
        path = engine.url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            _guard_the_file(engine, os.path.abspath(path))

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the one writer. FULL syncs the log at every commit, so a
            # batch the server has answered survives a power cut (NORMAL: only a crash of the process),
            # as the handheld, which forgets an answered event, needs.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    psycopg3 = url.split("://", 1)[0].endswith("+psycopg")
    if not psycopg3:
        kwargs.setdefault("pool_pre_ping", True)  # another driver: the socket check below needs psycopg 3
    engine = create_engine(url, echo=echo, **kwargs)
    if psycopg3 and not kwargs.get("pool_pre_ping"):
        # pool_pre_ping would cost a round trip on every checkout; this check costs none.
        event.listen(engine, "checkout", _refuse_closed_connection)
    return engine


def connection_closed_by_server(dbapi_conn: Any) -> bool:
    """True when PostgreSQL has closed (or is closing) this idle psycopg connection.

    A restarted or stopping server (and pg_terminate_backend) sends an error and closes the
    socket, so an idle connection with anything to read is one the server has given up on.
    """
    if dbapi_conn.closed or dbapi_conn.pgconn.status != 0:  # 0 is CONNECTION_OK
        return True
    poller = select.poll()
    poller.register(dbapi_conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _refuse_closed_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    if connection_closed_by_server(dbapi_conn):
        # the pool discards this connection and checks out (or opens) another one
        raise exc.DisconnectionError("PostgreSQL closed this pooled connection (restart or terminate)")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
