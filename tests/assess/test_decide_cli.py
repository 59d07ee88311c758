"""``patchwarden assess`` and ``assess diff`` as a user runs them (the store is per test)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from patchwarden.cli.main import main


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_assess_demo_as_json_records_and_diffs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "--demo", "--format", "json"]) == 0
    rows = json.loads(_out(capsys))
    assert {r["action"] for r in rows} == {"emergency", "next_window", "defer", "ignore"}
    kev = next(r for r in rows if r["advisory_id"] == "PWDEMO-2026-0001")
    assert kev["action"] == "emergency" and kev["reason"].endswith("→ emergency")
    assert kev["due"] and kev["risk"] > 0
    # The second run sees the first: every finding is still open, and diff says so.
    assert main(["assess", "--demo", "--action", "emergency"]) == 0
    text = _out(capsys)
    assert "(recorded as #2)" in text and "since #1: 0 new, 0 resolved" in text
    assert main(["assess", "diff", "--format", "json"]) == 0
    changes = json.loads(_out(capsys))
    assert {c["change"] for c in changes} == {"still_open"} and len(changes) == len(rows)


def test_assess_csv_has_the_decision_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "--demo", "--format", "csv", "--no-record"]) == 0
    reader = csv.DictReader(io.StringIO(_out(capsys)))
    first = next(reader)
    assert list(first)[:4] == ["asset_id", "env", "advisory_id", "package"]
    assert {"action", "due", "review", "risk", "patch_risk", "reason"} <= set(first)
    assert main(["assess", "diff"]) == 2  # nothing was recorded


def test_assess_inventory_file_uses_stored_advisories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("assets:\n  - {id: a, kind: vm, env: prod}\n")
    assert main(["assess", "--inventory", str(inv), "--format", "json"]) == 0
    assert json.loads(_out(capsys)) == []  # no advisories imported yet: nothing matches


def test_bad_format_and_no_inventory_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "--demo", "--format", "xml"]) == 2
    assert main(["assess"]) == 2
    assert "no inventory" in capsys.readouterr().err


def test_cli_exits_2_on_a_bad_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("thresholds:\n  emergncy: 10\n")
    assert main(["assess", "--demo", "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: thresholds.emergncy: unknown field (hint: did you mean 'emergency'?)" in err


def test_a_stricter_policy_file_changes_decisions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = tmp_path / "policy.yaml"
    strict.write_text("thresholds: {emergency: 1}\n")
    assert (
        main(["assess", "--demo", "--no-record", "--format", "json", "--policy", str(strict)]) == 0
    )
    actions = {r["action"] for r in json.loads(_out(capsys)) if r["reason"].endswith("emergency")}
    assert actions == {"emergency"}
