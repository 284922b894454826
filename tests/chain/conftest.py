"""Head office on loopback for the chain tests, and the store's database (imported, both backends)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.session import make_engine, make_session_factory
from server.head_office import feed
from server.head_office.compiler import add_store
from server.head_office.lake import Lake
from tests.conftest import app_config
from tests.loopback import LoopbackServer, dispose_when_idle


@dataclass
class Office:
    """Head office on loopback: its app, database, lake and the store's token."""

    server: LoopbackServer
    engine: Engine
    lake: Lake
    token: str
    app: Any

    def session(self) -> Session:
        return make_session_factory(self.engine)()

    def link(self) -> dict[str, Any]:
        with self.session() as ho:
            return next(s for s in feed.store_feeds(ho) if s["store_id"] == "S001")


@pytest.fixture
def office(templates: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    from server.app import create_app
    from server.database import engine as app_engine
    from server.head_office.signing import KEY_ENV

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "head-office.pem"))  # none yet: a test makes it when it needs it

    shutil.copy(templates["sqlite-empty"][len("sqlite:///"):], tmp_path / "ho.db")
    url = f"sqlite:///{tmp_path / 'ho.db'}"
    eng = make_engine(url)
    with make_session_factory(eng)() as ho:
        _, token = add_store(ho, "S001", "Store One")
        ho.commit()
    app = create_app(app_config(url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    server = LoopbackServer(app).start()
    yield Office(server, eng, Lake(str(tmp_path / "lake")), token, app)
    server.stop()
    dispose_when_idle(app_engine(app))
    eng.dispose()


@pytest.fixture
def store(imported_url: str) -> Iterator[Session]:
    eng = make_engine(imported_url)
    with make_session_factory(eng)() as sess:
        yield sess
    eng.dispose()
