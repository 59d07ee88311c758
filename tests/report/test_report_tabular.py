from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime

from patchwarden.report import CSV_COLUMNS, render_csv, render_html, render_json
from patchwarden.report.model import AssetReport, FindingRow, ReportData, Summary


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_header_and_one_row_per_asset_and_finding(sample: ReportData) -> None:
    text = render_csv(sample)
    assert text.splitlines()[0].split(",") == list(CSV_COLUMNS)
    assert list(CSV_COLUMNS[:5]) == ["asset_id", "label", "env", "kind", "owner"]
    for column in ("package", "installed", "fixed", "advisory_id", "severity", "decision", "state"):
        assert column in CSV_COLUMNS
    rows = _rows(text)
    assert len(rows) == sum(max(1, len(a.findings)) for a in sample.assets)
    assert {r["asset_id"] for r in rows} == {a.asset_id for a in sample.assets}
    assert text.endswith("\r\n")  # RFC 4180 line ends


def test_csv_rows_carry_asset_and_finding_fields(sample: ReportData) -> None:
    rows = _rows(render_csv(sample))
    asset = next(a for a in sample.assets if a.outcome == "rolled back")
    mine = [r for r in rows if r["asset_id"] == asset.asset_id]
    assert [r["advisory_id"] for r in mine] == [f.advisory_id for f in asset.findings]
    first, finding = mine[0], asset.findings[0]
    assert (first["env"], first["kind"], first["owner"]) == (asset.env, asset.kind, asset.owner)
    assert (first["package"], first["installed"], first["fixed"]) == (
        finding.package,
        finding.installed,
        finding.fixed,
    )
    assert first["state"] == "open"
    assert first["compliant"] == "no"


def test_csv_asset_without_findings_gets_one_blank_row(sample: ReportData) -> None:
    rows = _rows(render_csv(sample))
    bare = [r for r in rows if r["asset_id"] == "app-m365"]
    assert len(bare) == 1
    assert bare[0]["advisory_id"] == bare[0]["package"] == bare[0]["cvss"] == ""
    assert bare[0]["owner"] == "provider"


def test_csv_defuses_spreadsheet_formulas(empty: ReportData) -> None:
    finding = FindingRow(
        advisory_id="ADV-1",
        package='=HYPERLINK("x")',
        installed="1",
        severity="low",
        decision="defer",
        reason="@SUM(A1)",
        state="open",
        cvss=None,
    )
    asset = AssetReport(
        asset_id="a1",
        label="+cmd",
        kind="vm",
        env="dev",
        owner="customer",
        compliant=True,
        outcome="patched",
        findings=(finding,),
    )
    rows = _rows(render_csv(dataclasses.replace(empty, assets=(asset,))))
    assert rows[0]["label"] == "'+cmd"
    assert rows[0]["package"] == '\'=HYPERLINK("x")'
    assert rows[0]["reason"] == "'@SUM(A1)"
    assert rows[0]["cvss"] == ""


def test_csv_of_empty_report_is_just_the_header(empty: ReportData) -> None:
    assert render_csv(empty) == ",".join(CSV_COLUMNS) + "\r\n"


def test_json_round_trips_with_expected_keys(sample: ReportData) -> None:
    body = json.loads(render_json(sample))
    assert set(body) == {f.name for f in dataclasses.fields(ReportData)} | {"format_version"}
    assert body["format_version"] == 1
    assert body["summary"]["assets"] == 20
    assert set(body["summary"]) == {f.name for f in dataclasses.fields(Summary)}
    assert body["environments"] == ["dev", "qa", "staging", "prod"]
    assert len(body["campaign"]["waves"]) == 3
    assert len(body["assets"]) == 20
    asset = body["assets"][0]
    assert {"findings", "steps", "owner_reason", "compliant"} <= set(asset)
    assert {"aliases", "cvss", "kev", "state"} <= set(asset["findings"][0])
    assert body["findings_by_severity"]["critical"] == sample.findings_by_severity["critical"]


def test_json_datetimes_are_iso_8601_with_offset(sample: ReportData) -> None:
    body = json.loads(render_json(sample))
    assert datetime.fromisoformat(body["generated_at"]) == sample.generated_at
    assert body["generated_at"].endswith("+00:00")
    assert sample.campaign is not None
    started = body["campaign"]["waves"][0]["started_at"]
    assert datetime.fromisoformat(started) == sample.campaign.waves[0].started_at


def test_json_is_stable(sample: ReportData) -> None:
    text = render_json(sample)
    assert text == render_json(sample)
    reordered = dataclasses.replace(
        sample, findings_by_severity=dict(reversed(list(sample.findings_by_severity.items())))
    )
    assert render_json(reordered) == text
    body = json.loads(text)
    assert list(body) == sorted(body)


def test_json_of_empty_report(empty: ReportData) -> None:
    body = json.loads(render_json(empty))
    assert body["campaign"] is None
    assert body["assets"] == []
    assert body["findings_by_severity"] == {}


def test_a_binary_of_another_source_names_it_in_csv_json_and_html(empty: ReportData) -> None:
    finding = FindingRow(
        advisory_id="DSA-9999-1",
        package="libssl3",
        source="openssl 3.0.11-1~deb12u2",
        installed="3.0.11-1~deb12u2+b1",
        fixed="3.0.15-1~deb12u1",
        severity="high",
        decision="patch_now",
        state="open",
    )
    asset = AssetReport(
        asset_id="web-1", label="web-1", kind="vm", env="prod", owner="customer",
        compliant=False, outcome="patched", findings=(finding,),
    )  # fmt: skip
    data = dataclasses.replace(empty, assets=(asset,))
    row = _rows(render_csv(data))[0]
    assert (row["package"], row["source"], row["installed"]) == (
        "libssl3",
        "openssl 3.0.11-1~deb12u2",
        "3.0.11-1~deb12u2+b1",
    )
    assert json.loads(render_json(data))["assets"][0]["findings"][0]["source"] == (
        "openssl 3.0.11-1~deb12u2"
    )
    assert "from openssl 3.0.11-1~deb12u2" in render_html(data)
