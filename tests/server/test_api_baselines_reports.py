"""Baselines, compliance, drift and the report through a real server: the same answers as
``patchwarden baseline`` and ``patchwarden report`` give on the server's own database, HTML
with a CSP that lets its one script run, and the ``--server`` client."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serve_harness import Server
from test_cli_server import cli

pytestmark = pytest.mark.slow  # the session's server assesses the demo estate first


def local(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``patchwarden ARGS`` on the server's own database, as a person on that machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATCHWARDEN_")}
    env["PATCHWARDEN_DB"] = server.db
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    """A report's JSON without when it was made (the only thing two renderings differ in)."""
    return {k: v for k, v in report.items() if k not in ("generated_at", "now")}


def test_baselines_compliance_and_drift_say_what_the_command_line_says(
    estate: Server, tmp_path: Path
) -> None:
    shown = local(estate, "baseline", "show", "--format", "json")
    checked = local(estate, "baseline", "check", "--format", "json")
    sheet = tmp_path / "versions.csv"
    drifted = local(estate, "baseline", "drift", "--format", "json", "--csv", str(sheet))
    assert shown.returncode == 0 and checked.returncode in (0, 1) and drifted.returncode == 0
    with estate.client("vera") as vera, estate.client("devon") as devon:
        assert vera.get("/api/v1/baselines").json() == json.loads(shown.stdout)
        debian = vera.get("/api/v1/baselines", params={"os": "debian"}).json()
        assert debian and {b["os_family"].lower() for b in debian} == {"debian"}
        compliance = vera.get("/api/v1/baselines/compliance").json()
        assert compliance["assets"] == json.loads(checked.stdout)
        assert compliance["total"] == len(compliance["assets"]) > 0
        assert compliance["snapshots"] and all(s["snapshot_id"] for s in compliance["snapshots"])
        bad = vera.get("/api/v1/baselines/compliance", params={"compliant": False}).json()
        assert bad["total"] == compliance["total"] - compliance["compliant"]
        prod = vera.get("/api/v1/baselines/compliance", params={"env": "prod"}).json()
        assert prod["assets"] and {a["env"] for a in prod["assets"]} == {"prod"}
        drift = vera.get("/api/v1/baselines/drift").json()
        assert drift["deviations"] == json.loads(drifted.stdout)
        csv = vera.get("/api/v1/baselines/drift", params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.content == sheet.read_bytes()
        # devon's grant covers dev only: dev's assets, whatever is asked for.
        mine = devon.get("/api/v1/baselines/compliance").json()
        assert mine["assets"] and {a["env"] for a in mine["assets"]} == {"dev"}
        assert (
            devon.get("/api/v1/baselines/compliance", params={"env": "prod"}).json()["assets"] == []
        )
        rows = devon.get("/api/v1/baselines/drift", params={"format": "csv"}).text.splitlines()
        assert len(rows) > 1 and all(",dev," in row for row in rows[1:])


def test_the_report_in_three_forms_as_the_command_line_writes_it(
    estate: Server, tmp_path: Path
) -> None:
    out = {f: tmp_path / f"report.{f}" for f in ("html", "csv", "json")}
    done = local(
        estate, "report", "--html", str(out["html"]), "--csv", str(out["csv"]),
        "--json", str(out["json"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with estate.client("vera") as vera:
        as_json = vera.get("/api/v1/report")
        assert as_json.headers["content-type"].startswith("application/json")
        assert without_time(as_json.json()) == without_time(json.loads(out["json"].read_text()))
        as_csv = vera.get("/api/v1/report", headers={"Accept": "text/csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.content == out["csv"].read_bytes()
        page = vera.get("/api/v1/report", params={"format": "html", "title": "Nov"})
        assert page.headers["content-type"].startswith("text/html")
        assert "<svg" in page.text and "<title>Nov" in page.text
        # The page's own CSP: inline styles, its one script by hash, nothing else.
        csp = page.headers["content-security-policy"]
        (script,) = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp and page.headers["cache-control"] == "no-store"
    with estate.client("devon") as devon:  # the report covers every environment
        assert devon.get("/api/v1/report").status_code == 403


def test_the_command_line_reads_baselines_and_reports_from_the_server(
    estate: Server, tmp_path: Path
) -> None:
    checked = cli(estate, "vera", "baseline", "check", "--format", "json")
    assert checked.returncode in (0, 1), checked.stderr
    with estate.client("vera") as vera:
        assert (
            json.loads(checked.stdout) == vera.get("/api/v1/baselines/compliance").json()["assets"]
        )
    table = cli(estate, "vera", "baseline", "check")
    assert "assets compliant" in table.stderr + table.stdout
    assert cli(estate, "vera", "baseline", "show", "--format", "json").returncode == 0
    sheet = tmp_path / "sheet.csv"
    drift = cli(estate, "vera", "baseline", "drift", "--csv", str(sheet))
    assert drift.returncode == 0 and sheet.read_bytes().startswith(b"asset_id,env,")
    assert "--inventory" in cli(estate, "vera", "baseline", "check", "--demo").stderr
    html = tmp_path / "r.html"
    done = cli(estate, "vera", "report", "--html", str(html), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    assert "<svg" in html.read_text() and json.loads((tmp_path / "r.json").read_text())
    refused = cli(estate, "devon", "report", "--html", str(html))
    assert refused.returncode == 2 and "403" in refused.stderr
