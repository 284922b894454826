"""staff actions: what console users did to live trips; a covering index for member pages

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

MEMBER_COVER = ["member_id", "purchased_at", "product_id", "purchase_id", "sales_minor", "quantity"]


def upgrade() -> None:
    op.create_table(
        "staff_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trip_id", sa.String(length=36), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trip_id"], ["trips.id"], name=op.f("fk_staff_actions_trip_id_trips")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name=op.f("fk_staff_actions_store_id_stores")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_staff_actions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_actions")),
    )
    with op.batch_alter_table("staff_actions", schema=None) as batch_op:
        batch_op.create_index("ix_staff_actions_trip", ["trip_id", "at"], unique=False)
        batch_op.create_index("ix_staff_actions_store_time", ["store_id", "at"], unique=False)
    # The member page aggregates a household's lines by product; with every column it reads in
    # the index, the scan never visits the table (on PostgreSQL each partition gets its own).
    op.create_index("ix_purchase_lines_member_cover", "purchase_lines", MEMBER_COVER, unique=False)


def downgrade() -> None:
    op.drop_index("ix_purchase_lines_member_cover", table_name="purchase_lines")
    with op.batch_alter_table("staff_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_actions_store_time")
        batch_op.drop_index("ix_staff_actions_trip")
    op.drop_table("staff_actions")
