"""The database wired into Flask: one engine per app, one session per request."""
from __future__ import annotations

import threading
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import current_revision, head_revision
from db.session import make_engine, make_session_factory
from server.config import database_url


_MAKING = threading.Lock()


def init_app(app: Flask) -> None:
    """Create the engine lazily on first use and close each request's session after it."""
    app.extensions["shopgo.db"] = {}
    app.teardown_appcontext(_close_session)


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


def health() -> dict[str, Any]:
    """Database reachability and migration state, for /healthz."""
    head = head_revision()
    try:
        eng = engine()
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = current_revision(eng)
    except Exception as exc:  # reachability is what we report, whatever the driver raised
        return {"database": "unreachable", "error": type(exc).__name__, "migration_head": head, "migration_current": None}
    return {"database": "ok", "dialect": eng.dialect.name, "migration_head": head,
            "migration_current": current, "migrations_applied": current == head}
