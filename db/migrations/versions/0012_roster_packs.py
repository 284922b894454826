"""roster packs: a pack may carry members' states and erasures instead of a campaign

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 06:10:00

Head office sends every store the members' changes other stores reported (consent, tier)
and every erasure, as signed, numbered packs like campaigns (action "roster"), so consent
and erasure are the chain's. Such a pack names no campaign.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("packs") as batch:
        batch.alter_column("campaign_id", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("campaign_version", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM packs WHERE campaign_id IS NULL")
    with op.batch_alter_table("packs") as batch:
        batch.alter_column("campaign_version", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("campaign_id", existing_type=sa.Integer(), nullable=False)
