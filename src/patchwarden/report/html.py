"""The HTML report: one self-contained file, readable offline and printable.

The template does the layout; this module prepares what the template should not compute:
the plain-words summary, the KPI tiles, the charts, and the order of the assets (the ones
with problems first, because those are what a reader opens the report for).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import jinja2
from markupsafe import Markup

from patchwarden.report import charts
from patchwarden.report.model import (
    SEVERITIES,
    AssetReport,
    EnvCompliance,
    FindingRow,
    OwnerRow,
    ReportData,
)

__all__ = ["Chart", "Kpi", "narrative", "render_html"]


@dataclass(frozen=True)
class Kpi:
    """One headline tile: a label, a big value, a note under it, and a tone for the border."""

    label: str
    value: str
    note: str = ""
    tone: str = "neutral"  # good, bad or neutral; the note says the same in words


@dataclass(frozen=True)
class Chart:
    """A chart section: its ``data-chart`` name, heading and ``<svg>``."""

    name: str
    heading: str
    svg: Markup


def _count(n: int, singular: str, plural: str = "") -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _open_kev(data: ReportData) -> int:
    return sum(1 for a in data.assets for f in a.open_findings if f.kev)


def narrative(data: ReportData) -> str:
    """The executive summary in plain words, generated from the numbers.

    Args:
        data: The report.

    Returns:
        A short paragraph, e.g. "42 of 63 assets compliant after the campaign (was 12). ...".
    """
    s = data.summary
    if s.assets == 0:
        return "This report covers no assets."
    parts: list[str] = []
    if data.campaign is not None:
        parts.append(f"Campaign \u201c{data.campaign.name}\u201d {data.campaign.state}.")
        parts.append(
            f"{s.compliant_after} of {_count(s.assets, 'asset')} compliant after the campaign"
            f" (was {s.compliant_before})."
        )
    else:
        parts.append(f"{s.compliant_after} of {_count(s.assets, 'asset')} compliant.")
    before, after = s.findings_open_before, s.findings_open_after
    if after < before:
        findings = f"Open findings fell from {before} to {after}"
    elif after > before:
        findings = f"Open findings rose from {before} to {after}"
    else:
        findings = f"Open findings stayed at {after}"
    emergency = (
        _count(s.emergency, "emergency patch", "emergency patches")
        if s.emergency
        else ("no emergency patches")
    )
    parts.append(f"{findings}; {emergency}.")
    if data.campaign is not None:
        outcome = [_count(s.patched_units, "unit") + " patched"]
        if s.failed_units:
            outcome.append(f"{s.failed_units} failed")
        if s.rolled_back_units:
            outcome.append(f"{s.rolled_back_units} rolled back")
        parts.append(", ".join(outcome) + ".")
    if s.provider_owned:
        verb = "is" if s.provider_owned == 1 else "are"
        parts.append(f"{_count(s.provider_owned, 'asset')} {verb} the provider's responsibility.")
    kev = _open_kev(data)
    if kev:
        verb = "is" if kev == 1 else "are"
        parts.append(f"{_count(kev, 'open finding')} {verb} known to be exploited (CISA KEV).")
    if data.overdue:
        verb = "is" if len(data.overdue) == 1 else "are"
        whose = "its" if len(data.overdue) == 1 else "their"
        parts.append(
            f"{_count(len(data.overdue), 'open finding')} {verb} past {whose} SLA due date."
        )
    return " ".join(parts)


def _kpis(data: ReportData) -> list[Kpi]:
    s = data.summary
    compliant_tone = "good" if s.compliant_after > s.compliant_before else "neutral"
    if s.assets and s.compliant_after == s.assets:
        compliant_tone = "good"
    tiles = [
        Kpi(
            "Compliant assets",
            f"{s.compliant_after} / {s.assets}",
            f"was {s.compliant_before}",
            compliant_tone,
        ),
        Kpi(
            "Open findings",
            str(s.findings_open_after),
            f"was {s.findings_open_before}",
            "good" if s.findings_open_after < s.findings_open_before else "neutral",
        ),
        Kpi("Emergency patches", str(s.emergency), "findings patched out of cycle"),
    ]
    if data.campaign is not None:
        trouble = s.failed_units + s.rolled_back_units
        tiles.append(
            Kpi(
                "Units patched",
                str(s.patched_units),
                f"{s.failed_units} failed, {s.rolled_back_units} rolled back",
                "bad" if trouble else "good",
            )
        )
    kev = _open_kev(data)
    tiles.append(
        Kpi("Known exploited, open", str(kev), "findings in CISA KEV", "bad" if kev else "good")
    )
    if data.baselines or data.overdue:
        late = len(data.overdue)
        tiles.append(
            Kpi("Overdue", str(late), "open past the SLA due date", "bad" if late else "good")
        )
    tiles.append(
        Kpi("Provider's responsibility", str(s.provider_owned), f"of {_count(s.assets, 'asset')}")
    )
    return tiles


def _env_rows(data: ReportData) -> list[EnvCompliance]:
    # Promotion order reads left to right; environments missing from it go last, by name.
    rank = {env: i for i, env in enumerate(data.environments)}
    return sorted(data.compliance_by_env, key=lambda r: (rank.get(r.env, len(rank)), r.env))


def _charts(data: ReportData) -> list[Chart]:
    return [
        Chart(
            "compliance-by-env",
            "Compliance by environment",
            charts.compliance_chart(_env_rows(data)),
        ),
        Chart(
            "findings-by-severity",
            "Open findings by severity",
            charts.severity_chart(data.findings_by_severity),
        ),
        Chart(
            "sla-burndown", "Open findings over the campaign", charts.burndown_chart(data.burndown)
        ),
        Chart("riskiest-assets", "Riskiest assets", charts.risk_chart(data.riskiest_assets)),
        Chart("decisions", "Decisions", charts.decisions_chart(data.decisions_by_action)),
        Chart("sla-due", "Open findings by SLA due date", charts.due_chart(data.due_buckets)),
        Chart(
            "patch-states",
            "Baseline patches by state",
            charts.patch_state_chart(data.patch_states),
        ),
    ]


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _asset_key(asset: AssetReport) -> tuple[int, int, int, str]:
    if asset.troubled:
        rank = 0
    elif not asset.compliant:
        rank = 1
    elif asset.open_findings:
        rank = 2
    else:
        rank = 3
    worst = min((_severity_rank(f.severity) for f in asset.open_findings), default=99)
    return (rank, worst, -len(asset.open_findings), asset.asset_id)


def _finding_key(finding: FindingRow) -> tuple[bool, int, float, str]:
    return (
        not finding.is_open,
        _severity_rank(finding.severity),
        -(finding.cvss or 0.0),
        finding.advisory_id,
    )


def _owners(rows: Sequence[OwnerRow]) -> list[tuple[str, list[OwnerRow]]]:
    groups: dict[str, list[OwnerRow]] = {}
    for row in sorted(rows, key=lambda r: (r.env, r.asset_id)):
        groups.setdefault(row.owner, []).append(row)
    order = ["provider", "customer"]
    return sorted(groups.items(), key=lambda g: (order.index(g[0]) if g[0] in order else 2, g[0]))


def _when(at: datetime | None) -> str:
    return "\u2014" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(at: datetime | None) -> str:
    return "" if at is None else at.isoformat()


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "\u2014"
    minutes = max(int((end - start).total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _slug(text: str) -> str:
    # For CSS class names only; the visible text is always the original, escaped.
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _words(text: str) -> str:
    return text.replace("_", " ")


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("patchwarden.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(when=_when, iso=_iso, slug=_slug, words=_words)
    env.globals["duration"] = _duration
    return env


def render_html(data: ReportData) -> str:
    """Render the report as one self-contained HTML page.

    The page has no external resources: styles and the tiny script are inline, charts are
    inline SVG, and every value from ``data`` is HTML-escaped.

    Args:
        data: The report.

    Returns:
        The HTML document.
    """
    assets = [
        (a, sorted(a.findings, key=_finding_key)) for a in sorted(data.assets, key=_asset_key)
    ]
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            narrative=narrative(data),
            kpis=_kpis(data),
            charts=_charts(data),
            owners=_owners(data.responsibility),
            assets=assets,
        )
    )
