"""chain feed: the store's outbox, and what head office holds of each store's feed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 05:00:00

Every fact head office needs is written to `outbox` in the same transaction as the fact and
shipped in numbered batches (server/store/chain_feed.py); head office keeps, per store link,
the newest batch it applied and the store's backlog then (server/head_office/feed.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
FEED_NUMBERS = ("feed_seq", "feed_facts", "feed_lines", "feed_backlog_facts", "feed_backlog_lines")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("batch_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_batch", "outbox", ["batch_seq"])
    # Self-scan purchases from here on reach the outbox at checkout; those before it (and every
    # imported one) are the history `shopgo chain backfill` sends.
    op.execute("INSERT INTO site_state (key, value) SELECT 'chain_backfill_selfscan_upto', "
               "CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) FROM purchases")
    with op.batch_alter_table("store_links") as batch:
        for name in FEED_NUMBERS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("feed_caught_up_at", TS, nullable=True))
        batch.add_column(sa.Column("feed_at", TS, nullable=True))
        batch.add_column(sa.Column("feed_error", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("store_links") as batch:
        for name in ("feed_error", "feed_at", "feed_caught_up_at", *reversed(FEED_NUMBERS)):
            batch.drop_column(name)
    op.execute("DELETE FROM site_state WHERE key IN ('chain_backfill_selfscan_upto', 'chain_feed_seq', "
               "'chain_backfill_member_id', 'chain_backfill_purchase_id')")
    op.drop_index("ix_outbox_batch", table_name="outbox")
    op.drop_table("outbox")
