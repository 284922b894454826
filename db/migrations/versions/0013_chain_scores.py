"""chain scores: head office keeps the chain offers run's campaign scores and member profiles

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 08:20:00

The offers engine runs over the whole lake at head office (Dask); a campaign's audience rule
reads each member's response score for it and their lifecycle stage and value segment from
these tables, and the run's personal offers reach stores in "offers" packs.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_scores",
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("member_id", sa.Integer(), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "member_profiles",
        sa.Column("member_id", sa.Integer(), primary_key=True),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("segment", sa.String(length=8), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("member_profiles")
    op.drop_table("campaign_scores")
