"""Alembic migrations go up to head and back down to base on both databases."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import inspect

from db import localpg
from db.migrate import current_revision, downgrade, head_revision, upgrade
from db.models import Base
from db.session import make_engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path, pg_server: None) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    url = localpg.create_database("shopgo_mig")
    yield url
    localpg.drop_database(url)


def test_upgrade_head_then_downgrade_base(empty_url: str) -> None:
    upgrade(empty_url)
    eng = make_engine(empty_url)
    tables = set(inspect(eng).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert current_revision(eng) == head_revision()
    eng.dispose()
    downgrade(empty_url, "base")
    eng = make_engine(empty_url)
    assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
    assert current_revision(eng) is None
    eng.dispose()


@pytest.mark.postgres
def test_postgres_history_is_partitioned_by_month(pg_server: None) -> None:
    url = localpg.create_database("shopgo_mig")
    try:
        upgrade(url)
        eng = make_engine(url)
        with eng.connect() as conn:
            kind = conn.exec_driver_sql(
                "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                "WHERE c.relname = 'purchase_lines'").scalar()
        eng.dispose()
        assert kind == "r"  # range partitioning
    finally:
        localpg.drop_database(url)
