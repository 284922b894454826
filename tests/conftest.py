"""Shared fixtures: databases of both kinds (SQLite and a real PostgreSQL 15), apps, clients, and the
till's peripherals on loopback: a network receipt printer and an SMTP server (aiosmtpd)."""
from __future__ import annotations

import shutil
import socket
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db import localpg
from db.migrate import upgrade
from db.session import make_engine, make_session_factory

SMALL_HOUSEHOLDS = 12
_counts: Counter[str] = Counter()

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


def _pg_clone(template_url: str) -> str:
    """A new PostgreSQL database copied from a template: one CREATE DATABASE ... TEMPLATE, about 0.07 s."""
    template = template_url.rsplit("/", 1)[1]
    name = f"shopgo_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(localpg.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{template_url.rsplit('/', 1)[0]}/{name}"


@pytest.fixture(scope="session")
def pg_server() -> None:
    """The machine's PostgreSQL server, started if it is down; fails loudly if it cannot be."""
    try:
        localpg.ensure_server()
    except localpg.PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is required for the test suite and could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, pg_server: None) -> Iterator[dict[str, str]]:
    """Migrated empty databases and small imported ones, made once and cloned per test."""
    from server.importer.completejourney import import_completejourney

    base = tmp_path_factory.mktemp("templates")
    out: dict[str, str] = {}
    made_pg: list[str] = []
    for kind in ("empty", "imported"):
        sqlite_file = base / f"{kind}.db"
        out[f"sqlite-{kind}"] = f"sqlite:///{sqlite_file}"
        pg_url = localpg.create_database("shopgo_tpl")
        made_pg.append(pg_url)
        out[f"postgresql-{kind}"] = pg_url
        for url in (out[f"sqlite-{kind}"], pg_url):
            upgrade(url)
            if kind == "imported":
                eng = make_engine(url)
                import_completejourney(eng, store_id="S001", store_name="Test Store", households=SMALL_HOUSEHOLDS)
                eng.dispose()
        eng = make_engine(out[f"sqlite-{kind}"])
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        eng.dispose()
    yield out
    for url in made_pg:
        localpg.drop_database(url)


def _database(kind: str, contents: str, templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    template = templates[f"{kind}-{contents}"]
    if kind == "sqlite":
        target = tmp_path / f"shopgo-{contents}.db"
        shutil.copy(template[len("sqlite:///"):], target)
        yield f"sqlite:///{target}"
        return
    url = _pg_clone(template)
    yield url
    localpg.drop_database(url)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database of each kind."""
    yield from _database(request.param, "empty", templates, tmp_path)


@pytest.fixture(params=BACKENDS)
def imported_url(request: pytest.FixtureRequest, templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A database of each kind holding a small slice of the Complete Journey."""
    yield from _database(request.param, "imported", templates, tmp_path)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as sess:
        yield sess


def app_config(url: str, tmp_path: Path, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Overrides that point an app at a test database and keep its files in tmp_path."""
    cfg: dict[str, dict[str, Any]] = {"database": {"url": url}, "server": {"secret_key": "test-secret"},
                                      "site": {"store_id": "S001", "store_name": "Test Store"},
                                      "chain": {"lake": str(tmp_path / "lake")}}
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


@pytest.fixture
def app(imported_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from server.app import create_app

    application = create_app(app_config(imported_url, tmp_path))
    application.config["TESTING"] = True
    yield application
    from server.database import engine as app_engine

    app_engine(application).dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        backend = "postgresql" if "[postgresql" in report.nodeid or "postgres" in report.keywords else "other"
        _counts[f"{backend}-{report.outcome}"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"PostgreSQL tests: {_counts['postgresql-passed']} passed, {_counts['postgresql-failed']} failed "
        f"(against a real PostgreSQL server); other tests: {_counts['other-passed']} passed, "
        f"{_counts['other-failed']} failed")


@pytest.fixture
def network_printer() -> Iterator[tuple[int, list[bytes], threading.Thread]]:
    """A receipt printer's raw port (9100-style) on loopback that keeps what it is sent: (port, chunks, thread)."""
    server = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        while True:  # every connection: the sender checks it is reachable first, then prints
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while chunk := conn.recv(65536):
                    got.append(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], got, thread
    server.close()


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts: (port, messages)."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    got: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append(message_from_bytes(envelope.original_content, policy=policy.default))
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, got
    controller.stop()
