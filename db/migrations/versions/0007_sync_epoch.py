"""sync epoch: an unlogged one-row table whose loss marks a PostgreSQL crash

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 22:00:00

Event batches on the sync path commit without waiting for the WAL flush; a handheld keeps
each batch until the server reports it flushed (server/durability.py). A crash loses the
commits not yet flushed, and crash recovery empties every unlogged table, so a new epoch
in this table tells a handheld to send again whatever it had not seen reported flushed.
A clean shutdown flushes everything first and keeps the table. PostgreSQL only: SQLite
commits each batch before answering.
"""
from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE UNLOGGED TABLE sync_epoch (id integer PRIMARY KEY CHECK (id = 1), epoch text NOT NULL)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE sync_epoch")
