"""``patchwarden report`` from the store: after the demo, and after two assessments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.service.demo import run_demo


def test_report_needs_a_target_and_an_assessment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert main(["report", "--json", "x.json"]) == 2
    assert "no assessment stored yet" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_report_after_the_demo_matches_the_demo_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = run_demo(tmp_path / "demo", db, seed=7)
    out = tmp_path / "out"
    args = ["report", "--db", db, "--html", str(out / "r.html"), "--csv", str(out / "r.csv")]
    assert main([*args, "--json", str(out / "r.json")]) == 0
    ours = json.loads((out / "r.json").read_text())
    theirs = json.loads(demo.report["json"].read_text())
    for key in ("assets", "findings_open_before", "findings_open_after", "compliant_after"):
        assert ours["summary"][key] == theirs["summary"][key], key
    assert ours["campaign"]["plan_hash"] == theirs["campaign"]["plan_hash"]
    assert ours["baselines"] == theirs["baselines"]
    assert ours["mttr"] and ours["changes"]
    # The demo's prod storage accounts keep neither versions nor soft-deleted data.
    gaps = {(g["asset_id"], g["rule"], g["source"]) for g in ours["storage_gaps"]}
    assert ("shared-files", "recoverability", "inventory") in gaps
    assert ours["storage_gaps"] == theirs["storage_gaps"]
    html = (out / "r.html").read_text()
    assert 'id="storage"' in html and "neither versioning nor soft delete" in html
    assert "<svg" in (out / "r.html").read_text()
    assert (out / "r.csv").read_bytes().startswith(b"asset_id,label,env,kind,owner")


def test_report_after_two_assessments_without_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", "--demo", "--no-record"]) == 0
    assert main(["assess", "--demo"]) == 0
    assert main(["assess", "--demo"]) == 0
    capsys.readouterr()
    html = tmp_path / "r.html"
    assert main(["report", "--html", str(html), "--title", "Weekly"]) == 0
    page = html.read_text()
    assert "<h1>Weekly</h1>" in page and "assessment #2 compared with #1" in page
    assert "No campaign ran for this report." in page
