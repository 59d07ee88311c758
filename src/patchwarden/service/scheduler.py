"""The server's scheduler: jobs kept in the store, so they survive a restart.

Jobs are defined in a YAML file (``patchwarden serve --schedule FILE``)::

    jobs:
      nightly-feeds:
        kind: feed_sync
        cron: "0 2 * * *"                     # UTC
        sources: {debian: https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip}
        state_file: /var/lib/patchwarden/feeds-state.json
      audit-head:
        kind: audit_head
        every: 1h
        path: /srv/evidence/audit-head.json   # where the database's writers cannot write
      november-prod:
        kind: change_start                    # start CHG-12's run when its window opens
        change: 12
        mode: real
      scan-prod-web:
        kind: scan                            # scan a group, then assess
        cron: "30 1 * * *"
        environment: prod                     # and/or group: web (an inventory group)
        select: ["tag.tier=front"]            # and/or `scan --select` expressions
        timeout: 2m                           # per host
      app-updates:
        kind: channels_check                  # new versions on applications' channels
        every: 6h
        campaigns_dir: /var/lib/patchwarden/channel-campaigns
        smtp: mail.example.org:587            # for `notify` applications' e-mail
        starttls: true

Each job's next due time, its lease and its last outcome are rows of the store. A server
takes a due job with a lease (one ``UPDATE``), so two servers never run the same occurrence
together; a server that dies mid-job leaves it to be taken up once the lease has run out.
A job missed while the server was down runs once when it is back, not once per missed
occurrence. A job that fails is retried with backoff (30 s, doubling, at most an hour)
and recorded in the audit trail (``job.fail``), which the notifier reports once it failed
three times in a row. Jobs are written to be safe to run again: a feed sync is
conditional, a head export overwrites, a change's start does nothing once a run of
it exists, and a scan job reads the audit trail for what its occurrence already recorded
(:mod:`patchwarden.service.scheduled_scan`). A channel check acts once on each new
version (the audit trail keeps what it did; a version whose notice could not be
delivered, or a channel that could not be read, fails the job, which is retried with
backoff and then acts only on what is left) over the server's ``--inventory`` files.
A scan job reaches hosts by the server's ``--inventory`` files (or its own
``inventory:``, else the stored inventory), with the SSH settings of
``PATCHWARDEN_SSH_KEY`` / ``PATCHWARDEN_SSH_KNOWN_HOSTS``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from patchwarden.domain.window import parse_duration
from patchwarden.drivers.ssh import SshConfig
from patchwarden.errors import PatchwardenError, Problem, UsageError, ValidationFailed, read_input
from patchwarden.inventory.yamlmap import dotted_path, load_located
from patchwarden.planning.windows import may_start
from patchwarden.service.audit import Actor, export_head, record
from patchwarden.service.channels import AUTO_APPROVE, SmtpConfig, run_channel_check
from patchwarden.service.execution import RunSetup, begin_change_run
from patchwarden.service.feeds import sync_feeds
from patchwarden.service.replay import stored_plan
from patchwarden.service.scheduled_scan import ScanGroup, run_scan_job
from patchwarden.service.selection import parse_selection
from patchwarden.store import Store

__all__ = [
    "NEVER",
    "SCHEDULER",
    "JobSpec",
    "ScheduleConfig",
    "Scheduler",
    "job_rows",
    "load_schedule",
    "next_due",
    "read_schedule",
    "retry_after",
]

NEVER = datetime(9999, 1, 1, tzinfo=UTC)
"""The due time of a job that has nothing left to do (a change whose run has started)."""

SCHEDULER = Actor("scheduler", "serve")
_FAILING = 3
_SMTP = re.compile(r"^[^\s:]+:\d{1,5}$")
_log = logging.getLogger("patchwarden.scheduler")


class JobSpec(BaseModel):
    """One job: what it does and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["feed_sync", "audit_head", "change_start", "scan", "channels_check"]
    every: timedelta | None = None
    cron: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    state_file: str | None = None
    path: str | None = None
    change: Annotated[int, Field(ge=1)] | None = None
    mode: Literal["sim", "real"] = "real"
    campaigns_dir: str | None = None
    """channels_check: where campaigns for ``auto`` applications are written."""
    auto_approve: tuple[str, ...] = AUTO_APPROVE
    """channels_check: environments whose ``auto`` campaigns need no change record."""
    smtp: str | None = None
    """channels_check: ``HOST:PORT`` of the SMTP server for ``notify`` e-mail."""
    mail_from: str = "patchwarden@localhost"
    starttls: bool = False
    check_every: timedelta = timedelta(minutes=1)
    """change_start: how often to look whether the window has opened."""
    lease: timedelta = timedelta(minutes=30)
    """How long a server holds the job before another may take it up."""
    group: Annotated[str, Field(min_length=1)] | None = None
    """scan: an inventory group (an asset's role)."""
    environment: Annotated[str, Field(min_length=1)] | None = None
    """scan: only assets of this environment."""
    select: tuple[str, ...] = ()
    """scan: ``key=glob`` expressions as ``patchwarden scan --select`` takes them."""
    inventory: tuple[str, ...] = ()
    """scan: inventory files (default: the server's ``--inventory``, else the stored one)."""
    assess: bool = True
    """scan: assess the estate after the scan."""
    timeout: timedelta = timedelta(minutes=2)
    """scan: seconds per host."""
    parallel: Annotated[int, Field(ge=1, le=200)] = 10
    """scan: hosts scanned at once."""

    @field_validator("select")
    @classmethod
    def _expressions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            parse_selection(value, "select")
        except UsageError as error:
            raise ValueError(str(error)) from error
        return value

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        if isinstance(data, dict):
            keys = ("every", "check_every", "lease", "timeout")
            return {k: parse_duration(v) if k in keys else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _complete(self) -> JobSpec:
        if self.kind == "change_start":
            if self.change is None:
                raise ValueError("a change_start job names its change: `change: 12`")
            return self
        if (self.every is None) == (self.cron is None):
            raise ValueError("give the job `every: 1h` or `cron: '0 2 * * *'` (one of them)")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"cron {self.cron!r} is not a cron expression")
        if self.every is not None and self.every < timedelta(seconds=1):
            raise ValueError("every must be at least 1s")
        if self.kind == "feed_sync" and (not self.sources or not self.state_file):
            raise ValueError("a feed_sync job needs `sources: {name: URL}` and `state_file`")
        if self.kind == "channels_check" and not self.campaigns_dir:
            raise ValueError(
                "a channels_check job needs `campaigns_dir:` (auto campaigns go there)"
            )
        if self.smtp is not None and not _SMTP.match(self.smtp):
            raise ValueError(f"smtp {self.smtp!r}: write HOST:PORT, e.g. mail.example.org:587")
        if self.kind == "audit_head" and not self.path:
            raise ValueError("an audit_head job needs `path:` (the file the head goes to)")
        scan_only = ("group", "environment", "select", "inventory")
        if self.kind != "scan" and any(getattr(self, k) for k in scan_only):
            raise ValueError("group, environment, select and inventory are for scan jobs")
        return self

    def scan_group(self) -> ScanGroup:
        """A scan job's group."""
        return ScanGroup(
            self.group, self.environment, self.select, self.assess,
            self.timeout.total_seconds(), self.parallel,
        )  # fmt: skip


class ScheduleConfig(BaseModel):
    """Every job, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jobs: dict[Annotated[str, Field(min_length=1, max_length=64)], JobSpec] = Field(
        default_factory=dict
    )
    retry_base: timedelta = timedelta(seconds=30)
    """The first wait after a job failed (doubling after each failure, at most an hour)."""

    @model_validator(mode="before")
    @classmethod
    def _duration(cls, data: Any) -> Any:
        if isinstance(data, dict) and "retry_base" in data:
            return {**data, "retry_base": parse_duration(data["retry_base"])}
        return data


def load_schedule(file: str, text: str) -> ScheduleConfig:
    r"""Validate a schedule; every problem names file, line and field.

    Example:
        >>> load_schedule("s.yaml", "jobs:\n  h: {kind: audit_head, every: 1h, path: h.json}\n"
        ...               ).jobs["h"].every
        datetime.timedelta(seconds=3600)

    Raises:
        ValidationFailed: not YAML, or not a valid schedule (nothing is started).
    """
    doc = load_located(file, text)
    if doc.problems:
        raise ValidationFailed(doc.problems)
    try:
        return ScheduleConfig.model_validate(doc.value or {})
    except ValidationError as error:
        raise ValidationFailed(
            [
                Problem(
                    file,
                    doc.line_of(tuple(e["loc"])),
                    dotted_path(tuple(e["loc"])),
                    e["msg"],
                    "kinds: feed_sync, audit_head, change_start, scan, channels_check; "
                    "when: every or cron",
                )  # fmt: skip
                for e in error.errors()
            ]
        ) from error


def read_schedule(path: Path) -> ScheduleConfig:
    """Read and validate a schedule file.

    Raises:
        ValidationFailed: unreadable or invalid.
    """
    return load_schedule(str(path), read_input(path))


def next_due(spec: JobSpec, after: datetime) -> datetime:
    """When a job is due next after ``after`` (cron in UTC).

    Example:
        >>> from datetime import UTC
        >>> s = JobSpec(kind="audit_head", cron="0 2 * * *", path="h.json")
        >>> next_due(s, datetime(2026, 12, 3, 10, 0, tzinfo=UTC)).isoformat()
        '2026-12-04T02:00:00+00:00'
    """
    if spec.kind == "change_start":
        return after + spec.check_every
    if spec.cron is not None:
        nxt: datetime = croniter(spec.cron, after).get_next(datetime)
        return nxt
    assert spec.every is not None  # one of the two, checked when loaded
    return after + spec.every


def retry_after(failures: int, base: timedelta = timedelta(seconds=30)) -> timedelta:
    """The wait before trying a failed job again: ``base`` doubling, at most an hour.

    Example:
        >>> [int(retry_after(n).total_seconds()) for n in (1, 2, 3, 9)]
        [30, 60, 120, 3600]
    """
    wait: timedelta = base * (2 ** max(failures - 1, 0))
    return min(wait, timedelta(hours=1))


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str
    next_at: datetime


class Scheduler:
    """Runs the schedule's due jobs, one at a time, on a background thread.

    Args:
        store: The server's store (jobs are rows of it).
        config: The jobs.
        holder: This server's name for its leases (process and host).
        start_run: Drives an opened run (the server's run workers).
        clock: Now, aware.
        inventory: The inventory real runs and scans reach their hosts by (the server's).
        also: Called after every tick (the notifier's reading of the audit trail).
        ssh: SSH settings for scans (default: from the environment).
    """

    def __init__(
        self,
        store: Store,
        config: ScheduleConfig,
        holder: str,
        start_run: Callable[[RunSetup, Actor], None],
        clock: Callable[[], datetime],
        *,
        inventory: tuple[str, ...] = (),
        also: Callable[[], None] | None = None,
        ssh: SshConfig | None = None,
    ) -> None:
        self._ssh = ssh
        self._inventory = inventory
        self._store = store
        self.config = config
        self._holder = holder
        self._start_run = start_run
        self._clock = clock
        self._retry_base = config.retry_base
        self._also = also
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self) -> None:
        """Store every job (a changed definition is due now; an unchanged one keeps its time)."""
        now = self._clock()
        for name, spec in self.config.jobs.items():
            self._store.upsert_job(name, spec.kind, spec.model_dump(mode="json"), now)

    def tick(self) -> list[str]:
        """Run every job due now that no other server holds; returns the names run."""
        ran = []
        for name, spec in self.config.jobs.items():
            now = self._clock()
            claimed = self._store.claim_job(name, self._holder, now, now + spec.lease)
            if claimed is None:
                continue
            outcome = self._run(name, spec, now, claimed.next_at)
            self._store.finish_job(
                name, self._holder, self._clock(), ok=outcome.ok, error=outcome.error,
                next_at=outcome.next_at,
            )  # fmt: skip
            ran.append(name)
        return ran

    def _run(self, name: str, spec: JobSpec, now: datetime, due: datetime) -> _Outcome:
        try:
            return self._do(name, spec, now, due)
        except PatchwardenError as error:
            reason = str(error)
        except Exception as error:  # a job must never take the scheduler down with it
            _log.exception("job %s failed", name)
            reason = f"{type(error).__name__}: {error}"
        failures = self._failures(name) + 1
        _log.error("job %s failed (%d in a row): %s", name, failures, reason)
        record(
            self._store, SCHEDULER, "job.fail", "job", name,
            details={"kind": spec.kind, "failures": failures, "error": reason[:500]},
        )  # fmt: skip
        return _Outcome(False, reason[:2000], now + retry_after(failures, self._retry_base))

    def _failures(self, name: str) -> int:
        return next((j.failures for j in self._store.jobs() if j.name == name), 0)

    def _do(self, name: str, spec: JobSpec, now: datetime, due: datetime) -> _Outcome:
        if spec.kind == "scan":
            result = run_scan_job(
                self._store, name, spec.scan_group(), due,
                inventory_files=spec.inventory or self._inventory, actor=SCHEDULER, now=now,
                ssh=self._ssh,
            )  # fmt: skip
            if result.failed:
                _log.warning("job %s: %d host(s) not scanned", name, len(result.failed))
        elif spec.kind == "feed_sync":
            assert spec.state_file is not None
            sync_feeds(self._store, spec.sources, Path(spec.state_file))
        elif spec.kind == "channels_check":
            self._check_channels(spec, now)
        elif spec.kind == "audit_head":
            assert spec.path is not None
            if self._store.audit.last() is not None:
                export_head(self._store, Path(spec.path), now)
        else:
            return self._start_change(spec, now)
        return _Outcome(True, "", next_due(spec, now))

    def _check_channels(self, spec: JobSpec, now: datetime) -> None:
        if not self._inventory:
            raise PatchwardenError(
                "a channels_check job reads the server's inventory: start it with --inventory"
            )
        assert spec.campaigns_dir is not None  # checked when loaded
        smtp = None
        if spec.smtp is not None:
            host, _, port = spec.smtp.rpartition(":")
            smtp = SmtpConfig(host, int(port), spec.mail_from, spec.starttls)
        outcomes = run_channel_check(
            self._store, [Path(p) for p in self._inventory], SCHEDULER, now,
            campaigns_dir=Path(spec.campaigns_dir), smtp=smtp, auto_approve=spec.auto_approve,
        )  # fmt: skip
        failed = [o for o in outcomes if o.action in ("error", "notify_failed")]
        if failed:
            raise PatchwardenError(
                "; ".join(f"{o.check.app}: {o.action} ({o.detail})" for o in failed)
            )

    def _start_change(self, spec: JobSpec, now: datetime) -> _Outcome:
        assert spec.change is not None
        change = self._store.get_change(spec.change)
        if change is None:
            raise PatchwardenError(f"no change CHG-{spec.change}")
        if any(r.plan_hash == change.plan_hash for r in self._store.runs()):
            return _Outcome(True, "", NEVER)  # started already (by us or by a person)
        plan = stored_plan(self._store, change.plan_hash, change.label)
        allowed, _ = may_start(now, plan.windows, change)
        if not allowed:
            return _Outcome(True, "", next_due(spec, now))  # the window is not open yet
        setup = begin_change_run(
            self._store, spec.change, sim=spec.mode == "sim", seed=0, speed=3000.0, now=now,
            actor=SCHEDULER, inventory_files=self._inventory,
        )  # fmt: skip
        self._start_run(setup, SCHEDULER)
        return _Outcome(True, "", NEVER)

    def start(self, poll_s: float = 1.0) -> None:
        """Register the jobs and tick every ``poll_s`` seconds on a daemon thread."""
        self.register()
        self._thread = threading.Thread(
            target=self._loop, args=(poll_s,), name="scheduler", daemon=True
        )
        self._thread.start()

    def _loop(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            try:
                self.tick()
                if self._also is not None:
                    self._also()
            except Exception:  # the database was busy or gone: try again next tick
                _log.exception("scheduler tick failed")

    def stop(self) -> None:
        """Stop ticking (a job running now finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def job_rows(store: Store) -> list[dict[str, Any]]:
    """The jobs as an admin reads them (for the API)."""
    return [
        {
            "name": j.name,
            "kind": j.kind,
            "next_at": j.next_at.isoformat(),
            "running_by": j.running_by,
            "last_status": j.last_status,
            "last_error": j.last_error,
            "failures": j.failures,
            "last_started_at": j.last_started_at.isoformat() if j.last_started_at else None,
            "last_finished_at": j.last_finished_at.isoformat() if j.last_finished_at else None,
        }  # fmt: skip
        for j in store.jobs()
    ]
