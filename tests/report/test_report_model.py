from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from patchwarden.report.model import (
    BurndownPoint,
    EnvCompliance,
    FindingRow,
    ReportData,
    RiskyAsset,
    StepRow,
    Summary,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ReportData(title="t", generated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        BurndownPoint(datetime(2026, 1, 1), 3)
    with pytest.raises(ValueError, match="started_at"):
        StepRow(step_id="s", action="a", target="t", status="ok", started_at=datetime(2026, 1, 1))


def test_count_mappings_are_copied_and_read_only() -> None:
    counts = {"critical": 1}
    data = ReportData(title="t", generated_at=NOW, findings_by_severity=counts)
    counts["critical"] = 99
    assert data.findings_by_severity["critical"] == 1
    with pytest.raises(TypeError):
        data.findings_by_severity["high"] = 2  # type: ignore[index]  # wrong on purpose: the test checks it is refused


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        Summary(assets_by_kind={"vm": -1})
    with pytest.raises(ValueError, match="compliant"):
        EnvCompliance("prod", 5, 3)


def test_risk_scores_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        RiskyAsset(asset_id="a", label="a", score=float("nan"), reason="")


def test_values_are_frozen_and_keyword_only() -> None:
    data = ReportData(title="t", generated_at=NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.title = "other"  # type: ignore[misc]  # wrong on purpose: the test checks it is refused
    with pytest.raises(TypeError):
        FindingRow("ADV-1", (), "pkg", "1", "", "high", None, False, "defer", "", "open")  # type: ignore[misc]  # wrong on purpose: the test checks it is refused


def test_finding_open_and_asset_trouble(sample: ReportData) -> None:
    rolled_back = next(a for a in sample.assets if a.outcome == "rolled back")
    assert rolled_back.troubled
    assert all(f.is_open for f in rolled_back.open_findings)
    calm = next(a for a in sample.assets if a.outcome == "provider's responsibility")
    assert not calm.troubled
    assert calm.open_findings == ()


def test_sample_is_consistent(sample: ReportData) -> None:
    s = sample.summary
    assert s.assets == len(sample.assets) == 20
    assert len(sample.environments) == 4
    assert len({a.kind for a in sample.assets}) >= 6
    assert sum(s.assets_by_kind.values()) == s.assets
    assert {f.severity for a in sample.assets for f in a.findings} >= {
        "critical",
        "high",
        "medium",
        "low",
        "none",
    }
    assert sample.campaign is not None
    assert len(sample.campaign.waves) == 3
    assert s.rolled_back_units == 1
    assert [a.outcome for a in sample.assets].count("rolled back") == 1
    assert sum(r.total for r in sample.compliance_by_env) == s.assets
    assert sum(r.compliant for r in sample.compliance_by_env) == s.compliant_after
    assert sum(sample.findings_by_severity.values()) == s.findings_open_after
    assert sample.burndown[0].open_findings == s.findings_open_before
    assert sample.burndown[-1].open_findings == s.findings_open_after
    assert [r.score for r in sample.riskiest_assets] == sorted(
        (r.score for r in sample.riskiest_assets), reverse=True
    )
