"""Merge the staff-console and head-office branches into one line of history.

Revision ID: 0006
Revises: 0004, 0005
Create Date: 2026-11-23 02:15:00
"""
from __future__ import annotations

revision = "0006"
down_revision = ("0004", "0005")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: both branches' tables already exist."""


def downgrade() -> None:
    """Nothing to undo: downgrading past this splits back into the two branches."""
