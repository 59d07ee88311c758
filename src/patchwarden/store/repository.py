"""The Store: every read and write of patchwarden's database, one transaction per call.

Each public method is one transaction: it commits when it returns and rolls back, leaving
the database as it was, when it raises. Database failures surface as
:class:`~patchwarden.errors.StoreError`; mistakes by the caller (unknown ids, naive
datetimes, data that is not JSON) as ``KeyError`` or ``ValueError`` before anything is
written. The queries themselves live in the sibling modules, one per table group.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from patchwarden.domain.change import ChangeRecord
from patchwarden.domain.inventory import Inventory
from patchwarden.errors import StoreError
from patchwarden.store import advisories as advisory_ops
from patchwarden.store import assessments as assessment_ops
from patchwarden.store import changes as change_ops
from patchwarden.store import inventory as inventory_ops
from patchwarden.store import jobs as job_ops
from patchwarden.store import leases as lease_ops
from patchwarden.store import runs as run_ops
from patchwarden.store import scans as scan_ops
from patchwarden.store.accounts import Accounts
from patchwarden.store.advisories import AdvisoryInput
from patchwarden.store.audit import AuditNote, AuditTrail, append_entry, retry_collisions
from patchwarden.store.records import (
    AdvisoryRecord,
    AssessmentRecord,
    FindingRecord,
    InventoryCounts,
    InventoryRecord,
    JournalEvent,
    LeaseRecord,
    PlanRecord,
    RunRecord,
    UpsertCounts,
)
from patchwarden.store.tables import Run, as_utc

__all__ = ["READ_ONLY_OPTION", "Store", "describe_error"]

READ_ONLY_OPTION = "patchwarden_read_only"
"""Execution option marking read-only work; SQLite then begins a deferred transaction."""

# Appenders of one run take turns (serial writes on SQLite, a lock on the run's row on
# PostgreSQL); should two ever pick the same seq, the primary key refuses the second, which
# tries again with the next number.
_APPEND_ATTEMPTS = 5


def describe_error(exc: BaseException) -> str:
    """The first line of the driver's message: what went wrong, without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Patchwarden's database: inventory, advisories, assessments, plans, runs, journal.

    Made by :func:`patchwarden.store.open_store`, which also migrates the schema. Safe to
    share between threads: each call takes its own pooled connection.

    Args:
        engine: An engine on a migrated database.
        clock: Returns "now" (aware) for timestamps the store fills in.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY_OPTION: True})
        self._writes = sessionmaker(engine, expire_on_commit=False)
        self._reads = sessionmaker(self._reader, expire_on_commit=False)
        self._clock = clock or _utcnow
        self._closed = False
        self.accounts = Accounts(self._transact, self._now)
        """Users, API tokens and browser sessions."""
        self.audit = AuditTrail(self._transact, self._now)
        """The audit trail, a hash chain of every change of state."""

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tools and tests that need raw access."""
        return self._engine

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transactions -----------------------------------------------------------------

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    @contextmanager
    def _session(self, action: str, *, write: bool) -> Iterator[Session]:
        self._check_open()
        factory = self._writes if write else self._reads
        try:
            with factory.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {action}: {describe_error(exc)}") from exc

    def _transact(self, action: str, write: bool) -> AbstractContextManager[Session]:
        return self._session(action, write=write)

    @contextmanager
    def _connection(self, action: str, *, write: bool) -> Iterator[Connection]:
        self._check_open()
        try:
            with (self._engine if write else self._reader).begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {action}: {describe_error(exc)}") from exc

    # -- inventory --------------------------------------------------------------------

    def replace_inventory(
        self, inventory: Inventory, owners: Mapping[str, str], sources: Mapping[str, str]
    ) -> InventoryCounts:
        """Make the stored snapshot equal ``inventory`` in one transaction.

        Assets no longer listed are deleted, changed ones rewritten (``updated_at`` moves),
        new ones inserted; identical ones are not touched.

        Args:
            inventory: The inventory just loaded.
            owners: Who patches each asset, by asset id.
            sources: Where each asset is defined (``file:line``), by asset id.

        Returns:
            How many assets were inserted, updated, deleted and left unchanged.

        Raises:
            ValueError: duplicate ids, or an asset missing from ``owners`` or ``sources``.
            StoreError: the database refused the change; the previous snapshot is intact.
        """
        with self._session("replace the inventory", write=True) as session:
            return inventory_ops.replace_inventory(session, inventory, owners, sources, self._now())

    def inventory(self) -> list[InventoryRecord]:
        """The stored inventory snapshot, by asset id."""
        with self._session("read the inventory", write=False) as session:
            return inventory_ops.inventory_rows(session)

    # -- advisories -------------------------------------------------------------------

    def upsert_advisories(self, records: Iterable[AdvisoryInput]) -> UpsertCounts:
        """Insert new and rewrite changed advisories in one transaction.

        Args:
            records: ``(id, modified, withdrawn, data)`` tuples; timestamps aware.

        Returns:
            ``(inserted, updated, unchanged)``; unchanged rows were not written.

        Raises:
            ValueError: a naive timestamp or data that is not JSON; nothing is stored.
            StoreError: the database refused the change; nothing is stored.
        """
        with self._session("store advisories", write=True) as session:
            return advisory_ops.upsert_advisories(session, records, self._now())

    def get_advisory(self, advisory_id: str) -> AdvisoryRecord | None:
        """The advisory with this id, or ``None``."""
        with self._session("read an advisory", write=False) as session:
            return advisory_ops.get_advisory(session, advisory_id)

    def advisories(self) -> list[AdvisoryRecord]:
        """Every stored advisory, by id."""
        with self._session("read advisories", write=False) as session:
            return advisory_ops.all_advisories(session)

    # -- assessments ------------------------------------------------------------------

    def record_assessment(
        self,
        summary: Mapping[str, Any],
        findings: Iterable[Mapping[str, Any]],
        packages: Mapping[str, Mapping[str, str]] | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> int:
        """Store an assessment with its findings (read as written); returns the assessment's id.

        Each finding needs ``asset_id``, ``package`` and ``advisory_id``; ``installed``,
        ``fixed``, ``severity``, ``decision`` and ``reason`` are optional. The whole
        mapping is kept as the finding's ``data``. ``packages`` (asset → name → version)
        are kept once per distinct set (content-hashed) and read back with
        :meth:`assessed_packages`.

        ``audit``, when given, is appended in the same transaction, its ``object_id`` the
        new assessment's id.

        Raises:
            ValueError: a finding or a package set is malformed or not JSON; nothing is
                stored.
        """
        with self._session("record the assessment", write=True) as session:
            ident = assessment_ops.record_assessment(
                session, summary, findings, self._now(), packages
            )
            if audit is not None:
                append_entry(session, replace(audit, object_id=str(ident)), self._now())
            return ident

    def assessed_packages(self, assessment_id: int) -> dict[str, dict[str, str]] | None:
        """Each asset's packages as assessment ``assessment_id`` saw them, or ``None``.

        ``None`` for an assessment that stored none in the package tables (recorded by an
        older version, which kept them in its summary).
        """
        with self._session("read an assessment's packages", write=False) as session:
            return assessment_ops.assessed_packages(session, assessment_id)

    def latest_assessment(self) -> AssessmentRecord | None:
        """The most recently recorded assessment, or ``None`` if there is none."""
        with self._session("read the latest assessment", write=False) as session:
            return assessment_ops.latest_assessment(session)

    def get_assessment(self, assessment_id: int) -> AssessmentRecord | None:
        """The assessment with this id, or ``None``."""
        with self._session("read an assessment", write=False) as session:
            return assessment_ops.get_assessment(session, assessment_id)

    def latest_assessment_id(self) -> int | None:
        """The id of the most recent assessment (its summary is not read), or ``None``."""
        with self._session("read the latest assessment", write=False) as session:
            return assessment_ops.latest_assessment_id(session)

    def assessment_env_of(self, assessment_id: int) -> dict[str, str]:
        """Each asset's environment as the assessment recorded it (empty if unknown)."""
        with self._session("read an assessment", write=False) as session:
            return assessment_ops.assessment_env_of(session, assessment_id)

    def findings_page(
        self,
        assessment_id: int,
        *,
        severities: Sequence[str] = (),
        decisions: Sequence[str] = (),
        asset_ids: Sequence[str] | None = None,
        advisory_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[FindingRecord]]:
        """How many findings match and one page of them (see ``store.assessments``)."""
        with self._session("read findings", write=False) as session:
            return assessment_ops.findings_page(
                session, assessment_id, severities=severities, decisions=decisions,
                asset_ids=asset_ids, advisory_id=advisory_id, limit=limit, offset=offset,
            )  # fmt: skip

    def severity_counts(self, assessment_id: int) -> list[tuple[str, str, int]]:
        """Findings per asset and severity: ``(asset, severity, count)`` rows."""
        with self._session("count findings", write=False) as session:
            return assessment_ops.severity_counts(session, assessment_id)

    def findings_for(self, assessment_id: int) -> list[FindingRecord]:
        """The findings of an assessment in recorded order (empty for an unknown id)."""
        with self._session("read findings", write=False) as session:
            return assessment_ops.findings_for(session, assessment_id)

    # -- plans and runs ---------------------------------------------------------------

    def save_plan(self, plan_hash: str, name: str, data: Mapping[str, Any]) -> bool:
        """Store a plan under its content hash; ``True`` if new, ``False`` if already there.

        Raises:
            ValueError: the hash is empty or longer than 64 characters, or data not JSON.
        """
        try:
            with self._session("save the plan", write=True) as session:
                return run_ops.save_plan(session, plan_hash, name, data, self._now())
        except StoreError as exc:
            # Another writer saved the same plan between our check and our insert.
            if isinstance(exc.__cause__, IntegrityError) and self.get_plan(plan_hash):
                return False
            raise

    def get_plan(self, plan_hash: str) -> PlanRecord | None:
        """The plan with this hash, or ``None``."""
        with self._session("read a plan", write=False) as session:
            return run_ops.get_plan(session, plan_hash)

    def create_run(
        self,
        plan_hash: str,
        *,
        state: str = "pending",
        started_at: datetime | None = None,
        run_id: str | None = None,
        audit: AuditNote | None = None,
    ) -> RunRecord:
        """Start a run of a stored plan, with its audit entry in the same transaction.

        Args:
            plan_hash: The plan to run; it must have been saved.
            state: The run's first state.
            started_at: When it started; now if not given.
            run_id: The run's id; a new UUID (hex) if not given.
            audit: The entry recording the start (its ``object_id`` becomes the run's id).

        Raises:
            KeyError: no plan has this hash.
        """
        new_id = run_id or uuid.uuid4().hex
        started = started_at or self._now()

        def attempt() -> RunRecord:
            with self._session("create the run", write=True) as session:
                run = run_ops.create_run(session, new_id, plan_hash, state, started)
                if audit is not None:
                    append_entry(session, replace(audit, object_id=run.id), self._now())
                return run

        return retry_collisions(attempt)

    def set_run_state(
        self,
        run_id: str,
        state: str,
        *,
        finished_at: datetime | None = None,
        summary: Mapping[str, Any] | None = None,
        audit: AuditNote | None = None,
    ) -> RunRecord:
        """Move a run to ``state``, setting ``finished_at`` and ``summary`` when given.

        ``audit``, when given, is appended to the audit trail in the same transaction.

        Raises:
            KeyError: no run has this id.
        """

        def attempt() -> RunRecord:
            with self._session("update the run", write=True) as session:
                run = run_ops.set_run_state(session, run_id, state, finished_at, summary)
                if audit is not None:
                    append_entry(session, audit, self._now())
                return run

        return retry_collisions(attempt)

    def set_run_summary(self, run_id: str, summary: Mapping[str, Any]) -> RunRecord:
        """Replace a run's summary, leaving its state as it is (a pause may come meanwhile).

        Raises:
            KeyError: no run has this id.
        """
        with self._session("update the run's summary", write=True) as session:
            return run_ops.set_run_summary(session, run_id, summary)

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or ``None``."""
        with self._session("read a run", write=False) as session:
            return run_ops.get_run(session, run_id)

    def latest_run(self) -> RunRecord | None:
        """The run started last, or ``None`` if there is none."""
        with self._session("read the latest run", write=False) as session:
            return run_ops.latest_run(session)

    # -- leases: one runner per run ---------------------------------------------------

    def take_lease(
        self,
        run_id: str,
        holder: str,
        now: datetime,
        expires_at: datetime,
        *,
        take_over: str | None = None,
    ) -> LeaseRecord:
        """Hold a run until ``expires_at`` unless another holder's lease is still valid.

        Returns the lease as it stands: held by ``holder`` if taken, else by the other.
        ``take_over`` names a holder known to be gone, whose lease may be taken early.

        Raises:
            KeyError: no run has this id.
        """
        try:
            with self._session("take the run's lease", write=True) as session:
                return lease_ops.take_lease(session, run_id, holder, now, expires_at, take_over)
        except StoreError as exc:
            # Another process inserted the first lease between our read and our insert.
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        lease = self.lease(run_id)
        if lease is None:
            raise StoreError(f"could not take the lease of run {run_id}: it vanished")
        return lease

    def renew_lease(self, run_id: str, holder: str, expires_at: datetime) -> bool:
        """Extend ``holder``'s lease; ``False`` if it no longer holds the run."""
        with self._session("renew the run's lease", write=True) as session:
            return lease_ops.renew_lease(session, run_id, holder, expires_at)

    def release_lease(self, run_id: str, holder: str) -> bool:
        """Give a run up; ``False`` if ``holder`` did not hold it."""
        with self._session("release the run's lease", write=True) as session:
            return lease_ops.release_lease(session, run_id, holder)

    def lease(self, run_id: str) -> LeaseRecord | None:
        """The run's lease as stored (perhaps expired), or ``None``."""
        with self._session("read the run's lease", write=False) as session:
            return lease_ops.get_lease(session, run_id)

    # -- journal ----------------------------------------------------------------------

    def append_event(
        self,
        run_id: str,
        step_id: str,
        event: str,
        payload: Mapping[str, Any],
        at: datetime | None = None,
    ) -> int:
        """Append an event to a run's journal and commit it before returning.

        The journal is append-only: there is no way to change or remove an event.

        Args:
            run_id: The run the event belongs to.
            step_id: The plan step it concerns (``""`` for the run as a whole).
            event: What happened, e.g. ``"started"`` or ``"succeeded"``.
            payload: Details, as JSON-compatible data.
            at: When it happened; now if not given.

        Returns:
            The event's sequence number: 1 for a run's first event, then one more each time.

        Raises:
            KeyError: no run has this id.
            ValueError: naive ``at`` or a payload that is not JSON.
            StoreError: the database refused the write.
        """
        when = at or self._now()
        for _ in range(_APPEND_ATTEMPTS - 1):
            try:
                with self._connection("append to the journal", write=True) as connection:
                    return run_ops.append_event(connection, run_id, step_id, event, payload, when)
            except StoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        with self._connection("append to the journal", write=True) as connection:
            return run_ops.append_event(connection, run_id, step_id, event, payload, when)

    def events(self, run_id: str, after: int = 0) -> list[JournalEvent]:
        """A run's journal in order (empty for an unknown run), from ``seq`` ``after + 1``.

        Reading on from the last ``seq`` seen is how a live view follows a run.
        """
        with self._connection("read the journal", write=False) as connection:
            return run_ops.events(connection, run_id, after)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first (ties by id)."""
        with self._session("read runs", write=False) as session:
            rows = session.scalars(select(Run).order_by(Run.started_at, Run.id))
            return [
                RunRecord(r.id, r.plan_hash, r.state, r.started_at, r.finished_at, r.summary)
                for r in rows
            ]

    # -- change records ---------------------------------------------------------------

    def create_change(self, record: ChangeRecord) -> ChangeRecord:
        """Store a new change record; returns it with its id. The plan must be saved.

        Raises:
            KeyError: the plan it pins is not stored.
        """
        with self._session("create the change", write=True) as session:
            return change_ops.create_change(session, record, self._now())

    def get_change(self, change_id: int) -> ChangeRecord | None:
        """The change with this id, or ``None``."""
        with self._session("read a change", write=False) as session:
            return change_ops.get_change(session, change_id)

    def changes(
        self, *, campaign: str | None = None, plan_hash: str | None = None
    ) -> list[ChangeRecord]:
        """Change records, oldest first, optionally of one campaign or one plan."""
        with self._session("read changes", write=False) as session:
            return change_ops.list_changes(session, campaign, plan_hash)

    def update_change(self, record: ChangeRecord) -> ChangeRecord:
        """Write a change read at ``record.revision``; returns it at the next revision.

        Raises:
            KeyError: no change has this id.
            StaleChange: someone wrote it since it was read.
            ValueError: the record tries to pin another plan.
        """
        with self._session("update the change", write=True) as session:
            return change_ops.update_change(session, record, self._now())

    # -- the scheduler's jobs and the audit readers' cursors -----------------------------

    def upsert_job(
        self, name: str, kind: str, spec: Mapping[str, Any], next_at: datetime
    ) -> job_ops.JobRecord:
        """Add a job, or keep a stored one whose definition is unchanged (see ``store.jobs``)."""
        with self._session("store a job", write=True) as session:
            return job_ops.upsert_job(session, name, kind, spec, next_at)

    def claim_job(
        self, name: str, holder: str, now: datetime, until: datetime
    ) -> job_ops.JobRecord | None:
        """Take a due job that nobody holds (or whose holder's lease ran out) until ``until``."""
        with self._session("claim a job", write=True) as session:
            return job_ops.claim_job(session, name, holder, now, until)

    def finish_job(
        self, name: str, holder: str, now: datetime, *, ok: bool, error: str, next_at: datetime
    ) -> job_ops.JobRecord | None:
        """Record a claimed job's outcome and next due time; release it."""
        with self._session("finish a job", write=True) as session:
            return job_ops.finish_job(
                session, name, holder, now, ok=ok, error=error, next_at=next_at
            )

    def jobs(self) -> list[job_ops.JobRecord]:
        """Every scheduled job, by name."""
        with self._session("read jobs", write=False) as session:
            return job_ops.list_jobs(session)

    def cursor(self, name: str) -> int | None:
        """Where a reader of the audit trail got to, or ``None``."""
        with self._session("read a cursor", write=False) as session:
            return job_ops.get_cursor(session, name)

    def set_cursor(self, name: str, position: int) -> None:
        """Move a reader of the audit trail on."""
        with self._session("move a cursor", write=True) as session:
            job_ops.set_cursor(session, name, position)

    # -- scans (append-only) ----------------------------------------------------------

    def record_scans(
        self, scans: Sequence[scan_ops.ScanInput], *, audit: AuditNote | None = None
    ) -> list[int]:
        """Append scans, never overwriting one; returns their ids (see ``store.scans``).

        ``audit``, when given, is appended in the same transaction, its ``object_id`` the
        range of the new ids (``"first-last"``).
        """
        with self._session("record scans", write=True) as session:
            ids = scan_ops.record_scans(session, scans)
            if audit is not None and ids:
                append_entry(session, replace(audit, object_id=f"{ids[0]}-{ids[-1]}"), self._now())
            return ids

    def latest_scans(self, *, ok_only: bool = True) -> list[scan_ops.ScanRecord]:
        """The newest (successful, unless ``ok_only`` is off) scan per asset and source."""
        with self._session("read scans", write=False) as session:
            return scan_ops.latest_scans(session, ok_only=ok_only)

    def iter_latest_scans(self, *, ok_only: bool = True) -> Iterator[scan_ops.ScanRecord]:
        """:meth:`latest_scans` one at a time, so a fleet's scans need not all be in memory."""
        with self._session("read scans", write=False) as session:
            yield from scan_ops.iter_latest_scans(session, ok_only=ok_only)
