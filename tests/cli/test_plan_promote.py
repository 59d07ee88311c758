"""``patchwarden promote``: what may move where, from stored runs and the latest re-scan."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchwarden.cli.main import main
from patchwarden.cli.options import parse_at
from patchwarden.domain.plan import Plan
from patchwarden.service.apply import plan_from_files
from patchwarden.store import Store, open_store, resolve_url

CAMPAIGN = Path(__file__).parents[1] / "golden" / "plans" / "demo-windows.yaml"
AT = "2026-11-24T22:00Z"
T = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
SSL = "openssl=3.0.15-1~deb12u1"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def record_env_run(store: Store, plan: Plan, env: str, fail: str = "") -> datetime:
    """Journal a run of ``plan``'s ``env`` waves: every step succeeds, except on ``fail``."""
    store.save_plan(plan.digest(), plan.campaign, plan.model_dump(mode="json"))
    run_ = store.create_run(plan.digest(), state="running", started_at=T)
    at = T
    for wave in (w for w in plan.waves if w.env == env):
        for unit in (u for b in wave.batches for u in b.units):
            for step in unit.steps:
                at += timedelta(seconds=10)
                store.append_event(run_.id, step.id, "started", {}, at)
                bad = unit.target == fail and step.action.value == "health"
                store.append_event(run_.id, step.id, "failed" if bad else "succeeded", {}, at)
                if bad:
                    for undo in unit.rollback:
                        store.append_event(run_.id, undo.id, "started", {}, at)
                        store.append_event(run_.id, undo.id, "succeeded", {}, at)
                    break
    return at


def rescan_clean(store: Store, at: datetime) -> None:
    store.record_assessment({"note": "re-scan"}, [])


@pytest.fixture
def plan() -> Plan:
    with open_store(resolve_url(None, os.environ)) as store:
        return plan_from_files(store, CAMPAIGN, [], [], parse_at(AT))[0].plan


def promote(capsys: pytest.CaptureFixture[str], at: str, *extra: str) -> tuple[int, str]:
    code, out, err = run(capsys, "promote", str(CAMPAIGN), "--at", at, *extra)
    assert err == ""
    return code, out


def test_with_no_runs_only_dev_may_start(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = promote(capsys, AT)
    assert code == 0
    assert out.startswith("Promotion of '2026-11 security (windows)': dev -> qa -> staging -> prod")
    assert f"{SSL}: may enter dev (first environment in the order that needs it)" in out


def test_success_then_soak_then_qa(capsys: pytest.CaptureFixture[str], plan: Plan) -> None:
    import os

    with open_store(resolve_url(None, os.environ)) as store:
        record_env_run(store, plan, "dev")
        store.record_assessment({"note": "re-scan"}, [])
    _, soon = promote(capsys, "2026-11-25T08:00Z")
    assert f"{SSL}: not into qa: soaking in dev until 2026-11-25 22:" in soon
    _, later = promote(capsys, "2026-11-26T08:00Z")
    assert f"{SSL}: may enter qa (succeeded in dev; soaked 1d; health ok" in later
    _, data = promote(capsys, "2026-11-26T08:00Z", "--format", "json")
    gates = {(g["patch"], g["env"]): g["status"] for g in json.loads(data)}
    assert gates[(SSL, "dev")] == "done" and gates[(SSL, "qa")] == "may_enter"
    assert gates[(SSL, "prod")] == "waiting"


def test_a_failure_in_dev_holds_the_patch_after_it(
    capsys: pytest.CaptureFixture[str], plan: Plan
) -> None:
    import os

    with open_store(resolve_url(None, os.environ)) as store:
        record_env_run(store, plan, "dev", fail="web-dev-01")
        store.record_assessment({"note": "re-scan"}, [])
    _, out = promote(capsys, "2026-12-30T08:00Z")
    assert f"{SSL}: not into qa: held: the patch failed in dev (failed on 1 of " in out
    assert "dev:" not in out  # the failure is in the matrix, the next move is what is held
    row = next(line for line in out.splitlines() if line.startswith(SSL))
    assert row.split()[1:] == ["failed", "held", "held", "held"]


def test_a_rescan_that_still_finds_the_package_fails_qa(
    capsys: pytest.CaptureFixture[str], plan: Plan
) -> None:
    import os

    with open_store(resolve_url(None, os.environ)) as store:
        record_env_run(store, plan, "dev")
        store.record_assessment(
            {"note": "re-scan"},
            [{"asset_id": "web-dev-01", "package": "openssl", "advisory_id": "X-1"}],
        )
    _, out = promote(capsys, "2026-12-30T08:00Z")
    assert "QA: re-scan still finds it on 1 target(s)" in out
