"""Assessed packages in their own tables, each distinct set stored once by content hash.

Until now each assessment's summary held every asset's installed packages: hundreds of
megabytes of JSON on a fleet, read back whole with the summary. Assessments recorded before
this revision keep them there (readers fall back to it); new ones write ``package_sets``
(sha256 of the canonical JSON → packages) and ``assessment_packages`` (which set each asset
had).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Written by hand, portable to PostgreSQL; names follow ``patchwarden.store.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "package_sets",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_package_sets"),
    )
    op.create_table(
        "assessment_packages",
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name="fk_assessment_packages_assessment_id_assessments",
        ),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["package_sets.digest"],
            name="fk_assessment_packages_digest_package_sets",
        ),
        sa.PrimaryKeyConstraint("assessment_id", "asset_id", name="pk_assessment_packages"),
    )


def downgrade() -> None:
    op.drop_table("assessment_packages")
    op.drop_table("package_sets")
