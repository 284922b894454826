"""one sync path: the sync epoch table goes (every event batch commits synchronously)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00

Event batches are answered only after an ordinary synchronous commit, so nothing answered
can be lost in a crash and the unlogged table that marked crashes for the handhelds is no
longer needed. PostgreSQL only, as its creation was.
"""
from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS sync_epoch")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE UNLOGGED TABLE sync_epoch (id integer PRIMARY KEY CHECK (id = 1), epoch text NOT NULL)")
