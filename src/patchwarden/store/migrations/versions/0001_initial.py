"""Initial schema: inventory, advisories, assessments, plans, runs and the run journal.

Revision ID: 0001
Revises:
Create Date: 2024-11-26

Written by hand, portable to PostgreSQL: ``sa.JSON`` and timezone-aware ``DateTime`` only.
Constraint names follow the naming convention in ``patchwarden.store.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inventory_assets",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_inventory_assets"),
    )
    op.create_table(
        "advisories",
        sa.Column("id", sa.String(), nullable=False),
        _timestamp("modified"),
        _timestamp("withdrawn", nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        _timestamp("imported_at"),
        sa.PrimaryKeyConstraint("id", name="pk_advisories"),
    )
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _timestamp("created_at"),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("package", sa.String(), nullable=False),
        sa.Column("installed", sa.String(), nullable=False),
        sa.Column("fixed", sa.String(), nullable=True),
        sa.Column("advisory_id", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name="fk_findings_assessment_id_assessments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
    )
    op.create_index("ix_findings_assessment_id", "findings", ["assessment_id"])
    op.create_table(
        "plans",
        sa.Column("hash", sa.String(64), nullable=False),
        _timestamp("created_at"),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_plans"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["plan_hash"], ["plans.hash"], name="fk_runs_plan_hash_plans"),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_plan_hash", "runs", ["plan_hash"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "journal",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        _timestamp("at"),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_journal_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_journal"),
    )


def downgrade() -> None:
    op.drop_table("journal")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_index("ix_runs_plan_hash", table_name="runs")
    op.drop_table("runs")
    op.drop_table("plans")
    op.drop_index("ix_findings_assessment_id", table_name="findings")
    op.drop_table("findings")
    op.drop_table("assessments")
    op.drop_table("advisories")
    op.drop_table("inventory_assets")
