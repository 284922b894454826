"""Files that hold members' data are private to the server's user (0600), whatever the umask.

Before: the SQLite database, its WAL and every backup were 0644, readable by every user of
the machine.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from db.session import make_engine
from server.store.backup import backup, restore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _world_readable_copy(templates: dict[str, str], tmp_path: Path) -> Path:
    db = tmp_path / "store.db"
    db.write_bytes(Path(templates["sqlite-empty"][len("sqlite:///"):]).read_bytes())
    os.chmod(db, 0o644)
    return db


def test_the_database_and_its_wal_are_made_private_when_the_server_opens_them(templates: dict[str, str],
                                                                             tmp_path: Path) -> None:
    db = _world_readable_copy(templates, tmp_path)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (x integer)"))
        with engine.connect() as conn:  # a second connection sees the WAL the first one made
            conn.execute(text("SELECT 1"))
        engine.dispose()
        engine = make_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM probe"))
            for part in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                if part.exists():
                    assert _mode(part) == 0o600, part
    finally:
        engine.dispose()
    assert _mode(db) == 0o600


def test_backups_and_restored_databases_are_private(templates: dict[str, str], tmp_path: Path) -> None:
    db = _world_readable_copy(templates, tmp_path)
    old = os.umask(0o022)
    try:
        report = backup(f"sqlite:///{db}", tmp_path / "backups")
        assert _mode(report.path) == 0o600
        assert _mode(report.path.with_suffix(".db.json")) == 0o600
        restored = tmp_path / "restored" / "store.db"
        restore(report.path, f"sqlite:///{restored}")
        assert _mode(restored) == 0o600
    finally:
        os.umask(old)
