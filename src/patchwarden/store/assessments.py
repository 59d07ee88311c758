"""Assessments and their findings: written once, read back by id or as the latest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from patchwarden.store.records import AssessmentRecord, FindingRecord
from patchwarden.store.tables import AssessedPackages, Assessment, Finding, PackageSet
from patchwarden.store.values import JsonText, checked_json, chunked

__all__ = [
    "assessed_packages",
    "assessment_env_of",
    "findings_for",
    "findings_page",
    "get_assessment",
    "latest_assessment",
    "latest_assessment_id",
    "package_digest",
    "record_assessment",
    "severity_counts",
]

_FINDINGS = cast(Table, Finding.__table__)
_SETS = cast(Table, PackageSet.__table__)
_ASSESSED = cast(Table, AssessedPackages.__table__)

_REQUIRED = ("asset_id", "package", "advisory_id")
_OPTIONAL = ("installed", "severity", "decision", "reason")  # default to ""


def _text(finding: Mapping[str, Any], key: str, index: int, default: str | None) -> str | None:
    value = finding.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"finding {index}: {key} must be a string, not {value!r}")
    return str(value)  # plain str: StrEnum members become their value


def _finding_row(finding: Mapping[str, Any], index: int) -> dict[str, Any]:
    missing = [key for key in _REQUIRED if key not in finding]
    if missing:
        raise ValueError(f"finding {index} lacks {missing}")
    row: dict[str, Any] = {key: _text(finding, key, index, "") for key in (*_REQUIRED, *_OPTIONAL)}
    row["fixed"] = _text(finding, "fixed", index, None)
    row["data"] = checked_json(dict(finding), f"finding {index}")
    return row


def package_digest(packages: Mapping[str, str]) -> tuple[str, str]:
    """The content hash of one asset's packages and the canonical JSON it hashes.

    Keys sorted, no spaces: the same packages give the same digest whatever their order.

    Example:
        >>> digest, text = package_digest({"zlib1g": "1:1.2.13", "bash": "5.2.15-2"})
        >>> text
        '{"bash":"5.2.15-2","zlib1g":"1:1.2.13"}'
        >>> digest == package_digest({"bash": "5.2.15-2", "zlib1g": "1:1.2.13"})[0]
        True
    """
    text = orjson.dumps(packages, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest(), text.decode()


_STR = {str}


def _record_packages(
    session: Session, assessment_id: int, packages: Mapping[str, Mapping[str, str]]
) -> None:
    """Each asset's package set, stored once per content; the assessment points at them."""
    connection = session.connection()
    for chunk in chunked(packages.items()):
        texts: dict[str, str] = {}
        rows = []
        for asset_id, installed in chunk:
            # The types met, gathered in C: a fleet's sets are millions of pairs.
            if (
                not set(map(type, installed)) <= _STR
                or not set(map(type, installed.values())) <= _STR
            ):
                raise ValueError(f"packages of {asset_id!r}: names and versions must be strings")
            digest, text = package_digest(installed)
            texts[digest] = text
            rows.append({"assessment_id": assessment_id, "asset_id": asset_id, "digest": digest})
        known = set(
            connection.scalars(select(_SETS.c.digest).where(_SETS.c.digest.in_(list(texts))))
        )
        new = [{"digest": d, "packages": JsonText(t)} for d, t in texts.items() if d not in known]
        if new:
            connection.execute(insert(_SETS), new)
        connection.execute(insert(_ASSESSED), rows)


def assessed_packages(session: Session, assessment_id: int) -> dict[str, dict[str, str]] | None:
    """Each asset's packages as the assessment saw them; ``None`` if it stored none here.

    Assessments recorded before the package tables kept them in their summary instead.
    """
    query = (
        select(_ASSESSED.c.asset_id, _SETS.c.packages)
        .join(_SETS, _SETS.c.digest == _ASSESSED.c.digest)
        .where(_ASSESSED.c.assessment_id == assessment_id)
    )
    found = {asset_id: dict(packages) for asset_id, packages in session.execute(query)}
    return found or None


def record_assessment(
    session: Session,
    summary: Mapping[str, Any],
    findings: Iterable[Mapping[str, Any]],
    now: datetime,
    packages: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Store an assessment and its findings; returns the new assessment's id.

    Each finding is a mapping with at least ``asset_id``, ``package`` and ``advisory_id``;
    ``installed``, ``severity``, ``decision`` and ``reason`` default to ``""`` and ``fixed``
    to ``None`` (no fix known). The whole mapping is also kept as ``data``.

    Findings are read and written a chunk at a time, so a fleet's need not all be in
    memory as rows; a bad one raises, and the caller's transaction stores nothing.
    ``packages`` (asset → name → version, as assessed) go to their own tables, each
    distinct set once (see :func:`package_digest`).

    Raises:
        ValueError: a finding lacks a required key, has a non-string field, or is not JSON.
    """
    rows = (_finding_row(finding, index) for index, finding in enumerate(findings))
    # Core inserts, not ORM objects: the rows carry their JSON as text already (written
    # once), and no object holding that text stays in the session to be read back.
    ident = session.scalars(
        insert(Assessment)
        .values(created_at=now, summary=checked_json(dict(summary), "summary"))
        .returning(Assessment.id)
    ).one()
    for chunk in chunked(rows):
        for row in chunk:
            row["assessment_id"] = ident
        # The table itself, not the mapped class: Core's executemany, no ORM bookkeeping.
        session.connection().execute(insert(_FINDINGS), chunk)
    if packages:
        _record_packages(session, ident, packages)
    return ident


def _record(assessment: Assessment) -> AssessmentRecord:
    return AssessmentRecord(assessment.id, assessment.created_at, assessment.summary)


def latest_assessment(session: Session) -> AssessmentRecord | None:
    """The most recently recorded assessment (ids only grow), or ``None``."""
    query = select(Assessment).order_by(Assessment.id.desc()).limit(1)
    assessment = session.scalars(query).first()
    return None if assessment is None else _record(assessment)


def get_assessment(session: Session, assessment_id: int) -> AssessmentRecord | None:
    """The assessment with this id, or ``None``."""
    assessment = session.get(Assessment, assessment_id)
    return None if assessment is None else _record(assessment)


def _finding(f: Finding) -> FindingRecord:
    return FindingRecord(
        f.assessment_id,
        f.asset_id,
        f.package,
        f.installed,
        f.fixed,
        f.advisory_id,
        f.severity,
        f.decision,
        f.reason,
        f.data,
    )


def findings_for(session: Session, assessment_id: int) -> list[FindingRecord]:
    """The findings of an assessment, in the order they were recorded."""
    query = select(Finding).where(Finding.assessment_id == assessment_id).order_by(Finding.id)
    return [_finding(f) for f in session.scalars(query)]


def latest_assessment_id(session: Session) -> int | None:
    """The id of the most recent assessment, without reading its summary."""
    return session.scalars(select(Assessment.id).order_by(Assessment.id.desc()).limit(1)).first()


def assessment_env_of(session: Session, assessment_id: int) -> dict[str, str]:
    """Each assessed asset's environment (the summary's ``env_of``), alone."""
    query = select(Assessment.summary["env_of"]).where(Assessment.id == assessment_id)
    value = session.scalars(query).first()
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def findings_page(
    session: Session,
    assessment_id: int,
    *,
    severities: Sequence[str] = (),
    decisions: Sequence[str] = (),
    asset_ids: Sequence[str] | None = None,
    advisory_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[int, list[FindingRecord]]:
    """How many findings match, and one page of them in recorded order.

    Filtering, counting and paging happen in the database, so a page costs the same with
    a hundred findings or a million. ``asset_ids`` ``None`` means any asset; empty, none.
    """
    where = [Finding.assessment_id == assessment_id]
    if severities:
        where.append(Finding.severity.in_(severities))
    if decisions:
        where.append(Finding.decision.in_(decisions))
    if asset_ids is not None:
        where.append(Finding.asset_id.in_(asset_ids))
    if advisory_id is not None:
        where.append(Finding.advisory_id == advisory_id)
    total = session.scalar(select(func.count()).select_from(Finding).where(*where)) or 0
    query = select(Finding).where(*where).order_by(Finding.id).limit(limit).offset(offset)
    return total, [_finding(f) for f in session.scalars(query)]


def severity_counts(session: Session, assessment_id: int) -> list[tuple[str, str, int]]:
    """How many findings each asset has of each severity: ``(asset, severity, count)``.

    Counted in the database: one row per asset and severity, however many findings.
    """
    f = Finding
    query = (
        select(f.asset_id, f.severity, func.count())
        .where(f.assessment_id == assessment_id)
        .group_by(f.asset_id, f.severity)
        .order_by(f.asset_id, f.severity)
    )
    return [(str(a), str(s), int(n)) for a, s, n in session.execute(query)]
