"""Charts drawn as inline SVG, so a report stays one file that opens offline.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says in words
what the bars say, for screen readers and for people who cannot tell the colours apart. The
colours come from the Okabe-Ito palette, which stays distinct under the common kinds of colour
blindness, and every bar carries a text label as well. Empty or all-zero data draws a
"No data" note instead of dividing by zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from patchwarden.report.model import (
    ACTIONS,
    DUE_BUCKETS,
    PATCH_STATES,
    SEVERITIES,
    BurndownPoint,
    EnvCompliance,
    RiskyAsset,
)

__all__ = [
    "ACTION_COLOURS",
    "SEVERITY_COLOURS",
    "burndown_chart",
    "compliance_chart",
    "decisions_chart",
    "due_chart",
    "patch_state_chart",
    "risk_chart",
    "severity_chart",
]

# Okabe-Ito; black text on each of these passes WCAG AA contrast.
SEVERITY_COLOURS: Mapping[str, str] = {
    "critical": "#D55E00",
    "high": "#E69F00",
    "medium": "#F0E442",
    "low": "#56B4E9",
    "none": "#BBBBBB",
}
ACTION_COLOURS: Mapping[str, str] = {
    "emergency": "#D55E00",
    "next_window": "#0072B2",
    "defer": "#CC79A7",
    "ignore": "#BBBBBB",
}
DUE_COLOURS: Mapping[str, str] = {
    "overdue": "#D55E00",
    "due in 7 days": "#E69F00",
    "due in 30 days": "#F0E442",
    "later": "#56B4E9",
    "no date": "#BBBBBB",
}
STATE_COLOURS: Mapping[str, str] = {
    "missing": "#D55E00",
    "failed": "#D55E00",
    "installed_pending_reboot": "#E69F00",
    "installed_rejected": "#CC79A7",
    "installed": "#009E73",
    "installed_other": "#56B4E9",
    "not_applicable": "#BBBBBB",
    "provider_responsibility": "#999999",
}
_COMPLIANT = "#0072B2"
_NON_COMPLIANT = "#E69F00"
_LINE = "#0072B2"
_RISK = "#CC79A7"
_OTHER = "#999999"
_INK = "#1A1A1A"
_MUTED = "#555555"
_GRID = "#DDDDDD"

_WIDTH = 480
_HEIGHT = 260
_CHAR_W = 6.6  # rough width of one character at 12px, to truncate labels that would overlap
_MAX_RISK_ROWS = 10
_MAX_LABELLED = 12  # burn-down points that still get a number each


def _n(value: float) -> str:
    # Short, stable coordinates: one decimal at most, no trailing zeros.
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _fit(label: str, width: float) -> str:
    room = max(int(width / _CHAR_W), 2)
    return label if len(label) <= room else label[: room - 1] + "…"


class _Svg:
    """Collects escaped SVG elements; only this class turns strings into markup."""

    def __init__(self, name: str, title: str, desc: str, height: int = _HEIGHT) -> None:
        self.name = name
        self.title = title
        self.desc = desc
        self.height = height
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> None:
        tip_el = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(max(h, 0))}"'
            f' fill="{fill}">{tip_el}</rect>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        anchor: str = "middle",
        size: int = 12,
        fill: str = _INK,
        bold: bool = False,
    ) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}"'
            f' fill="{fill}"{weight}>{escape(content)}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = _GRID) -> None:
        self.parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}"/>'
        )

    def raw(self, fragment: str) -> None:
        # Callers escape every piece of text they put in a fragment.
        self.parts.append(fragment)

    def markup(self) -> Markup:
        ident = f"chart-{self.name}"
        head = (
            f'<svg role="img" viewBox="0 0 {_WIDTH}'
            f' {self.height}" aria-labelledby="{ident}-title {ident}-desc"'
            ' font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
            f'<title id="{ident}-title">{escape(self.title)}</title>'
            f'<desc id="{ident}-desc">{escape(self.desc)}</desc>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")


def _no_data(name: str, title: str) -> Markup:
    svg = _Svg(name, title, "No data.", height=120)
    svg.rect(0, 0, _WIDTH, 120, "#F4F4F4")
    svg.text(_WIDTH / 2, 66, "No data", size=14, fill=_MUTED)
    return svg.markup()


def _ticks(top: int) -> list[int]:
    # Whole-number gridlines (counts are whole) at 1, 2 or 5 times a power of ten.
    if top <= 5:
        return list(range(max(top, 1) + 1))
    rough = top / 5
    power = 10 ** math.floor(math.log10(rough))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    step = int(next(m * power for m in steps if m * power >= rough))
    return list(range(0, math.ceil(top / step) * step + 1, step))


def _ordered(counts: Mapping[str, int], canon: Sequence[str]) -> list[tuple[str, int]]:
    # The canonical categories always show, even at zero, so charts look alike across reports.
    extra = sorted(k for k in counts if k not in canon)
    return [(k, counts.get(k, 0)) for k in (*canon, *extra)]


def _columns(svg: _Svg, bars: Sequence[tuple[str, Sequence[tuple[int, str]], str]]) -> None:
    """Draw stacked columns: each bar is (label, segments bottom-up as (value, colour), top)."""
    left, right, top_y, base_y = 44.0, _WIDTH - 12.0, 44.0, _HEIGHT - 40.0
    ticks = _ticks(max(sum(v for v, _ in segs) for _, segs, _ in bars))
    scale = (base_y - top_y) / ticks[-1]
    for tick in ticks:
        y = base_y - tick * scale
        svg.line(left, y, right, y)
        svg.text(left - 6, y + 4, str(tick), anchor="end", size=11, fill=_MUTED)
    slot = (right - left) / len(bars)
    width = min(56.0, slot * 0.6)
    for i, (label, segments, top_text) in enumerate(bars):
        x = left + slot * i + (slot - width) / 2
        y = base_y
        for value, colour in segments:
            svg.rect(x, y - value * scale, width, value * scale, colour, f"{label}: {value}")
            y -= value * scale
        svg.text(x + width / 2, y - 6, top_text, bold=True)
        svg.text(x + width / 2, base_y + 18, _fit(label, slot))
    svg.line(left, base_y, right, base_y, _MUTED)


def _bar_chart(
    name: str,
    title: str,
    counts: Mapping[str, int],
    canon: Sequence[str],
    colours: Mapping[str, str],
) -> Markup:
    items = _ordered(counts, canon)
    if sum(v for _, v in items) == 0:
        return _no_data(name, title)
    desc = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in items) + "."
    svg = _Svg(name, title, desc)
    _columns(svg, [(k.replace("_", " "), [(v, colours.get(k, _OTHER))], str(v)) for k, v in items])
    return svg.markup()


def severity_chart(counts: Mapping[str, int]) -> Markup:
    """Columns of open findings per severity, worst first.

    Args:
        counts: Findings per severity name; names outside :data:`SEVERITIES` go last.

    Returns:
        The ``<svg>`` element.
    """
    return _bar_chart(
        "findings-by-severity", "Open findings by severity", counts, SEVERITIES, SEVERITY_COLOURS
    )


def decisions_chart(counts: Mapping[str, int]) -> Markup:
    """Columns of findings per decided action, most urgent first.

    Args:
        counts: Findings per action name; names outside :data:`ACTIONS` go last.

    Returns:
        The ``<svg>`` element.
    """
    return _bar_chart("decisions", "Decisions by action", counts, ACTIONS, ACTION_COLOURS)


def due_chart(counts: Mapping[str, int]) -> Markup:
    """Columns of open findings per SLA bucket: overdue first, then by how soon they are due.

    Args:
        counts: Findings per bucket name (see :data:`DUE_BUCKETS`).

    Returns:
        The ``<svg>`` element.
    """
    # Short labels for five columns; the description and tooltips keep the bucket's words.
    short = {"due in 7 days": "≤ 7 days", "due in 30 days": "≤ 30 days"}
    return _bar_chart(
        "sla-due",
        "Open findings by SLA due date",
        {short.get(k, k): v for k, v in counts.items()},
        tuple(short.get(k, k) for k in DUE_BUCKETS),
        {short.get(k, k): c for k, c in DUE_COLOURS.items()},
    )


def patch_state_chart(counts: Mapping[str, int]) -> Markup:
    """Columns of patches per baseline compliance state, problems first.

    Args:
        counts: Patches per state name (see :data:`PATCH_STATES`).

    Returns:
        The ``<svg>`` element.
    """
    # Short labels: the long state names would overlap under eight narrow columns.
    short = {
        "installed_pending_reboot": "reboot",
        "installed_rejected": "rejected",
        "installed_other": "other",
        "not_applicable": "n/a",
        "provider_responsibility": "provider",
    }
    labelled = {short.get(k, k): v for k, v in counts.items()}
    canon = tuple(short.get(k, k) for k in PATCH_STATES)
    colours = {short.get(k, k): c for k, c in STATE_COLOURS.items()}
    return _bar_chart(
        "patch-states", "Baseline patches by compliance state", labelled, canon, colours
    )


def compliance_chart(rows: Sequence[EnvCompliance]) -> Markup:
    """Stacked columns per environment: compliant below, not compliant on top.

    Args:
        rows: One row per environment, in the order to draw them.

    Returns:
        The ``<svg>`` element.
    """
    title = "Compliance by environment"
    if not rows or all(r.total == 0 for r in rows):
        return _no_data("compliance-by-env", title)
    desc = "; ".join(f"{r.env}: {r.compliant} of {r.total} assets compliant" for r in rows) + "."
    svg = _Svg("compliance-by-env", title, desc)
    bars = [
        (
            r.env,
            [(r.compliant, _COMPLIANT), (r.total - r.compliant, _NON_COMPLIANT)],
            f"{r.compliant}/{r.total}",
        )
        for r in rows
    ]
    _columns(svg, bars)
    for i, (text, colour) in enumerate(
        (("compliant", _COMPLIANT), ("not compliant", _NON_COMPLIANT))
    ):
        x = 50 + i * 110
        svg.rect(x, 8, 12, 12, colour)
        svg.text(x + 17, 18, text, anchor="start", size=11)
    return svg.markup()


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%d %b %H:%M")


def burndown_chart(points: Sequence[BurndownPoint]) -> Markup:
    """A step line of open findings over the campaign's time.

    Args:
        points: Open findings at moments of the campaign; drawn in time order.

    Returns:
        The ``<svg>`` element.
    """
    title = "Open findings over the campaign (SLA burn-down)"
    if not points:
        return _no_data("sla-burndown", title)
    pts = sorted(points, key=lambda p: p.at)
    desc = "; ".join(f"{p.label or _when(p.at)}: {p.open_findings} open" for p in pts) + "."
    svg = _Svg("sla-burndown", title, desc)
    left, right, top_y, base_y = 44.0, _WIDTH - 24.0, 24.0, _HEIGHT - 40.0
    ticks = _ticks(max(p.open_findings for p in pts))
    scale = (base_y - top_y) / ticks[-1]
    for tick in ticks:
        y = base_y - tick * scale
        svg.line(left, y, right, y)
        svg.text(left - 6, y + 4, str(tick), anchor="end", size=11, fill=_MUTED)
    t0, t1 = pts[0].at.timestamp(), pts[-1].at.timestamp()
    span = t1 - t0

    def x_of(p: BurndownPoint) -> float:
        # One point, or all at one instant: centre them rather than divide by a zero span.
        return (
            (left + right) / 2
            if span == 0
            else left + (p.at.timestamp() - t0) / span * (right - left)
        )

    def y_of(p: BurndownPoint) -> float:
        return base_y - p.open_findings * scale

    # Findings stay open until the next measurement, so the line steps rather than slopes.
    path = f"M{_n(x_of(pts[0]))},{_n(y_of(pts[0]))}"
    for p in pts[1:]:
        path += f"H{_n(x_of(p))}V{_n(y_of(p))}"
    svg.raw(f'<path d="{path}" fill="none" stroke="{_LINE}" stroke-width="2.5"/>')
    for i, p in enumerate(pts):
        x, y = x_of(p), y_of(p)
        tip = f"{p.label + ': ' if p.label else ''}{p.open_findings} open at {_when(p.at)} UTC"
        svg.raw(
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="4" fill="{_LINE}">'
            f"<title>{escape(tip)}</title></circle>"
        )
        # The step line arrives from above and leaves to the right, so a label above-right
        # stays clear of it. The last point sits at the right edge: label it to the left,
        # below the point unless that would run into the time axis.
        value = str(p.open_findings)
        # Many points (one per patched host) would print their numbers over each other:
        # then only the first and last are labelled; every point keeps its tooltip.
        if len(pts) > _MAX_LABELLED and 0 < i < len(pts) - 1:
            continue
        if not span or i < len(pts) - 1:
            svg.text(x + 6, y - 8, value, anchor="start", bold=True)
        elif y + 16 < base_y - 4:
            svg.text(x - 7, y + 16, value, anchor="end", bold=True)
        else:
            svg.text(x - 7, y - 8, value, anchor="end", bold=True)
    svg.line(left, base_y, right, base_y, _MUTED)
    svg.text(left, base_y + 18, _when(pts[0].at), anchor="start", size=11, fill=_MUTED)
    if span:
        svg.text(right, base_y + 18, _when(pts[-1].at), anchor="end", size=11, fill=_MUTED)
    svg.text(_WIDTH / 2, base_y + 34, "time (UTC)", size=11, fill=_MUTED)
    return svg.markup()


def risk_chart(rows: Sequence[RiskyAsset]) -> Markup:
    """Horizontal bars of the riskiest assets, each linking to its drill-down.

    Args:
        rows: Assets, riskiest first; only the first ten are drawn.

    Returns:
        The ``<svg>`` element.
    """
    title = "Riskiest assets"
    if not rows:
        return _no_data("riskiest-assets", title)
    shown = rows[:_MAX_RISK_ROWS]
    desc = "; ".join(f"{r.label}: score {r.score:g} ({r.reason})" for r in shown) + "."
    row_h = 24
    svg = _Svg("riskiest-assets", title, desc, height=16 + row_h * len(shown))
    label_w, right = 150.0, _WIDTH - 56.0
    top = max(max(r.score for r in shown), 0.0)
    for i, r in enumerate(shown):
        y = 8 + i * row_h
        length = 0.0 if top == 0 else max(r.score, 0.0) / top * (right - label_w)
        tip = f"{r.label} ({r.asset_id}): {r.reason}"
        svg.raw(f'<a href="#asset-{escape(r.asset_id)}">')
        svg.text(label_w - 8, y + 15, _fit(r.label, label_w - 8), anchor="end")
        svg.rect(label_w, y + 3, length, row_h - 6, _RISK, tip)
        svg.text(label_w + length + 6, y + 15, f"{r.score:.1f}", anchor="start", bold=True)
        svg.raw("</a>")
    svg.line(label_w, 4, label_w, 12 + row_h * len(shown), _MUTED)
    return svg.markup()
