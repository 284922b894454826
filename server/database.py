"""The database wired into Flask: one engine per app, one session per request."""
from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.migrate import current_revision, head_revision
from db.models import SiteState
from db.session import StorageLost, make_engine, make_session_factory, sqlite_file_problem
from server.config import database_url

_MAKING = threading.Lock()


def init_app(app: Flask) -> None:
    """Create the engine lazily on first use and close each request's session after it."""
    app.extensions["shopgo.db"] = {}
    app.teardown_appcontext(_close_session)
    app.register_error_handler(StorageLost, _storage_error)
    app.register_error_handler(OperationalError, _storage_error)


def engine(app: Flask | None = None) -> Engine:
    """The app's engine, created on first use (never at import or factory time)."""
    app = app or current_app
    state: dict[str, Any] = app.extensions["shopgo.db"]
    if "engine" not in state:
        with _MAKING:  # a threaded worker's first requests arrive together: one engine, not several
            if "engine" not in state:
                cfg = app.config["SHOPGO"]
                made = make_engine(database_url(cfg), echo=cfg["database"]["echo"])
                state["factory"] = make_session_factory(made)
                state["engine"] = made
    return state["engine"]


def session_factory(app: Flask | None = None) -> sessionmaker[Session]:
    """The app's session factory."""
    app = app or current_app
    engine(app)
    return app.extensions["shopgo.db"]["factory"]


def db_session() -> Session:
    """The session of the current request."""
    if "db_session" not in g:
        g.db_session = session_factory()()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    sess: Session | None = g.pop("db_session", None)
    if sess is not None:
        if exc is not None:
            sess.rollback()
        sess.close()


_PROBE_KEY = "health_probe"


def health() -> dict[str, Any]:
    """Database state for /healthz: a real write committed (not just a SELECT), the SQLite file
    present and writable, and the migration state."""
    head = head_revision()
    try:
        eng = engine()
        problem = sqlite_file_problem(eng.url.database) if eng.dialect.name == "sqlite" and eng.url.database \
            and eng.url.database != ":memory:" else None
        if problem is None:
            with eng.begin() as conn:  # the write path itself: a read alone says ok on a file deleted under it
                now = utcnow().isoformat()
                if not conn.execute(update(SiteState).where(SiteState.key == _PROBE_KEY).values(value=now)).rowcount:
                    conn.execute(insert(SiteState).values(key=_PROBE_KEY, value=now))
        current = current_revision(eng)
    except Exception as exc:  # reachability is what we report, whatever the driver raised
        return {"database": "unreachable", "error": f"{type(exc).__name__}: {exc}"[:300], "migration_head": head,
                "migration_current": None}
    if problem is not None:
        return {"database": "not writable", "error": problem, "migration_head": head, "migration_current": current}
    return {"database": "ok", "dialect": eng.dialect.name, "migration_head": head,
            "migration_current": current, "migrations_applied": current == head}


def _storage_error(exc: Exception) -> Any:
    """503 for a database that cannot take a write (file gone, read-only, server down): the
    client keeps what it sent and tries again; nothing was acknowledged."""
    from server.errors import error_response

    sess = g.get("db_session")
    if sess is not None:
        sess.rollback()
    current_app.logger.error("database cannot take writes: %s", exc)
    return error_response(503, f"The store's database cannot store anything right now ({type(exc).__name__}); "
                               "nothing was stored. Try again shortly; staff: check /healthz.")
