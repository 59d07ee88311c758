"""Change records: one row per change, pinned to the plan it approves.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

Written by hand, portable to PostgreSQL; names follow ``patchwarden.store.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("requester", sa.String(), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_hash"], ["plans.hash"], name="fk_changes_plan_hash_plans"),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
    )
    op.create_index("ix_changes_plan_hash", "changes", ["plan_hash"])
    op.create_index("ix_changes_campaign", "changes", ["campaign"])


def downgrade() -> None:
    op.drop_index("ix_changes_campaign", table_name="changes")
    op.drop_index("ix_changes_plan_hash", table_name="changes")
    op.drop_table("changes")
