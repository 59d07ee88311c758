"""Service levels: due dates, the overdue list, and mean time to remediate.

A finding is due a number of days after it was first seen, by severity (defaults: critical
7, high 30, medium 90, low 180); a CISA KEV due date that falls earlier wins. Mean time to
remediate comes from assessments over time: a finding is remediated at the first assessment
that no longer has it, and took the time since the assessment that first saw it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from patchwarden.assess.policy import Policy
from patchwarden.domain.advisories import Action, Decision, Severity

__all__ = [
    "DUE_BUCKETS",
    "FindingKey",
    "MttrRow",
    "OverdueItem",
    "Snapshot",
    "due_buckets",
    "due_date",
    "first_seen",
    "mean_time_to_remediate",
    "overdue",
]

FindingKey = tuple[str, str, str]
"""``(asset_id, advisory_id, package)``: the identity of a finding across assessments."""

DUE_BUCKETS: tuple[str, ...] = ("overdue", "due in 7 days", "due in 30 days", "later", "no date")
"""The buckets of :func:`due_buckets`, most urgent first."""


def due_date(severity: Severity, seen: date, policy: Policy, kev_due: date | None = None) -> date:
    """When a finding must be remediated by.

    Example:
        >>> due_date(Severity.HIGH, date(2026, 11, 1), Policy())
        datetime.date(2026, 12, 1)
        >>> due_date(Severity.HIGH, date(2026, 11, 1), Policy(), kev_due=date(2026, 11, 10))
        datetime.date(2026, 11, 10)
    """
    due = seen + timedelta(days=policy.sla.days[severity])
    if kev_due is not None and policy.sla.kev_due_dates:
        due = min(due, kev_due)
    return due


@dataclass(frozen=True, kw_only=True)
class OverdueItem:
    """An open finding past its due date."""

    asset_id: str
    env: str
    advisory_id: str
    package: str
    action: str
    due: date
    days_overdue: int


def overdue(
    decisions: Iterable[Decision], env_of: Mapping[str, str], today: date
) -> list[OverdueItem]:
    """Open findings past due, the longest overdue first (ignored ones are not tracked)."""
    items = [
        OverdueItem(
            asset_id=d.asset_id,
            env=env_of.get(d.asset_id, ""),
            advisory_id=d.advisory_id,
            package=d.package,
            action=d.action.value,
            due=d.due,
            days_overdue=(today - d.due).days,
        )
        for d in decisions
        if d.due is not None and d.due < today and d.action is not Action.IGNORE
    ]
    return sorted(items, key=lambda i: (-i.days_overdue, i.asset_id, i.advisory_id, i.package))


def due_buckets(decisions: Iterable[Decision], today: date) -> dict[str, int]:
    """Open findings per bucket of :data:`DUE_BUCKETS` (ignored ones are left out)."""
    counts = dict.fromkeys(DUE_BUCKETS, 0)
    for d in decisions:
        if d.action is Action.IGNORE:
            continue
        if d.due is None:
            bucket = "no date"
        elif d.due < today:
            bucket = "overdue"
        elif d.due <= today + timedelta(days=7):
            bucket = "due in 7 days"
        elif d.due <= today + timedelta(days=30):
            bucket = "due in 30 days"
        else:
            bucket = "later"
        counts[bucket] += 1
    return counts


@dataclass(frozen=True)
class Snapshot:
    """One assessment as SLA tracking sees it: when, and the open findings' severities."""

    at: datetime
    open: Mapping[FindingKey, Severity]


def first_seen(snapshots: Sequence[Snapshot]) -> dict[FindingKey, datetime]:
    """When each finding open in the last snapshot was first seen, in its current streak.

    A finding that was fixed and came back starts a new streak: its SLA starts again.
    """
    seen: dict[FindingKey, datetime] = {}
    for snap in sorted(snapshots, key=lambda s: s.at):
        seen = {key: seen.get(key, snap.at) for key in snap.open}
    return seen


@dataclass(frozen=True, kw_only=True)
class MttrRow:
    """Mean time to remediate for one environment and severity."""

    env: str
    severity: str
    remediated: int
    mean_days: float


def mean_time_to_remediate(
    snapshots: Sequence[Snapshot], env_of: Mapping[str, str]
) -> list[MttrRow]:
    """Mean time from first seen to gone, per environment and severity, over snapshots.

    Args:
        snapshots: Assessments in any order; sorted by time here.
        env_of: Environment of each asset; assets not in it count as ``"unknown"``.

    Returns:
        One row per (environment, severity) with at least one remediated finding, sorted.

    Example:
        >>> t = datetime(2026, 11, 1)
        >>> key = ("web-1", "A-1", "openssl")
        >>> snaps = [Snapshot(t, {key: Severity.HIGH}), Snapshot(t + timedelta(days=3), {})]
        >>> mean_time_to_remediate(snaps, {"web-1": "prod"})[0].mean_days
        3.0
    """
    ordered = sorted(snapshots, key=lambda s: s.at)
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    since: dict[FindingKey, tuple[datetime, Severity]] = {}
    for snap in ordered:
        for key, (start, severity) in list(since.items()):
            if key not in snap.open:
                env = env_of.get(key[0], "unknown")
                days = (snap.at - start).total_seconds() / 86400
                durations[(env, severity.value)].append(days)
                del since[key]
        for key, severity in snap.open.items():
            since.setdefault(key, (snap.at, severity))
    return [
        MttrRow(
            env=env,
            severity=severity,
            remediated=len(values),
            mean_days=round(sum(values) / len(values), 2),
        )
        for (env, severity), values in sorted(durations.items())
    ]
