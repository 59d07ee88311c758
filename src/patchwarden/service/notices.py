"""What people are told, read from the audit trail: the rules, kept pure.

Every change of state writes its audit entry in the transaction of the change, so the
trail is the one place news comes from. :func:`notices_of` turns entries into
:class:`Notice` values; :func:`narrowed` fits a notice to one channel's filters (events,
environments, severities); :func:`emergency_items` and :func:`overdue_items` pick the
findings an assessment entry and an SLA check carry.

A notice about findings (``finding.emergency``, ``sla.overdue``) carries them as
``items``, each with its environment and severity, so a channel that wants only prod and
only critical gets a notice listing only those, and none at all when none is left. Other
notices have no severity: a severity filter lets them through, an environment filter
keeps those touching one of its environments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from patchwarden.assess.assessment import Assessment
from patchwarden.domain.advisories import Action, Finding
from patchwarden.domain.audit import AuditEntry

__all__ = [
    "EVENTS",
    "EventKind",
    "Notice",
    "emergency_items",
    "item_key",
    "narrowed",
    "notices_of",
    "overdue_items",
]

EventKind = Literal[
    "change.submitted",
    "run.finished",
    "run.failed",
    "run.held",
    "job.failing",
    "finding.emergency",
    "sla.overdue",
]
EVENTS: tuple[EventKind, ...] = (
    "change.submitted",
    "run.finished",
    "run.failed",
    "run.held",
    "job.failing",
    "finding.emergency",
    "sla.overdue",
)
"""What a channel can be told of."""

_FAILED_STATES = frozenset({"failed", "aborted", "rolled_back"})
_ITEMS_SHOWN = 3


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
    items: tuple[Mapping[str, Any], ...] = ()
    """The findings it is about, each with ``env`` and ``severity``."""

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        body = {
            "event": self.event,
            "subject": self.subject,
            "object": {"type": self.object_type, "id": self.object_id},
            "environments": list(self.environments),
            "details": dict(self.details),
            "audit_seq": self.seq,
        }
        if self.items:
            body["findings"] = [dict(i) for i in self.items]
        return body


def item_key(item: Mapping[str, Any]) -> tuple[str, str, str]:
    """A finding item's identity: (asset, advisory, package)."""
    return (str(item.get("asset")), str(item.get("advisory")), str(item.get("package")))


def _item(finding: Finding, env: str, **extra: Any) -> dict[str, Any]:
    return {
        "asset": finding.asset_id,
        "package": finding.package,
        "advisory": finding.advisory_id,
        "severity": finding.severity.value,
        "env": env,
        **extra,
    }


def emergency_items(
    assessment: Assessment,
    before: Iterable[tuple[str, str, str]] | None,
    env_of: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Findings decided ``emergency`` that the assessment before did not have.

    ``before`` is the earlier assessment's (asset, advisory, package) keys; ``None`` when
    there was none (then every emergency is new).

    Example:
        >>> from datetime import UTC, datetime
        >>> emergency_items(Assessment(datetime(2026, 1, 1, tzinfo=UTC), (), ()), None, {})
        []
    """
    known = set(before or ())
    decided = assessment.decision_of()
    out = []
    for f in assessment.findings:
        key = (f.asset_id, f.advisory_id, f.package)
        if key not in known and decided[key].action is Action.EMERGENCY:
            out.append(_item(f, env_of.get(f.asset_id, "")))
    return out


def overdue_items(
    assessment: Assessment, env_of: Mapping[str, str], today: date
) -> list[dict[str, Any]]:
    """Findings whose SLA due date is before ``today``, longest overdue first.

    Example:
        >>> from datetime import UTC, datetime
        >>> overdue_items(Assessment(datetime(2026, 1, 1, tzinfo=UTC), (), ()), {},
        ...               date(2026, 2, 1))
        []
    """
    decided = assessment.decision_of()
    out = []
    for f in assessment.findings:
        due = decided[(f.asset_id, f.advisory_id, f.package)].due
        if due is not None and due < today:
            late = (today - due).days
            out.append(_item(f, env_of.get(f.asset_id, ""), due=due.isoformat(), days_overdue=late))
    return sorted(out, key=lambda i: (-int(i["days_overdue"]), item_key(i)))


def _items_subject(event: str, items: Sequence[Mapping[str, Any]]) -> str:
    shown = ", ".join(f"{i['asset']} {i['package']} {i['advisory']}" for i in items[:_ITEMS_SHOWN])
    more = f" and {len(items) - _ITEMS_SHOWN} more" if len(items) > _ITEMS_SHOWN else ""
    if event == "finding.emergency":
        return f"{len(items)} new emergency finding(s): {shown}{more}"
    return f"{len(items)} finding(s) past their SLA due date: {shown}{more}"


def _items_notice(e: AuditEntry, event: str, items: Sequence[Any]) -> Notice | None:
    kept = tuple(dict(i) for i in items if isinstance(i, Mapping))
    if not kept:
        return None
    envs = tuple(sorted({str(i.get("env", "")) for i in kept} - {""}))
    return Notice(
        event, _items_subject(event, kept), e.object_type, e.object_id, envs,
        {k: v for k, v in e.details.items() if k not in ("new_emergency", "findings")},
        e.seq, kept,
    )  # fmt: skip


def notices_of(
    entries: Iterable[AuditEntry],
    envs_of: Callable[[str, str], Sequence[str]],
    *,
    job_failures: int = 3,
) -> list[Notice]:
    """The notices audit entries call for (pure but for ``envs_of``, which reads the store).

    Rules:

    - ``change.submit`` -> ``change.submitted`` (it waits for an approver);
    - ``run.finish`` in state completed -> ``run.finished``; in failed, aborted or
      rolled_back -> ``run.failed``;
    - ``run.stop`` with steps ``waiting`` (a marginal canary) -> ``run.held``;
    - ``job.fail`` of a job failing for the ``job_failures``-th time in a row ->
      ``job.failing`` (once: not again on the next failure);
    - ``assessment.record`` with ``new_emergency`` findings -> ``finding.emergency``;
    - ``sla.overdue`` (written at most once a day per finding) -> ``sla.overdue``.

    Nothing else is told. ``envs_of(type, id)`` gives the environments an object touches.

    Example:
        >>> from datetime import UTC, datetime
        >>> e = AuditEntry(seq=4, at=datetime(2026, 1, 1, tzinfo=UTC), actor="engine",
        ...     action="run.finish", object_type="run", object_id="r1",
        ...     details={"state": "failed"}, prev_hash="0" * 64, hash="1" * 64)
        >>> [(n.event, n.subject) for n in notices_of([e], lambda t, i: ["prod"])]
        [('run.failed', 'run r1 failed (prod)')]
    """
    out: list[Notice] = []
    for e in entries:
        notice: Notice | None = None
        if e.action == "change.submit":
            envs = tuple(envs_of(e.object_type, e.object_id))
            who = f"{e.actor} submitted CHG-{e.object_id}"
            campaign = e.details.get("campaign", "")
            subject = f"{who} ({campaign}): it needs an approver"
            notice = Notice(
                "change.submitted", subject, e.object_type, e.object_id, envs, dict(e.details),
                e.seq,
            )  # fmt: skip
        elif e.action == "run.finish":
            envs = tuple(envs_of(e.object_type, e.object_id))
            state = str(e.details.get("state", ""))
            kind = "run.failed" if state in _FAILED_STATES else "run.finished"
            where = f" ({', '.join(envs)})" if envs else ""
            notice = Notice(
                kind, f"run {e.object_id} {state}{where}", e.object_type, e.object_id, envs,
                dict(e.details), e.seq,
            )  # fmt: skip
        elif e.action == "run.stop" and e.details.get("waiting"):
            envs = tuple(envs_of(e.object_type, e.object_id))
            steps = ", ".join(str(s) for s in e.details["waiting"])
            subject = f"run {e.object_id} is held for a person (resume or abort it): {steps}"
            notice = Notice(
                "run.held", subject, e.object_type, e.object_id, envs, dict(e.details), e.seq
            )
        elif e.action == "job.fail" and e.details.get("failures") == job_failures:
            subject = (
                f"scheduled job {e.object_id} failed {job_failures} times: "
                f"{e.details.get('error', '')}"
            )
            notice = Notice(
                "job.failing", subject, e.object_type, e.object_id, (), dict(e.details), e.seq
            )
        elif e.action == "assessment.record" and e.details.get("new_emergency"):
            notice = _items_notice(e, "finding.emergency", e.details["new_emergency"])
        elif e.action == "sla.overdue":
            notice = _items_notice(e, "sla.overdue", e.details.get("findings", []))
        if notice is not None:
            out.append(notice)
    return out


def narrowed(
    notice: Notice,
    events: Sequence[str],
    environments: Sequence[str] = (),
    severities: Sequence[str] = (),
) -> Notice | None:
    """The notice as a channel with these filters gets it, or ``None`` if not at all.

    Empty ``environments`` or ``severities`` do not filter. A notice about findings keeps
    only those in one of the environments and of one of the severities.

    Example:
        >>> n = Notice("sla.overdue", "s", "assessment", "3", ("dev", "prod"), items=(
        ...     {"asset": "a", "package": "p", "advisory": "X", "env": "prod",
        ...      "severity": "critical"},
        ...     {"asset": "b", "package": "p", "advisory": "X", "env": "dev",
        ...      "severity": "critical"}))
        >>> narrowed(n, ["sla.overdue"], ["prod"]).environments
        ('prod',)
        >>> narrowed(n, ["sla.overdue"], ["prod"], ["low"]) is None
        True
        >>> narrowed(Notice("run.failed", "s", "run", "r", ("dev",)), ["run.failed"], ["prod"])
    """
    if notice.event not in events:
        return None
    if not notice.items:
        if environments and not any(e in environments for e in notice.environments):
            return None
        return notice
    kept = tuple(
        i
        for i in notice.items
        if (not environments or i.get("env") in environments)
        and (not severities or i.get("severity") in severities)
    )
    if not kept:
        return None
    if len(kept) == len(notice.items):
        return notice
    envs = tuple(sorted({str(i.get("env", "")) for i in kept} - {""}))
    return replace(
        notice, items=kept, environments=envs, subject=_items_subject(notice.event, kept)
    )
