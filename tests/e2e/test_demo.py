"""``patchwarden demo`` end to end, as a user runs it: a process, a data dir, a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchwarden.store import open_store


@pytest.mark.timeout(120)
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "COLUMNS": "120"}
    env.pop("PATCHWARDEN_DB", None)  # the default: a file in the user's data directory
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "patchwarden", "demo", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert took < 60
    out = proc.stdout
    assert "Plan '2026-11 security (demo)'" in out
    assert "prod.hypervisors" in out and "prod.web" in out
    assert "1 rolled back" in out
    assert "Report:" in out

    report = tmp_path / "out" / "report.html"
    html = report.read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    summary = data["summary"]
    assert summary["assets"] >= 60
    assert summary["findings_open_after"] < summary["findings_open_before"]
    assert summary["rolled_back_units"] == 1
    assert summary["provider_owned"] == 3
    # Canary verdicts as a reader sees them: one analysis per web pool beyond dev.
    canaries = data["campaign"]["canaries"]
    assert [c["verdict"] for c in canaries] == ["pass", "pass", "pass"]
    assert all(any(m.startswith("latency_ms: canary") for m in c["metrics"]) for c in canaries)
    assert 'id="canary-analyses"' in html

    db = tmp_path / "data" / "patchwarden" / "patchwarden.db"
    assert db.exists()
    with open_store(f"sqlite:///{db}") as store:
        run = store.latest_run()
        assert run is not None and run.state == "completed_with_failures"
        events = store.events(run.id)
        # Every side effect is bracketed: each started step has an outcome.
        started = {e.step_id for e in events if e.event == "started"}
        ended = {e.step_id for e in events if e.event in ("succeeded", "failed")}
        assert started == ended
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_demo_without_failures_patches_everything(tmp_path: Path) -> None:
    from patchwarden.engine.machine import UnitState
    from patchwarden.service.demo import run_demo

    result = run_demo(
        tmp_path / "out", f"sqlite:///{tmp_path / 'db.sqlite'}", inject_failures=False, speed=50_000
    )
    assert result.state == "completed"
    assert all(s is UnitState.SUCCEEDED for s in result.progress.units.values())
    # What the campaign targeted is gone on re-scan: only deferred/ignored/unplanned remain.
    approved = {
        (d.asset_id, d.advisory_id, d.package)
        for d in result.before.decisions
        if d.action.value in ("emergency", "next_window")
    }
    planned = {u.target for u in result.plan.units()}
    left = [
        f
        for f in result.after.findings
        if f.asset_id in planned and (f.asset_id, f.advisory_id, f.package) in approved
    ]
    assert left == []
    assert any(f.package == "tzdata" for f in result.after.findings)  # cosmetic: ignored


def test_demo_report_is_dated_now_and_its_chart_ends_at_the_summary(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from patchwarden.service.demo import run_demo

    before = datetime.now(UTC)
    result = run_demo(tmp_path / "out", f"sqlite:///{tmp_path / 'db.sqlite'}", speed=50_000)
    after = datetime.now(UTC)
    body = json.loads((tmp_path / "out" / "report.json").read_text())
    # "Generated" is the real time; the simulated clock's time is the data's own ("as of"),
    # which runs hours ahead of the real one in the demo.
    generated = datetime.fromisoformat(body["generated_at"])
    assert before <= generated <= after
    as_of = datetime.fromisoformat(body["as_of"])
    assert as_of == result.after.at and as_of > after
    html = (tmp_path / "out" / "report.html").read_text()
    assert f'Generated <time datetime="{generated.isoformat()}' in html
    assert "data as of" in html
    # The findings-over-time chart starts and ends at the summary's numbers.
    summary = body["summary"]
    points = [p["open_findings"] for p in body["burndown"]]
    assert points[0] == summary["findings_open_before"] == len(result.before.findings)
    assert points[-1] == summary["findings_open_after"] == len(result.after.findings)
    assert points[-1] < points[0]
