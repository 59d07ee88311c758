"""``patchwarden baseline show|check|drift`` on the demo estate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from patchwarden.cli.main import main


def test_show_lists_rules_and_the_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "show", "--demo", "--os", "debian", "--format", "json"]) == 0
    (debian,) = json.loads(capsys.readouterr().out)
    assert debian["name"] == "debian-default" and debian["snapshot_id"].startswith("sha256:")
    approved = {p["advisory_id"] for p in debian["approved"]}
    assert "PWDEMO-2026-0001" in approved
    assert "PWDEMO-2026-0009" not in approved  # cosmetic: no rule approves it


def test_check_reports_states_and_exits_1_when_not_compliant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["baseline", "check", "--demo", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assets = {a["asset_id"]: a for a in json.loads(captured.out)}
    assert "of 69 assets compliant" in captured.err
    web = assets["web-dev-01"]
    assert not web["compliant"] and web["baseline"] == "debian-default"
    assert {p["state"] for p in web["patches"]} >= {"missing"}
    assert assets["crm"]["compliant"] and assets["crm"]["patches"] == []


def test_check_with_a_bad_baselines_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("baselines:\n  - {name: x, os_family: debian, rejected_action: drop}\n")
    assert main(["baseline", "check", "--demo", "--baselines", str(bad)]) == 2
    assert (
        f"{bad}:2: baselines[0].rejected_action: 'drop' is not allowed" in capsys.readouterr().err
    )


def test_drift_and_the_version_tracking_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = tmp_path / "versions.csv"
    assert main(["baseline", "drift", "--demo", "--format", "json", "--csv", str(sheet)]) == 0
    deviations = json.loads(capsys.readouterr().out)
    assert any(d["group"] == "role web" and d["asset_id"] == "web-prod-08" for d in deviations)
    with sheet.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "asset_id",
        "env",
        "roles",
        "ecosystem",
        "package",
        "version",
        "target",
        "status",
        "snapshot_id",
    ]
    statuses = {r["status"] for r in rows}
    assert {"below target", "at target", "no target"} <= statuses
