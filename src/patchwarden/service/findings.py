"""Findings of the latest assessment for the API: filtered, paged, as rows or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from patchwarden.store import Store

__all__ = [
    "FINDING_FIELDS",
    "SEVERITY_ORDER",
    "Exposure",
    "FindingFilter",
    "FindingRow",
    "FindingsPage",
    "exposure",
    "exposure_matrix",
    "find",
    "to_csv",
]

FINDING_FIELDS = (
    "asset_id",
    "env",
    "package",
    "installed",
    "fixed",
    "advisory_id",
    "severity",
    "decision",
    "reason",
)
"""The columns of a finding row, in order (the CSV header)."""


@dataclass(frozen=True)
class FindingRow:
    """One finding with the environment of its asset and the decision taken on it."""

    asset_id: str
    env: str
    package: str
    installed: str
    fixed: str | None
    advisory_id: str
    severity: str
    decision: str
    reason: str


@dataclass(frozen=True)
class FindingFilter:
    """Which findings to return; empty tuples and ``None`` do not filter."""

    severity: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    decision: tuple[str, ...] = ()
    asset_id: str | None = None
    advisory_id: str | None = None


@dataclass(frozen=True)
class FindingsPage:
    """One page of findings: ``total`` counts every match, ``items`` this page's."""

    assessment_id: int | None
    total: int
    page: int
    per_page: int
    items: tuple[FindingRow, ...]


def find(
    store: Store,
    where: FindingFilter,
    *,
    environments: Sequence[str] = (),
    page: int = 1,
    per_page: int = 50,
) -> FindingsPage:
    """Findings of the latest assessment matching ``where``, within ``environments``.

    ``environments`` empty means all (a grant limited to some sees only theirs). Pages
    count from 1; a page past the end is empty.
    """
    latest = store.latest_assessment_id()
    if latest is None:
        return FindingsPage(None, 0, page, per_page, ())
    env_of = store.assessment_env_of(latest)
    asset_ids: list[str] | None = None
    if environments or where.env:
        asset_ids = [
            asset
            for asset, env in env_of.items()
            if (not environments or env in environments) and (not where.env or env in where.env)
        ]
    if where.asset_id is not None:
        inside = asset_ids is None or where.asset_id in asset_ids
        asset_ids = [where.asset_id] if inside else []
    total, records = store.findings_page(
        latest,
        severities=where.severity,
        decisions=where.decision,
        asset_ids=asset_ids,
        advisory_id=where.advisory_id,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    rows = tuple(
        FindingRow(
            f.asset_id,
            env_of.get(f.asset_id, ""),
            f.package,
            f.installed,
            f.fixed,
            f.advisory_id,
            f.severity,
            f.decision,
            f.reason,
        )  # fmt: skip
        for f in records
    )
    return FindingsPage(latest, total, page, per_page, rows)


def to_csv(rows: Sequence[FindingRow]) -> str:
    """Rows as CSV with a header line (:data:`FINDING_FIELDS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FINDING_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return out.getvalue()


SEVERITY_ORDER = ("critical", "high", "medium", "low", "none", "unknown")
"""Severities, worst first, as the overview shows them (others follow by name)."""


@dataclass(frozen=True)
class Exposure:
    """Findings counted by environment and severity, with the assets that have any."""

    assessment_id: int | None
    severities: tuple[str, ...]
    environments: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    """env -> severity -> findings."""
    assets: dict[str, int]
    """env -> assets with at least one finding."""


def exposure_matrix(
    assessment_id: int | None,
    rows: Sequence[tuple[str, str, int]],
    env_of: Mapping[str, str],
    environments: Sequence[str] = (),
) -> Exposure:
    """Fold ``(asset, severity, count)`` rows into counts per environment and severity.

    Rules: an asset's environment is what the assessment recorded (``?`` if none); a
    grant limited to ``environments`` sees only those; severities go worst first
    (:data:`SEVERITY_ORDER`), environments in promotion order where known, else by name.

    Example:
        >>> e = exposure_matrix(1, [("a", "high", 2), ("b", "critical", 1), ("b", "high", 1)],
        ...                     {"a": "prod", "b": "dev"})
        >>> e.environments, e.severities, e.counts["dev"], e.assets
        (('dev', 'prod'), ('critical', 'high'), {'critical': 1, 'high': 1}, {'dev': 1, 'prod': 1})
    """
    counts: dict[str, dict[str, int]] = {}
    assets: dict[str, set[str]] = {}
    for asset, severity, n in rows:
        env = env_of.get(asset, "?")
        if environments and env not in environments:
            continue
        by_sev = counts.setdefault(env, {})
        by_sev[severity] = by_sev.get(severity, 0) + n
        assets.setdefault(env, set()).add(asset)
    seen = {s for by_sev in counts.values() for s in by_sev}
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    severities = tuple(sorted(seen, key=lambda s: (rank.get(s, len(rank)), s)))
    order = {e: i for i, e in enumerate(("dev", "qa", "staging", "prod"))}
    envs = tuple(sorted(counts, key=lambda e: (order.get(e, len(order)), e)))
    return Exposure(
        assessment_id,
        severities,
        envs,
        {e: counts[e] for e in envs},
        {e: len(assets[e]) for e in envs},
    )


def exposure(store: Store, *, environments: Sequence[str] = ()) -> Exposure:
    """The latest assessment's findings by environment and severity (see above)."""
    latest = store.latest_assessment_id()
    if latest is None:
        return exposure_matrix(None, [], {}, environments)
    rows = store.severity_counts(latest)
    return exposure_matrix(latest, rows, store.assessment_env_of(latest), environments)
