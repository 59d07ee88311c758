"""The scheduler's jobs and the audit trail readers' cursors.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Written by hand, portable to PostgreSQL; names follow ``patchwarden.store.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("next_at", _AT, nullable=False),
        sa.Column("running_by", sa.String(128), nullable=True),
        sa.Column("running_until", _AT, nullable=True),
        sa.Column("last_started_at", _AT, nullable=True),
        sa.Column("last_finished_at", _AT, nullable=True),
        sa.Column("last_status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_scheduled_jobs"),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_cursors"),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_table("scheduled_jobs")
