"""The CSV and JSON forms of a report, for spreadsheets and for other programs.

The CSV is a version-tracking sheet: one row per asset and finding. An asset without
findings still gets one row (with the finding columns empty), so every asset shows up in a
filtered spreadsheet. The JSON is the whole :class:`~patchwarden.report.model.ReportData`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from patchwarden.report.model import AssetReport, FindingRow, ReportData

__all__ = ["CSV_COLUMNS", "JSON_FORMAT_VERSION", "render_csv", "render_json", "to_jsonable"]

CSV_COLUMNS: tuple[str, ...] = (
    "asset_id",
    "label",
    "env",
    "kind",
    "owner",
    "criticality",
    "compliant",
    "outcome",
    "package",
    "source",
    "installed",
    "fixed",
    "advisory_id",
    "aliases",
    "severity",
    "cvss",
    "kev",
    "decision",
    "reason",
    "state",
    "due",
    "review",
    "baseline",
)
"""The CSV header, in order."""

JSON_FORMAT_VERSION = 1
"""Bumped when a field of the JSON form changes meaning or goes away."""

# A spreadsheet runs a cell that starts with one of these as a formula; asset names and
# reasons come from inventory files and feeds, which we do not fully control.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _row(asset: AssetReport, finding: FindingRow | None) -> list[str]:
    head = [
        asset.asset_id,
        asset.label,
        asset.env,
        asset.kind,
        asset.owner,
        asset.criticality,
        _yes_no(asset.compliant),
        asset.outcome,
    ]
    if finding is None:
        tail = [""] * (len(CSV_COLUMNS) - len(head))
    else:
        tail = [
            finding.package,
            finding.source,
            finding.installed,
            finding.fixed,
            finding.advisory_id,
            " ".join(finding.aliases),
            finding.severity,
            "" if finding.cvss is None else f"{finding.cvss:.1f}",
            _yes_no(finding.kev),
            finding.decision,
            finding.reason,
            finding.state,
            finding.due,
            finding.review,
            asset.baseline,
        ]
    return [_cell(v) for v in head + tail]


def render_csv(data: ReportData) -> str:
    """Render one CSV row per asset and finding, with :data:`CSV_COLUMNS` as the header.

    Rows keep the order of ``data.assets`` and of each asset's findings. Cells that a
    spreadsheet would run as a formula get a leading apostrophe.

    Args:
        data: The report.

    Returns:
        The CSV text (RFC 4180: CRLF line ends, quoted where needed).
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for asset in data.assets:
        for finding in asset.findings or (None,):
            writer.writerow(_row(asset, finding))
    return out.getvalue()


def to_jsonable(value: object) -> Any:
    """Turn report values into JSON types: dataclasses and mappings become objects.

    Tuples become lists and datetimes ISO 8601 strings with their UTC offset.

    Args:
        value: A report value, or any nesting of them.

    Returns:
        Plain dicts, lists, strings, numbers, bools and ``None``.

    Raises:
        TypeError: On a value that has no JSON form.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__}: {value!r}")


def render_json(data: ReportData) -> str:
    """Render the whole report as JSON.

    Keys are sorted, so the same report always gives the same bytes; ``format_version`` says
    which shape of the JSON this is.

    Args:
        data: The report.

    Returns:
        Indented JSON text ending in a newline.
    """
    body = to_jsonable(data)
    body["format_version"] = JSON_FORMAT_VERSION
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
