"""Login forms: the pre-session cookie and token of each login page served, stored hashed.

The login form's CSRF token was an HMAC under a key the server made at start, so a restart
refused every login page served before it. A form is now a row keyed by the SHA-256 of its
cookie, holding the SHA-256 of its token, as a browser session is: it survives a restart,
is shared by every server on the database, and reading the database gives no token.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Written by hand, portable to PostgreSQL; names follow ``patchwarden.store.tables``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_forms",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_login_forms"),
    )
    op.create_index("ix_login_forms_expires_at", "login_forms", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_login_forms_expires_at", table_name="login_forms")
    op.drop_table("login_forms")
