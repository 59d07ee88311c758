"""ORM models of the store: the schema that ``migrations/versions`` creates.

The models and the migrations describe the same schema twice on purpose: migrations are
history and must never change once released, models are the present. A test compares
them (``alembic.autogenerate.compare_metadata``) so they cannot drift apart.

Only portable types are used, because the same code later runs on PostgreSQL: ``JSON``
rather than a dialect's own JSON type, and timezone-aware ``DateTime`` for every timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Advisory",
    "ApiToken",
    "AssessedPackages",
    "Assessment",
    "AuditRow",
    "Base",
    "Change",
    "Cursor",
    "Finding",
    "InventoryAsset",
    "JournalEntry",
    "PackageSet",
    "Plan",
    "Run",
    "RunLease",
    "Scan",
    "ScheduledJob",
    "User",
    "UserSession",
    "UtcDateTime",
    "as_utc",
]

# Named constraints: PostgreSQL needs names to alter or drop constraints later, and fixed
# names keep the migrations and the models comparable.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused because their zone is a guess.

    Raises:
        ValueError: ``value`` has no time zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given; use an aware one (UTC)")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC and read back as aware UTC.

    SQLite keeps no zone and returns naive values; PostgreSQL returns the session's zone.
    Normalising both ways makes every backend hand out the same ``datetime``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC before storing."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive (it was stored in UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# ``none_as_null``: Python ``None`` becomes SQL NULL rather than the JSON text ``null``,
# so "no summary yet" is a NULL a query can test portably.
NullableJSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime}


class InventoryAsset(Base):
    """One asset of the current inventory snapshot."""

    __tablename__ = "inventory_assets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    env: Mapped[str] = mapped_column(String)
    owner: Mapped[str] = mapped_column(String)
    data: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime]


class Advisory(Base):
    """One advisory as imported from a feed."""

    __tablename__ = "advisories"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    modified: Mapped[datetime]
    withdrawn: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]
    imported_at: Mapped[datetime]


class Assessment(Base):
    """One assessment: when it ran and its summary."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    summary: Mapped[dict[str, Any]]


class PackageSet(Base):
    """One asset's installed packages (name → version), stored once per content.

    Keyed by the sha256 of its canonical JSON (keys sorted), so an unchanged host, or a
    host like many others, adds no copy of its packages to a new assessment.
    """

    __tablename__ = "package_sets"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    packages: Mapped[dict[str, Any]]


class AssessedPackages(Base):
    """Which package set each asset had when an assessment assessed it."""

    __tablename__ = "assessment_packages"

    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("package_sets.digest"))


class Finding(Base):
    """One finding of an assessment: a vulnerable package on an asset and what to do."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_assessment_id", "assessment_id"),)

    # The brief names no key for findings; a surrogate one keeps the ORM happy and lets
    # several findings share (asset, package, advisory) if an assessment ever needs it.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    asset_id: Mapped[str] = mapped_column(String(64))
    package: Mapped[str] = mapped_column(String)
    installed: Mapped[str] = mapped_column(String)
    fixed: Mapped[str | None] = mapped_column(String)
    advisory_id: Mapped[str] = mapped_column(String)
    severity: Mapped[str] = mapped_column(String)
    decision: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    data: Mapped[dict[str, Any]]


class Plan(Base):
    """A rollout plan, keyed by the hash of its content."""

    __tablename__ = "plans"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    name: Mapped[str] = mapped_column(String)
    data: Mapped[dict[str, Any]]


class Run(Base):
    """One execution of a plan."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_plan_hash", "plan_hash"),
        Index("ix_runs_started_at", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    plan_hash: Mapped[str] = mapped_column(ForeignKey("plans.hash"))
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)


class RunLease(Base):
    """Which process drives a run, until when: one runner per run.

    The holder renews ``expires_at`` while it works; another process takes the run over only
    after it expired (or, on the same machine, once the holder's process is gone).
    """

    __tablename__ = "run_leases"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class JournalEntry(Base):
    """One event of a run's append-only journal."""

    __tablename__ = "journal"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    step_id: Mapped[str] = mapped_column(String)
    event: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]]


class Change(Base):
    """A change record for one plan; ``data`` is the whole record, the columns are for queries.

    ``revision`` counts writes: an update names the revision it read, so two approvers acting
    at once cannot both win.
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_plan_hash", "plan_hash"),
        Index("ix_changes_campaign", "campaign"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String)
    plan_hash: Mapped[str] = mapped_column(ForeignKey("plans.hash"))
    state: Mapped[str] = mapped_column(String(32))
    requester: Mapped[str] = mapped_column(String)
    emergency: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class Scan(Base):
    """One scan of one asset from one source (``ssh``, ``local``, ``sbom``); never rewritten.

    Every scan is a new row, so two sources (or two scans of one source) never overwrite
    each other; readers take the newest per asset and source. ``data`` holds what was read:
    packages, OS release, architecture, reboot state, or the error of a failed scan.
    """

    __tablename__ = "scans"
    __table_args__ = (Index("ix_scans_asset_id", "asset_id", "source", "scanned_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    scanned_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict[str, Any]]


class User(Base):
    """A local user: a name, an argon2 password hash, a role, and the environments it covers.

    ``environments`` empty means all. A disabled user keeps its row (the audit trail names
    it) but can neither log in nor use its tokens.
    """

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String(16))
    environments: Mapped[list[str]] = mapped_column(JSON)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiToken(Base):
    """An API token: only the SHA-256 of its secret is kept; the secret is shown once.

    A token is scoped to a role (never above its user's) and environments, may expire, and
    once revoked stays revoked.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"))
    name: Mapped[str] = mapped_column(String)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    environments: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserSession(Base):
    """A browser session: keyed by the SHA-256 of its cookie, with its CSRF token's hash."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"))
    csrf_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginForm(Base):
    """A login page's pre-session: keyed by the SHA-256 of its cookie, with its token's hash."""

    __tablename__ = "login_forms"
    __table_args__ = (Index("ix_login_forms_expires_at", "expires_at"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AuditRow(Base):
    """One entry of the audit trail, a hash chain (see ``patchwarden.domain.audit``)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String)
    object_hash: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(String)
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ScheduledJob(Base):
    """A job of the server's scheduler: when it is due, who runs it now, how it went.

    ``running_by``/``running_until`` are a lease: a job whose server died mid-run is taken
    up again once the lease has run out.
    """

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]]
    next_at: Mapped[datetime]
    running_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    running_until: Mapped[datetime | None] = mapped_column(nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[str] = mapped_column(String(16), default="")
    last_error: Mapped[str] = mapped_column(String, default="")
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Cursor(Base):
    """How far a reader of the audit trail (the notifier) has got: the last ``seq`` done."""

    __tablename__ = "cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
