"""`shopgo backup` / `restore`: an online copy of a live SQLite database restores equal."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli.main import main
from server.store.backup import BackupError, backup, restore, table_counts


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_backup_while_writing_restores_a_consistent_equal_copy(templates: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "live.db"
    src.write_bytes(Path(templates["sqlite-imported"][len("sqlite:///"):]).read_bytes())
    stop = threading.Event()

    def writer() -> None:  # a till keeps writing while the backup runs
        conn = sqlite3.connect(src, timeout=30)
        n = 0
        while not stop.is_set() and n < 500:
            conn.execute("INSERT INTO site_state (key, value) VALUES (?, ?)", (f"k{n}", "v"))
            conn.commit()
            n += 1
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    report = backup(f"sqlite:///{src}", tmp_path / "backups")
    stop.set()
    t.join()
    assert report.tables["purchase_lines"] > 1000
    target = tmp_path / "restored.db"
    counts = restore(report.path, f"sqlite:///{target}")
    assert counts == report.tables
    copy = sqlite3.connect(report.path)
    assert table_counts(copy) == counts
    copy.close()
    assert _dump(report.path) == _dump(target)


def test_restore_refuses_a_damaged_backup(templates: dict[str, str], tmp_path: Path) -> None:
    report = backup(templates["sqlite-empty"], tmp_path / "b")
    data = bytearray(report.path.read_bytes())
    data[5000] ^= 0xFF
    report.path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="damaged"):
        restore(report.path, f"sqlite:///{tmp_path / 'r.db'}")


def test_restore_will_not_overwrite_without_force(templates: dict[str, str], tmp_path: Path) -> None:
    report = backup(templates["sqlite-empty"], tmp_path / "b")
    existing = tmp_path / "live.db"
    existing.write_bytes(b"")
    with pytest.raises(BackupError, match="--force"):
        restore(report.path, f"sqlite:///{existing}")


def test_backup_of_postgres_points_to_pg_dump() -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup("postgresql+psycopg://u:p@127.0.0.1/x", Path("/tmp/never"))


def test_cli_backup_and_restore_round_trip(templates: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["backup", "--database", templates["sqlite-imported"], "--out", str(tmp_path / "bk")])
    assert r.exit_code == 0, r.output
    made = next((tmp_path / "bk").glob("*.db"))
    r = runner.invoke(main, ["restore", str(made), "--database", f"sqlite:///{tmp_path / 'new.db'}"])
    assert r.exit_code == 0, r.output
    assert "restored" in r.output
