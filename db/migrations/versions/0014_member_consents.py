"""member consents: each purpose a member agrees to (or withdraws), with time and wording version

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 11:15:00

A member gives or withdraws consent per purpose (personal offers, e-mail receipts, marketing);
every change is a row in member_consents (who recorded it, where, under which wording), and the
member row keeps the current answer of each purpose for the services that read it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("consent_email_receipts", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("consent_marketing", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "member_consents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("wording_version", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_member_consents_member", "member_consents", ["member_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_member_consents_member", table_name="member_consents")
    op.drop_table("member_consents")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("consent_marketing")
        batch.drop_column("consent_email_receipts")
