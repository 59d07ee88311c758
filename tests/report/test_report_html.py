from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from markupsafe import escape

from patchwarden.report import narrative, render_html
from patchwarden.report.model import (
    AssetReport,
    CampaignReport,
    EnvCompliance,
    FindingRow,
    OwnerRow,
    ReportData,
    RiskyAsset,
    StepRow,
    Summary,
)

CHARTS = (
    "compliance-by-env",
    "findings-by-severity",
    "sla-burndown",
    "riskiest-assets",
    "decisions",
    "sla-due",
    "patch-states",
)
EVIL = "<script>alert(1)</script>"
Parse = Callable[[str], Any]


def _chart_figures(page: str) -> dict[str, str]:
    found = re.findall(r'<figure class="chart" data-chart="([^"]+)">(.*?)</figure>', page, re.S)
    return dict(found)


def test_sample_page_is_well_formed(sample: ReportData, parse: Parse) -> None:
    page = render_html(sample)
    assert page.startswith("<!doctype html>")
    checker = parse(page)
    assert [t for t, _ in checker.attrs].count("html") == 1
    assert sample.title in "".join(checker.text)


def test_every_chart_is_an_accessible_svg(sample: ReportData, parse: Parse) -> None:
    page = render_html(sample)
    assert parse(page).values("data-chart") == list(CHARTS)
    for name, body in _chart_figures(page).items():
        assert body.count("<svg") == 1, name
        assert 'role="img"' in body, name
        assert re.search(r"<svg[^>]*>\s*<title[^>]*>[^<]+</title>", body), name
        assert "No data" not in body, name


def test_every_asset_has_a_drill_down(sample: ReportData, parse: Parse) -> None:
    page = render_html(sample)
    checker = parse(page)
    details = [
        a["id"]
        for t, a in checker.attrs
        if t == "details" and "asset" in (a["class"] or "").split()
    ]
    assert sorted(details) == sorted(f"asset-{a.asset_id}" for a in sample.assets)
    text = "".join(checker.text)
    for asset in sample.assets:
        assert asset.label in text
        for finding in asset.findings:
            assert finding.advisory_id in text


def test_assets_with_problems_come_first(sample: ReportData) -> None:
    page = render_html(sample)
    order = re.findall(r'<details class="asset[^"]*" id="asset-([^"]+)"', page)
    outcomes = {a.asset_id: a for a in sample.assets}
    assert {outcomes[order[0]].outcome, outcomes[order[1]].outcome} == {"failed", "rolled back"}
    ranks = [0 if outcomes[i].troubled else 1 if not outcomes[i].compliant else 2 for i in order]
    assert ranks == sorted(ranks)
    # Troubled assets are open by default: they are what the reader came for.
    assert re.search(rf'id="asset-{order[0]}" open>', page)


def test_page_loads_nothing_from_outside(sample: ReportData, parse: Parse) -> None:
    page = render_html(sample)
    checker = parse(page)
    assert checker.values("src") == []
    assert all(href.startswith("#") for href in checker.values("href"))
    assert not [t for t, _ in checker.attrs if t in ("link", "img", "iframe", "object")]
    assert "http://" not in page
    assert "https://" not in page
    assert "url(" not in page
    assert "@import" not in page
    assert page.count("<script") == 1  # the one small inline script


def test_campaign_and_responsibility_sections(sample: ReportData) -> None:
    page = render_html(sample)
    assert sample.campaign is not None
    for wave in sample.campaign.waves:
        assert f'<th scope="row">{wave.name}</th>' in page
    assert "Provider <small>(3 assets)</small>" in page
    assert "Customer <small>(17 assets)</small>" in page
    provider = page.index("Provider <small>")
    assert page.index("SaaS: the provider patches everything", provider) < page.index("Customer")


def test_summary_paragraph_and_tiles(sample: ReportData) -> None:
    text = narrative(sample)
    s = sample.summary
    assert f"{s.compliant_after} of {s.assets} assets compliant after the campaign" in text
    assert f"(was {s.compliant_before})" in text
    assert "1 rolled back" in text
    page = render_html(sample)
    assert str(escape(text)) in page
    # Six tiles plus "Overdue", shown once baselines or SLAs are in the report.
    assert page.count('class="kpi ') == 7
    assert "past their SLA due date" in text


def test_service_level_baseline_drift_and_change_sections(sample: ReportData) -> None:
    page = render_html(sample)
    for section in ("sla", "baselines", "changes"):
        assert f'<section id="{section}"' in page and f'href="#{section}"' in page
    first = sample.overdue[0]
    assert f'<a href="#asset-{first.asset_id}">{first.asset_id}</a>' in page
    assert sample.baselines[0].snapshot_id in page
    assert "Mean time to remediate" in page and "12.0" in page
    assert sample.drift[0].reference in page
    resolved = sum(c.change == "resolved" for c in sample.changes)
    assert f"0 new, {resolved} resolved, {sample.still_open} still open." in page


def test_empty_sections_say_so(empty: ReportData) -> None:
    page = render_html(empty)
    assert "Nothing is overdue." in page
    assert "No baselines were checked." in page
    assert "Every group runs the same versions." in page


def test_narrative_without_assets_or_campaign(empty: ReportData) -> None:
    assert narrative(empty) == "This report covers no assets."
    one = dataclasses.replace(empty, summary=Summary(assets=1, compliant_after=1, emergency=1))
    text = narrative(one)
    assert text.startswith("1 of 1 asset compliant.")
    assert "1 emergency patch;" not in text and "1 emergency patch." in text
    assert "campaign" not in text.lower()


def test_everything_is_escaped(parse: Parse) -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    finding = FindingRow(
        advisory_id=EVIL,
        package=EVIL,
        installed='1" onmouseover="x',
        severity="high",
        decision="emergency",
        reason=EVIL,
        state="open",
        aliases=(EVIL,),
    )
    step = StepRow(step_id=EVIL, action=EVIL, target=EVIL, status="failed", detail=EVIL)
    asset = AssetReport(
        asset_id='x" onclick="alert(1)',
        label=EVIL,
        kind=EVIL,
        env=EVIL,
        owner=EVIL,
        owner_reason=EVIL,
        compliant=False,
        outcome=EVIL,
        findings=(finding,),
        steps=(step,),
    )
    data = ReportData(
        title=EVIL,
        subtitle=EVIL,
        generated_at=at,
        summary=Summary(assets=1, assets_by_kind={EVIL: 1}),
        environments=(EVIL,),
        findings_by_severity={EVIL: 1},
        decisions_by_action={EVIL: 2},
        riskiest_assets=(RiskyAsset(asset_id=asset.asset_id, label=EVIL, score=1, reason=EVIL),),
        responsibility=(OwnerRow(asset_id=EVIL, kind=EVIL, env=EVIL, owner=EVIL, reason=EVIL),),
        campaign=CampaignReport(name=EVIL, plan_hash=EVIL, state=EVIL),
        assets=(asset,),
    )
    page = render_html(data)
    parse(page)
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1
    assert 'onclick="' not in page and 'onmouseover="' not in page
    # The chart labels are escaped too, not only the template's.
    risk = _chart_figures(page)["riskiest-assets"]
    assert "&lt;script&gt;" in risk


def test_empty_report_renders(empty: ReportData, parse: Parse) -> None:
    page = render_html(empty)
    parse(page)
    figures = _chart_figures(page)
    assert list(figures) == list(CHARTS)
    for name, body in figures.items():
        assert "No data" in body, name
        assert 'role="img"' in body and "<title" in body, name
    assert "No campaign ran for this report." in page
    assert "No assets." in page
    assert "This report covers no assets." in page


def test_zero_counts_and_zero_totals_show_no_data(empty: ReportData) -> None:
    data = dataclasses.replace(
        empty,
        compliance_by_env=(EnvCompliance("dev", 0, 0),),
        findings_by_severity={"critical": 0},
        decisions_by_action={"defer": 0},
        campaign=CampaignReport(name="c", plan_hash="h", state="stopped"),
    )
    figures = _chart_figures(render_html(data))
    for name in ("compliance-by-env", "findings-by-severity", "decisions"):
        assert "No data" in figures[name]
    assert "The campaign had no waves." in render_html(data)
