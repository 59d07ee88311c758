from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from patchwarden.report.charts import (
    burndown_chart,
    compliance_chart,
    decisions_chart,
    risk_chart,
    severity_chart,
)
from patchwarden.report.model import BurndownPoint, EnvCompliance, RiskyAsset

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _numbers(svg: str) -> list[float]:
    return [float(v) for v in re.findall(r'(?:x|y|width|height|cx|cy)\d?="(-?[\d.]+)"', svg)]


def _sane(svg: str) -> None:
    assert svg.startswith('<svg role="img"') and svg.endswith("</svg>")
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    assert all(v >= 0 for v in _numbers(svg))


def test_severity_chart_shows_every_severity_in_order() -> None:
    svg = str(severity_chart({"low": 2, "critical": 1, "weird": 1}))
    _sane(svg)
    labels = re.findall(r'font-size="12" fill="#1A1A1A">([a-z ]+)</text>', svg)
    assert labels == ["critical", "high", "medium", "low", "none", "weird"]
    assert "critical: 1" in svg  # bar tooltips name the value


def test_decisions_chart_words_not_identifiers() -> None:
    svg = str(decisions_chart({"next_window": 3}))
    assert ">next window<" in svg
    assert "next_window" not in svg


def test_single_burndown_point_is_centred() -> None:
    svg = str(burndown_chart([BurndownPoint(T0, 7, "start")]))
    _sane(svg)
    assert 'cx="250"' in svg  # the middle of the plot, not a division by a zero span


def test_burndown_sorts_points_and_steps_down() -> None:
    later = BurndownPoint(T0 + timedelta(hours=2), 0, "end")
    svg = str(burndown_chart([later, BurndownPoint(T0, 4, "start")]))
    _sane(svg)
    path = re.search(r'<path d="([^"]+)"', svg)
    assert path is not None and path.group(1).startswith("M44,")
    assert "start: 4 open" in svg and "end: 0 open" in svg


def test_risk_chart_links_to_drill_down_and_handles_zero_scores() -> None:
    rows = [RiskyAsset(asset_id="a", label="A", score=0, reason="none open")]
    svg = str(risk_chart(rows))
    _sane(svg)
    assert '<a href="#asset-a">' in svg
    assert 'width="0"' in svg


def test_risk_chart_draws_at_most_ten_rows() -> None:
    rows = [RiskyAsset(asset_id=f"a{i}", label=f"A{i}", score=20 - i, reason="") for i in range(15)]
    assert str(risk_chart(rows)).count("<a href=") == 10


def test_long_labels_are_truncated_but_kept_in_tooltips() -> None:
    label = "a-very-long-asset-name-that-would-run-over-the-bars"
    svg = str(risk_chart([RiskyAsset(asset_id="x", label=label, score=1, reason="r")]))
    assert "…</text>" in svg
    assert f"<title>{label} (x): r</title>" in svg


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 500)).map(
            lambda t: EnvCompliance("env", min(t), max(t))
        ),
        max_size=8,
    )
)
def test_compliance_chart_never_breaks(rows: list[EnvCompliance]) -> None:
    svg = str(compliance_chart(rows))
    _sane(svg)
    if not any(r.total for r in rows):
        assert "No data" in svg


@given(st.dictionaries(st.sampled_from(["critical", "high", "x"]), st.integers(0, 10**6)))
def test_bar_charts_never_break(counts: dict[str, int]) -> None:
    for svg in (str(severity_chart(counts)), str(decisions_chart(counts))):
        _sane(svg)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**5)), max_size=12))
def test_burndown_never_breaks(raw: list[tuple[int, int]]) -> None:
    points = [BurndownPoint(T0 + timedelta(seconds=s), n) for s, n in raw]
    _sane(str(burndown_chart(points)))
