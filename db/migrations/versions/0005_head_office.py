"""head office: campaign versions, store links, signed packs, audiences, results

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23 13:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_versions_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_versions")),
        sa.UniqueConstraint("campaign_id", "version", name=op.f("uq_campaign_versions_campaign_id_version")),
    )
    op.create_table(
        "store_links",
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("url", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("acked_seq", sa.Integer(), nullable=False),
        sa.Column("last_ack_status", sa.String(length=16), nullable=False),
        sa.Column("last_ack_reason", sa.Text(), nullable=False),
        sa.Column("last_contact_at", TS, nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_store_links_token_hash")),
    )
    op.create_table(
        "packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("campaign_version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("acked_status", sa.String(length=16), nullable=False),
        sa.Column("acked_reason", sa.Text(), nullable=False),
        sa.Column("acked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["store_id"], ["store_links.store_id"], name=op.f("fk_packs_store_id_store_links")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_packs_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packs")),
        sa.UniqueConstraint("store_id", "seq", name=op.f("uq_packs_store_id_seq")),
    )
    op.create_table(
        "campaign_audience",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("grp", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_audience_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_audience")),
        sa.UniqueConstraint("campaign_id", "store_id", "member_id",
                            name=op.f("uq_campaign_audience_campaign_id_store_id_member_id")),
    )
    op.create_table(
        "store_packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("campaign_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("offers_written", sa.Integer(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("acked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_packs")),
    )
    op.create_table(
        "result_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_batches")),
    )
    op.create_table(
        "campaign_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("spend_minor", sa.Integer(), nullable=False),
        sa.Column("discount_minor", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["result_batches.id"], name=op.f("fk_campaign_results_batch_id_result_batches")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_results_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_results")),
        sa.UniqueConstraint("store_id", "kind", "ref", "campaign_id",
                            name=op.f("uq_campaign_results_store_id_kind_ref_campaign_id")),
    )
    with op.batch_alter_table("store_packs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_store_packs_seq"), ["seq"], unique=False)
    with op.batch_alter_table("packs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_packs_campaign_id"), ["campaign_id"], unique=False)
    with op.batch_alter_table("result_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_result_batches_store_id"), ["store_id"], unique=False)
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_audience_store", ["campaign_id", "store_id", "grp"], unique=False)
    with op.batch_alter_table("campaign_results", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_results_campaign", ["campaign_id", "store_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaign_results", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_results_campaign")
    with op.batch_alter_table("campaign_audience", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_audience_store")
    with op.batch_alter_table("result_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_batches_store_id"))
    with op.batch_alter_table("packs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packs_campaign_id"))
    with op.batch_alter_table("store_packs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_store_packs_seq"))
    for table in ("campaign_results", "result_batches", "store_packs", "campaign_audience", "packs",
                  "store_links", "campaign_versions"):
        op.drop_table(table)
