"""Online, consistent backups of the embedded SQLite database, and their restore.

SQLite's own backup API copies a live database page by page under a read transaction,
so writers carry on and the copy is a consistent snapshot. PostgreSQL sites use
pg_dump / pg_basebackup instead; `backup` says so rather than pretend.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from db.session import keep_private

PAGES_PER_STEP = 1024


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says what to do."""


@dataclass(frozen=True)
class BackupReport:
    """Where a backup went and what it holds."""

    path: Path
    bytes: int
    tables: dict[str, int]
    sha256: str


def sqlite_path(url: str) -> Path:
    """The file behind an SQLite URL; other databases are refused with advice."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        raise BackupError(f"{url.split('://')[0]} database: use pg_dump (or pg_basebackup) for PostgreSQL backups; "
                          "`shopgo backup` covers the embedded SQLite database")
    return Path(url[len("sqlite:///"):])


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Row counts of every table, to compare a backup with its source."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def backup(url: str, out: Path, progress: Callable[[int, int], None] | None = None) -> BackupReport:
    """Copy the live database at `url` to `out` (a file or a folder) and check the copy."""
    src_path = sqlite_path(url)
    if not src_path.exists():
        raise BackupError(f"no database at {src_path}; run `shopgo db upgrade` first")
    if out.is_dir() or not out.suffix:
        out.mkdir(parents=True, exist_ok=True)
        out = out / f"shopgo-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.db"
    tmp = out.with_suffix(out.suffix + ".partial")
    tmp.unlink(missing_ok=True)
    tmp.touch(mode=0o600)  # a copy of every member's data: private from the first byte (SQLite takes an empty file)
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=PAGES_PER_STEP,
                   progress=(lambda status, remaining, total: progress(total - remaining, total)) if progress else None)
        dst.execute("PRAGMA journal_mode=DELETE")
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the copy failed its integrity check; the source may be damaged")
        counts = table_counts(dst)
    finally:
        src.close()
        dst.close()
    tmp.replace(out)
    report = BackupReport(out, out.stat().st_size, counts, _digest(out))
    meta = out.with_suffix(out.suffix + ".json")
    meta.write_text(json.dumps(
        {"source": str(src_path), "made_at": datetime.now(timezone.utc).isoformat(), "bytes": report.bytes,
         "sha256": report.sha256, "tables": counts}, indent=2))
    keep_private(out)
    keep_private(meta)
    return report


def restore(backup_file: Path, url: str, force: bool = False) -> dict[str, int]:
    """Replace the database at `url` with a backup (checked first); return its table counts."""
    dst_path = sqlite_path(url)
    if not backup_file.exists():
        raise BackupError(f"no backup at {backup_file}")
    meta = backup_file.with_suffix(backup_file.suffix + ".json")
    if meta.exists() and json.loads(meta.read_text())["sha256"] != _digest(backup_file):
        raise BackupError(f"{backup_file} does not match its checksum in {meta.name}; it is damaged")
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{backup_file} failed its integrity check")
        if dst_path.exists() and not force:
            raise BackupError(f"{dst_path} exists; stop the servers and pass --force to replace it")
        dst_path.parent.mkdir(parents=True, exist_ok=True)
        if not dst_path.exists():
            dst_path.touch(mode=0o600)
        keep_private(dst_path)
        dst = sqlite3.connect(dst_path, timeout=30)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            counts = table_counts(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return counts
