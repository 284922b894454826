"""chain members: a trip started on a card head office could not be asked about

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 06:00:00

A store that does not know a card asks head office; when head office cannot be reached the
trip starts on the card as a guest's (`trips.pending_card`), and the store attributes its
purchase to the card's member once head office answers (server/store/chain_members.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trips") as batch:
        batch.add_column(sa.Column("pending_card", sa.String(length=14), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trips") as batch:
        batch.drop_column("pending_card")
