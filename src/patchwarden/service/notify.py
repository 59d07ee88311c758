"""Notifications: a webhook POST signed with HMAC-SHA256, or an e-mail over SMTP.

What people are told comes from the audit trail, which every change of state writes in
the transaction of the change: a change submitted (it needs an approver), a run that
finished, a run that failed. :func:`notices_of` turns audit entries into
:class:`Notice` values (pure); :func:`wanted` says whether a channel takes one (its
events and environments); :class:`Notifier` sends them, retrying with backoff.

Channels are configured in a YAML file (``patchwarden serve --notify FILE``)::

    channels:
      ops-hook:
        type: webhook
        url: https://hooks.example.org/patchwarden
        secret_env: PATCHWARDEN_WEBHOOK_SECRET   # the HMAC key, from the environment
        events: [change.submitted, run.failed]
        environments: [prod]
      ops-mail:
        type: email
        host: smtp.example.org
        port: 587
        starttls: true
        sender: patchwarden@example.org
        to: [ops@example.org]
        username_env: PATCHWARDEN_SMTP_USER
        password_env: PATCHWARDEN_SMTP_PASSWORD

Secrets never sit in the file, only the names of the variables that hold them. A
webhook's body is JSON; ``X-Patchwarden-Signature: sha256=HEX`` is the HMAC-SHA256 of the
exact body bytes with the secret, so a receiver checks it before trusting anything. The
sending itself is the drivers' (``patchwarden.drivers.notify``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patchwarden.domain.audit import AuditEntry
from patchwarden.drivers.notify import Mailer, SmtpConfig, post_webhook
from patchwarden.errors import DriverError, Problem, ValidationFailed, read_input
from patchwarden.inventory.yamlmap import dotted_path, load_located
from patchwarden.store import Store
from patchwarden.store.audit import AuditFilter

__all__ = [
    "CURSOR",
    "EVENTS",
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
    "wanted",
]

EventKind = Literal["change.submitted", "run.finished", "run.failed", "job.failing"]
EVENTS: tuple[EventKind, ...] = ("change.submitted", "run.finished", "run.failed", "job.failing")
"""What a channel can be told of."""

_FAILED_STATES = frozenset({"failed", "aborted", "rolled_back"})
_FAILING_AFTER = 3

_log = logging.getLogger("patchwarden.notify")


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    events: tuple[EventKind, ...] = EVENTS
    environments: tuple[str, ...] = ()
    """Only notices touching one of these (all when empty)."""
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


def load_notify_config(file: str, text: str) -> NotifyConfig:
    r"""Validate a notification config; every problem names file, line and field.

    Example:
        >>> c = load_notify_config("n.yaml", "channels:\n  a: {type: webhook, "
        ...     "url: 'http://127.0.0.1:9/', secret_env: S}\n")
        >>> c.channels["a"].events
        ('change.submitted', 'run.finished', 'run.failed', 'job.failing')

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
                    f"channel types: webhook, email; events: {', '.join(EVENTS)}",
                )  # fmt: skip
            )
        raise ValidationFailed(problems) from error


@dataclass(frozen=True)
class Notice:
    """Something to tell people: what happened, to which object, where, and the details."""

    event: str
    subject: str
    object_type: str
    object_id: str
    environments: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0
    """The audit entry it comes from (a receiver can de-duplicate on it)."""

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        return {
            "event": self.event,
            "subject": self.subject,
            "object": {"type": self.object_type, "id": self.object_id},
            "environments": list(self.environments),
            "details": dict(self.details),
            "audit_seq": self.seq,
        }


def notices_of(
    entries: Iterable[AuditEntry], envs_of: Callable[[str, str], Sequence[str]]
) -> list[Notice]:
    """The notices audit entries call for (pure but for ``envs_of``, which reads the store).

    Rules: ``change.submit`` -> ``change.submitted`` (it waits for an approver);
    ``run.finish`` in state completed -> ``run.finished``; in failed, aborted or
    rolled_back -> ``run.failed``; ``job.fail`` of a job failing for the third time in a
    row -> ``job.failing`` (once: not again on the fourth). Nothing else is told.
    ``envs_of(type, id)`` gives the environments an object touches.

    Example:
        >>> from datetime import UTC, datetime
        >>> e = AuditEntry(seq=4, at=datetime(2026, 1, 1, tzinfo=UTC), actor="engine",
        ...     action="run.finish", object_type="run", object_id="r1",
        ...     details={"state": "failed"}, prev_hash="0" * 64, hash="1" * 64)
        >>> [(n.event, n.subject) for n in notices_of([e], lambda t, i: ["prod"])]
        [('run.failed', 'run r1 failed (prod)')]
    """
    out = []
    for e in entries:
        envs = None
        if e.action == "change.submit":
            envs = tuple(envs_of(e.object_type, e.object_id))
            who = f"{e.actor} submitted CHG-{e.object_id}"
            campaign = e.details.get("campaign", "")
            out.append(
                Notice(
                    "change.submitted",
                    f"{who} ({campaign}): it needs an approver",
                    e.object_type,
                    e.object_id,
                    envs,
                    dict(e.details),
                    e.seq,
                )  # fmt: skip
            )
        elif e.action == "run.finish":
            envs = tuple(envs_of(e.object_type, e.object_id))
            state = str(e.details.get("state", ""))
            kind = "run.failed" if state in _FAILED_STATES else "run.finished"
            where = f" ({', '.join(envs)})" if envs else ""
            out.append(
                Notice(
                    kind,
                    f"run {e.object_id} {state}{where}",
                    e.object_type,
                    e.object_id,
                    envs,
                    dict(e.details),
                    e.seq,
                )  # fmt: skip
            )
        elif e.action == "job.fail" and e.details.get("failures") == _FAILING_AFTER:
            out.append(
                Notice(
                    "job.failing",
                    f"scheduled job {e.object_id} failed {_FAILING_AFTER} times: "
                    f"{e.details.get('error', '')}",
                    e.object_type,
                    e.object_id,
                    (),
                    dict(e.details),
                    e.seq,
                )  # fmt: skip
            )
    return out


def wanted(channel: WebhookChannel | EmailChannel, notice: Notice) -> bool:
    """Whether the channel takes the notice: one of its events, in one of its environments.

    Example:
        >>> ch = WebhookChannel(type="webhook", url="http://x/", secret_env="S",
        ...                     events=("run.failed",), environments=("prod",))
        >>> n = Notice("run.failed", "s", "run", "r", ("dev", "prod"))
        >>> wanted(ch, n), wanted(ch, Notice("run.failed", "s", "run", "r", ("dev",)))
        (True, False)
    """
    if notice.event not in channel.events:
        return False
    return not channel.environments or any(e in channel.environments for e in notice.environments)


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
            if wanted(channel, notice):
                results[name] = self._with_retries(name, channel, notice)
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
                    time.sleep(wait)
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
    entries = store.audit.entries(AuditFilter(after=after))
    if not entries:
        return 0
    notices = notices_of(entries, lambda t, i: object_environments(store, t, i))
    for notice in notices:
        notifier.send(notice)
    store.set_cursor(CURSOR, entries[-1].seq)
    return len(notices)
