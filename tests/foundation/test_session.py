"""The engine factory tunes each database for the store's guarantees."""
from __future__ import annotations

from pathlib import Path

from db.session import make_engine


def test_an_answered_sqlite_commit_is_synced_to_disk(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: survives a power cut
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        eng.dispose()
