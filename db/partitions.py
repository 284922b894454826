"""Monthly partitions of purchase_lines on PostgreSQL (no-ops on SQLite)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, text


def month_start(d: date | datetime) -> date:
    """The first day of the month containing `d`."""
    return date(d.year, d.month, 1)


def next_month(d: date) -> date:
    """The first day of the month after the one starting at `d`."""
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def partition_name(first: date) -> str:
    """The table name of the partition for the month starting at `first`."""
    return f"purchase_lines_y{first.year:04d}m{first.month:02d}"


def existing_partitions(conn: Connection) -> dict[str, date]:
    """Monthly partitions that exist now, by name, with their first day."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'purchase_lines'")).scalars()
    out: dict[str, date] = {}
    for name in rows:
        if name.startswith("purchase_lines_y"):
            out[name] = date(int(name[16:20]), int(name[21:23]), 1)
    return out


def ensure_month_partitions(conn: Connection, first: date | datetime, last: date | datetime) -> list[str]:
    """Create the monthly partitions covering first..last that are missing; return their names."""
    if conn.dialect.name != "postgresql":
        return []
    have = existing_partitions(conn)
    made: list[str] = []
    month = month_start(first)
    while month <= month_start(last):
        name = partition_name(month)
        if name not in have:
            conn.execute(text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF purchase_lines "
                f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{next_month(month).isoformat()} 00:00:00+00')"))
            made.append(name)
        month = next_month(month)
    return made
