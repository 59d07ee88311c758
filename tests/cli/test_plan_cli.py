"""``patchwarden plan``: the runbook table (golden), the JSON plan, and bad input (exit 2).

Golden files change when a strategy or the demo estate changes on purpose; regenerate them
with ``PATCHWARDEN_UPDATE_GOLDEN=1 pytest tests/cli/test_plan_cli.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.domain.plan import Plan

PLANS = Path(__file__).parents[1] / "golden" / "plans"
DEMO_CAMPAIGN = Path(__file__).parents[2] / "src/patchwarden/drivers/sim/data/demo-campaign.yaml"
AT = "2026-11-24T22:00Z"
UPDATE = os.environ.get("PATCHWARDEN_UPDATE_GOLDEN") == "1"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def check_golden(name: str, text: str) -> None:
    expected = PLANS / name
    if UPDATE or not expected.exists():
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8"), (
        f"{name} changed; if on purpose, regenerate with PATCHWARDEN_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize(
    ("campaign", "golden"),
    [(PLANS / "demo-windows.yaml", "demo-windows.table"), (DEMO_CAMPAIGN, "demo.table")],
)
def test_plan_table_reads_like_a_runbook(
    capsys: pytest.CaptureFixture[str], campaign: Path, golden: str
) -> None:
    code, out, err = run(capsys, "plan", str(campaign), "--at", AT)
    assert (code, err) == (0, "")
    check_golden(golden, out)


def test_the_windows_golden_shows_windows_soak_and_carry_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", AT)
    assert "Soak: dev 1d, qa 2d, staging 2d" in out
    assert "prod-sunday-night: cron '0 22 * * 0' for 6h, Europe/Berlin, cutoff 30m" in out
    # staging waits for the Friday after December's Patch Tuesday (8th + 3 = 11th, 20:00 CET);
    # prod for the first Sunday night after staging's soak that is not blacked out.
    assert "2026-12-11 19:00" in out and "staging-patch-friday" in out
    assert "2026-12-13 21:00" in out


def test_json_is_the_full_plan_with_the_same_hash(capsys: pytest.CaptureFixture[str]) -> None:
    _, table, _ = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", AT)
    code, out, _ = run(
        capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", AT, "--format", "json"
    )
    assert code == 0
    plan = Plan.model_validate(json.loads(out))
    assert f"hash {plan.digest()[:12]}" in table.splitlines()[0]
    assert all(b.slot is not None for w in plan.waves for b in w.batches)
    assert {w.name for w in plan.windows} == {"prod-sunday-night", "staging-patch-friday"}


def test_the_same_inputs_give_the_same_plan(capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", AT, "--format", "json")
    second = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", AT, "--format", "json")
    assert first == second


BAD = sorted(p.stem for p in PLANS.glob("bad-*.yaml"))


@pytest.mark.parametrize("case", BAD)
def test_bad_campaigns_name_file_line_and_field(
    capsys: pytest.CaptureFixture[str], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PLANS)
    code, out, err = run(capsys, "plan", f"{case}.yaml", "--at", AT)
    assert code == 2 and out == ""
    check_golden(f"{case}.expected", err)


def test_a_batch_longer_than_every_window_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", str(PLANS / "too-short.yaml"), "--at", AT)
    assert code == 2 and out == ""
    assert "longer than any window of prod: blink is 3m" in err and "max_unavailable" in err


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--at", "next tuesday")
    assert code == 2 and "--at 'next tuesday' is not a time" in err
    code, _, err = run(capsys, "plan", str(PLANS / "demo-windows.yaml"), "--format", "yaml")
    assert code == 2 and "use table or json" in err
    code, _, err = run(capsys, "plan", "no-such-campaign.yaml")
    assert code == 2 and "no-such-campaign.yaml: cannot read" in err
