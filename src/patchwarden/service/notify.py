"""Notifications: a webhook POST signed with HMAC-SHA256, or an e-mail over SMTP.

What people are told comes from the audit trail, which every change of state writes in
the transaction of the change: a change submitted (it needs an approver), a run that
finished, failed or is held for a person, a job failing again and again, new emergency
findings of an assessment, findings past their SLA due date.
:func:`~patchwarden.service.notices.notices_of` turns audit entries into notices (pure);
:func:`wanted` says whether a channel takes one (its events, environments and
severities); :class:`Notifier` sends them, retrying with backoff. The SLA check
(:func:`record_overdue`) writes an ``sla.overdue`` entry naming the findings overdue that
were not told yet that day (UTC), so each is told at most once a day.

Channels are configured in a YAML file (``patchwarden serve --notify FILE``)::

    channels:
      ops-hook:
        type: webhook
        url: https://hooks.example.org/patchwarden
        secret_env: PATCHWARDEN_WEBHOOK_SECRET   # the HMAC key, from the environment
        events: [change.submitted, run.failed, finding.emergency, sla.overdue]
        environments: [prod]
        severities: [critical, high]           # findings' notices only
      ops-mail:
        type: email
        host: smtp.example.org
        port: 587
        starttls: true
        sender: patchwarden@example.org
        to: [ops@example.org]
        username_env: PATCHWARDEN_SMTP_USER
        password_env: PATCHWARDEN_SMTP_PASSWORD
    job_failures: 3                            # a job is reported at its 3rd failure in a row

Secrets never sit in the file, only the names of the variables that hold them. A
webhook's body is JSON; ``X-Patchwarden-Signature: sha256=HEX`` is the HMAC-SHA256 of the
exact body bytes with the secret, so a receiver checks it before trusting anything. The
sending itself is the drivers' (``patchwarden.drivers.notify``).
"""

from __future__ import annotations

import json
import logging
import time as clock
from collections.abc import Mapping
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patchwarden.drivers.notify import Mailer, SmtpConfig, post_webhook
from patchwarden.errors import DriverError, Problem, ValidationFailed, read_input
from patchwarden.inventory.yamlmap import dotted_path, load_located
from patchwarden.service.assessments import load_assessment
from patchwarden.service.audit import Actor
from patchwarden.service.audit import record as append_audit
from patchwarden.service.notices import (
    EVENTS,
    EventKind,
    Notice,
    item_key,
    narrowed,
    notices_of,
    overdue_items,
)
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter

__all__ = [
    "CURSOR",
    "EVENTS",
    "NOTIFIER",
    "EmailChannel",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "WebhookChannel",
    "load_notify_config",
    "notices_of",
    "notify_pending",
    "object_environments",
    "read_notify_config",
    "record_overdue",
    "wanted",
]

NOTIFIER = Actor("notifier", "serve")
"""Who the SLA check's audit entries name."""

_OVERDUE_SHOWN = 1000
Severity = Literal["none", "low", "medium", "high", "critical"]
Environment = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

_log = logging.getLogger("patchwarden.notify")


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: tuple[EventKind, ...] = EVENTS
    environments: tuple[Environment, ...] = ()
    """Only notices touching one of these (all when empty); findings in one of these."""
    severities: tuple[Severity, ...] = ()
    """Only findings of these severities (all when empty); other notices are not filtered."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3


class WebhookChannel(_Channel):
    """POST the notice as JSON, signed with HMAC-SHA256."""

    type: Literal["webhook"]
    url: Annotated[str, Field(pattern=r"^https?://")]
    secret_env: Annotated[str, Field(min_length=1)]


class EmailChannel(_Channel):
    """Send the notice as a plain-text e-mail."""

    type: Literal["email"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    ca_file: str | None = None
    """Trust this CA for STARTTLS (the system's when absent)."""
    sender: Annotated[str, Field(min_length=3)]
    to: Annotated[tuple[str, ...], Field(min_length=1)]
    username_env: str | None = None
    password_env: str | None = None


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class NotifyConfig(BaseModel):
    """Every channel, by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, Channel] = Field(default_factory=dict)
    job_failures: Annotated[int, Field(ge=1, le=100)] = 3
    """A scheduled job is reported when it failed this many times in a row (once)."""


def load_notify_config(file: str, text: str) -> NotifyConfig:
    r"""Validate a notification config; every problem names file, line and field.

    Example:
        >>> c = load_notify_config("n.yaml", "channels:\n  a: {type: webhook, "
        ...     "url: 'http://127.0.0.1:9/', secret_env: S}\n")
        >>> c.channels["a"].events[:3]
        ('change.submitted', 'run.finished', 'run.failed')

    Raises:
        ValidationFailed: not YAML, or not a valid config (nothing is started).
    """
    doc = load_located(file, text)
    if doc.problems:
        raise ValidationFailed(doc.problems)
    try:
        return NotifyConfig.model_validate(doc.value or {})
    except ValidationError as error:
        problems = []
        for e in error.errors():
            loc = tuple(p for p in e["loc"] if p not in ("webhook", "email"))
            problems.append(
                Problem(
                    file,
                    doc.line_of(loc),
                    dotted_path(loc),
                    e["msg"],
                    f"channel types: webhook, email; events: {', '.join(EVENTS)}; "
                    "severities: none, low, medium, high, critical",
                )  # fmt: skip
            )
        raise ValidationFailed(problems) from error


def wanted(channel: WebhookChannel | EmailChannel, notice: Notice) -> Notice | None:
    """The notice as the channel takes it (its events, environments, severities), or ``None``.

    Example:
        >>> ch = WebhookChannel(type="webhook", url="http://x/", secret_env="S",
        ...                     events=("run.failed",), environments=("prod",))
        >>> n = Notice("run.failed", "s", "run", "r", ("dev", "prod"))
        >>> wanted(ch, n) is n, wanted(ch, Notice("run.failed", "s", "run", "r", ("dev",)))
        (True, None)
    """
    return narrowed(notice, channel.events, channel.environments, channel.severities)


class Notifier:
    """Sends notices to the configured channels, each with retries and backoff.

    Args:
        config: The channels.
        environ: Where the secrets' variables are read (the process environment).
        backoff_s: The first wait between tries; doubled each time.
    """

    def __init__(
        self,
        config: NotifyConfig,
        environ: Mapping[str, str],
        *,
        backoff_s: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._environ = environ
        self._backoff = backoff_s
        self._transport = transport

    def send(self, notice: Notice) -> dict[str, bool]:
        """Send to every channel that takes the notice; returns channel -> delivered."""
        results = {}
        for name, channel in self.config.channels.items():
            fitted = wanted(channel, notice)
            if fitted is not None:
                results[name] = self._with_retries(name, channel, fitted)
        return results

    def _with_retries(
        self, name: str, channel: WebhookChannel | EmailChannel, notice: Notice
    ) -> bool:
        wait = self._backoff
        for attempt in range(channel.retries + 1):
            try:
                if isinstance(channel, WebhookChannel):
                    self._post(channel, notice)
                else:
                    self._mail(channel, notice)
                return True
            except (DriverError, _Refused) as error:
                # The error names the host at most; secrets are never part of it.
                _log.warning(
                    "notify %s: try %d of %d failed: %s", name, attempt + 1,
                    channel.retries + 1, error,
                )  # fmt: skip
                if attempt < channel.retries:
                    clock.sleep(wait)
                    wait *= 2
        _log.error("notify %s: gave up on %s %s", name, notice.event, notice.object_id)
        return False

    def _secret(self, variable: str | None) -> str:
        if not variable:
            return ""
        value = self._environ.get(variable, "")
        if not value:
            raise _Refused(f"the variable {variable} is not set")
        return value

    def _post(self, channel: WebhookChannel, notice: Notice) -> None:
        post_webhook(
            channel.url, notice.as_json(), 10.0, self._transport,
            secret=self._secret(channel.secret_env).encode(),
            headers={
                "X-Patchwarden-Event": notice.event,
                "X-Patchwarden-Delivery": str(notice.seq),
            },
        )  # fmt: skip

    def _mail(self, channel: EmailChannel, notice: Notice) -> None:
        config = SmtpConfig(
            channel.host, channel.port, channel.sender, channel.starttls,
            self._secret(channel.username_env), self._secret(channel.password_env),
            ca_file=channel.ca_file or "",
        )  # fmt: skip
        Mailer(config).send(
            channel.to,
            f"[patchwarden] {notice.subject}",
            json.dumps(notice.as_json(), indent=2, sort_keys=True) + "\n",
            {"X-Patchwarden-Event": notice.event},
        )


class _Refused(Exception):
    """A channel refused or could not be used; tried again, then logged."""


def read_notify_config(path: Path) -> NotifyConfig:
    """Read and validate a notification config file.

    Raises:
        ValidationFailed: unreadable or invalid.
    """
    return load_notify_config(str(path), read_input(path))


def object_environments(store: Store, object_type: str, object_id: str) -> list[str]:
    """The environments a change or a run touches (empty for anything else)."""
    if object_type == "change" and object_id.isdigit():
        change = store.get_change(int(object_id))
        return list(change.environments) if change else []
    if object_type == "run":
        run = store.get_run(object_id)
        plan = store.get_plan(run.plan_hash) if run else None
        waves = plan.data.get("waves", []) if plan else []
        return sorted({str(w.get("env", "")) for w in waves})
    return []


CURSOR = "notify"
"""The name of the notifier's place in the audit trail."""


def notify_pending(store: Store, notifier: Notifier) -> int:
    """Send what the audit trail calls for since the notifier's last look; returns how many.

    The place is kept in the store, so a restarted server carries on where it stopped
    (a notice may go out twice if it crashed mid-send, never not at all). On its very first
    run the notifier starts at the trail's end: history is not news.
    """
    after = store.cursor(CURSOR)
    if after is None:
        last = store.audit.last()
        store.set_cursor(CURSOR, last.seq if last else 0)
        return 0
    record_overdue(store, datetime.now(UTC))
    entries = store.audit.entries(AuditFilter(after=after))
    if not entries:
        return 0
    notices = notices_of(
        entries, lambda t, i: object_environments(store, t, i),
        job_failures=notifier.config.job_failures,
    )  # fmt: skip
    for notice in notices:
        notifier.send(notice)
    store.set_cursor(CURSOR, entries[-1].seq)
    return len(notices)


def record_overdue(store: Store, now: datetime) -> int:
    """Write an ``sla.overdue`` entry for overdue findings not told yet today; returns how many.

    Looks again only when the day (UTC) or the latest assessment changed since the last
    look (kept in the store), so a tick costs one read. A finding is in at most one entry a
    day; at most 1,000 go in one entry (the rest are told at the next look).
    """
    latest = store.latest_assessment_id()
    today = now.astimezone(UTC).date()
    if latest is None:
        return 0
    if store.cursor("sla.day") == today.toordinal() and store.cursor("sla.assessment") == latest:
        return 0
    stored = load_assessment(store, latest)
    items = overdue_items(stored.assessment, stored.env_of, today) if stored else []
    fresh: list[dict[str, object]] = []
    if items:
        start = datetime.combine(today, time(), UTC)
        told = {
            item_key(i)
            for e in store.audit.entries(AuditFilter(action="sla.overdue", since=start))
            for i in e.details.get("findings", [])
        }
        fresh = [i for i in items if item_key(i) not in told][:_OVERDUE_SHOWN]
    if fresh:
        append_audit(
            store, NOTIFIER, "sla.overdue", "assessment", str(latest),
            details={"day": today.isoformat(), "count": len(fresh), "findings": fresh},
        )  # fmt: skip
    full = len(fresh) == _OVERDUE_SHOWN  # more may wait: look again next tick
    store.set_cursor("sla.day", 0 if full else today.toordinal())
    store.set_cursor("sla.assessment", latest)
    return len(fresh)
