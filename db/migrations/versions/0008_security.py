"""security: device roles (handheld or till), card-lookup failures, console sessions that end at sign-out

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:30:00

A till device checks out and audits its store's trips; a handheld acts on its own trips
only, and an audit records the till that rescanned. A device's unknown-card failures are
counted so a device walking card numbers is throttled. A console session is a row, so signing out ends it on the server too: a copied
cookie is refused afterwards.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="handheld"))
        batch.add_column(sa.Column("card_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("card_failures_since", TS, nullable=True))
    with op.batch_alter_table("audits") as batch:
        batch.add_column(sa.Column("till_device_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_audits_till_device_id_devices"), "devices", ["till_device_id"], ["id"])
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_console_sessions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_user_id"), "console_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_console_sessions_user_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
    with op.batch_alter_table("audits") as batch:
        batch.drop_constraint(op.f("fk_audits_till_device_id_devices"), type_="foreignkey")
        batch.drop_column("till_device_id")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("card_failures_since")
        batch.drop_column("card_failures")
        batch.drop_column("role")
