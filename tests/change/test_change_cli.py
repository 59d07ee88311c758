"""``patchwarden change submit|approve|reject|show`` end to end on a throw-away database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchwarden.cli.main import main

CAMPAIGN = str(Path(__file__).parents[1] / "golden" / "plans" / "demo-windows.yaml")
AT = "2026-11-24T22:00Z"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_then_four_eyes_approval(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "change", "submit", CAMPAIGN, "--at", AT, "--as", "alice")
    assert code == 0
    assert out.startswith("CHG-1 submitted: plan ")
    assert "needs 1 approval(s) by someone other than alice" in out
    code, _, err = run(capsys, "change", "approve", "CHG-1", "--as", "alice")
    assert code == 2 and "four eyes: alice requested CHG-1" in err
    code, out, _ = run(capsys, "change", "approve", "1", "--as", "bob", "--comment", "ok")
    assert code == 0 and out.startswith("CHG-1 approved by bob (plan ")
    code, _, err = run(capsys, "change", "approve", "1", "--as", "carol")
    assert code == 2 and "only a submitted change" in err


def test_show_one_change_as_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "change", "submit", CAMPAIGN, "--at", AT, "--as", "alice", "--title", "Nov fixes")
    code, out, _ = run(capsys, "change", "show", "CHG-1")
    assert code == 0
    assert out.startswith("CHG-1: Nov fixes  [change, submitted]")
    for part in ("Risk: ", "Schedule:", "prod-sunday-night", "Affected services: ", "Rollback plan:",
                 "evacuate", "History:", "alice: draft -> submitted"):  # fmt: skip
        assert part in out
    code, out, _ = run(capsys, "change", "show", "1", "--format", "json")
    data = json.loads(out)
    assert data["id"] == 1 and data["state"] == "submitted" and len(data["plan_hash"]) == 64
    code, out, _ = run(capsys, "change", "show")
    assert "CHG-1" in out and out.rstrip().endswith("1 change(s)")


def test_reject_closes_the_change_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "change", "submit", CAMPAIGN, "--at", AT, "--as", "alice")
    code, out, _ = run(capsys, "change", "reject", "1", "--as", "bob", "--reason", "freeze")
    assert code == 0 and out.strip() == "CHG-1 rejected by bob: freeze"


def test_identity_comes_from_user(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "erin")
    _, out, _ = run(capsys, "change", "submit", CAMPAIGN, "--at", AT)
    assert "someone other than erin" in out
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    code, _, err = run(capsys, "change", "approve", "1")
    assert code == 2 and "pass --as NAME" in err


def test_a_new_plan_supersedes_the_open_change(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "change", "submit", CAMPAIGN, "--at", AT, "--as", "alice")
    run(capsys, "change", "submit", CAMPAIGN, "--at", "2026-11-25T08:00Z", "--as", "alice")
    _, out, _ = run(capsys, "change", "show")
    lines = out.splitlines()
    assert lines[0].startswith("CHG-1    superseded") and lines[1].startswith("CHG-2    submitted")


def test_unknown_changes_and_bad_ids_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "change", "show", "7")[0] == 2
    code, _, err = run(capsys, "change", "approve", "seven", "--as", "bob")
    assert code == 2 and "write 12 or CHG-12" in err
