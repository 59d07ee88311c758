"""Findings of the latest assessment for the API: filtered, paged, as rows or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from patchwarden.store import Store

__all__ = ["FINDING_FIELDS", "FindingFilter", "FindingRow", "FindingsPage", "find", "to_csv"]

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
