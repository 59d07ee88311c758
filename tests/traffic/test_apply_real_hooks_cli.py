"""Pre/post hooks of a real run, through the CLI, on the lab's hosts and on the controller.

A hook is an argument vector run before or after each unit, batch or group, on the unit's
host over its SSH connection or on the machine running ``patchwarden``; its output goes
to the run's journal, and its failure policy decides what a failure does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_run import dsa, journal, prepare

from patchwarden.testing.traffic import TrafficLab
from patchwarden.testing.traffic_cli import apply_approved

DSAS = [dsa(9902, "pw-web")]


def _campaign(hooks: list[dict[str, Any]]) -> str:
    group = {"select": {"role": "web"}, "strategy": "rolling", "max_unavailable": 2,
             "hooks": hooks}  # fmt: skip
    return yaml.safe_dump({"name": "web with hooks", "groups": {"web": group}})


def _versions(traffic: TrafficLab) -> dict[str, str]:
    assert traffic.real is not None
    return {
        h: traffic.loop.run(traffic.real.packages.installed(h, ["pw-web"]))["pw-web"]
        for h in traffic.hosts
    }


def _hook_records(records: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r.step_id, r.event, r.payload) for r in records
            if r.step_id.endswith("-hook") and r.event in ("succeeded", "failed", "observed")]  # fmt: skip


@pytest.mark.timeout(300)
def test_hooks_run_on_each_host_and_on_the_controller_in_order(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    marks = tmp_path / "controller"
    marks.mkdir()
    hooks = [
        {"when": "pre_group", "run": ["touch", f"{marks}/group-start"], "on": "controller"},
        {"when": "pre_unit", "run": ["touch", "/var/tmp/pw-pre-unit"]},
        {"when": "post_unit", "run": ["mkdir", f"{marks}/done-{{target}}"], "on": "controller"},
        {"when": "post_batch", "run": ["cat", "/etc/debian_version"]},
        {"when": "post_unit", "run": ["false"], "on_failure": "ignore"},
        {"when": "post_group", "run": ["touch", f"{marks}/group-end"], "on": "controller"},
    ]
    for host in traffic.lab.specs():
        (host.root / "var/tmp/pw-pre-unit").unlink(missing_ok=True)
    env, inventory, campaign = prepare(traffic, tmp_path, _campaign(hooks), DSAS, metrics=False)
    applied = apply_approved(env, campaign, inventory, timeout=240)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    state, records = journal(env)
    assert state == "completed"
    assert _versions(traffic) == dict.fromkeys(traffic.hosts, "1.0-2")
    assert (marks / "group-start").exists() and (marks / "group-end").exists()
    assert sorted(p.name for p in marks.glob("done-*")) == sorted(
        f"done-{h}" for h in traffic.hosts
    )
    for host in traffic.lab.specs():
        assert (host.root / "var/tmp/pw-pre-unit").exists(), f"pre_unit hook never ran on {host.id}"
    results = [p for _, e, p in _hook_records(records) if e == "succeeded"]
    versions = [p for p in results if p["argv"] == ["cat", "/etc/debian_version"]]
    assert len(versions) == 6 and all(p["stdout"].strip().startswith("12") for p in versions)
    ignored = [p for p in results if p["argv"] == ["false"]]
    assert len(ignored) == 6 and all(p["ignored"] and p["exit_status"] == 1 for p in ignored)
    started = [r.step_id for r in records if r.event == "started"]
    assert started[0].endswith("#pre/00-hook") and started[-1].endswith("#post/00-hook"), started
    traffic.reset()


@pytest.mark.timeout(300)
def test_a_failing_hook_aborts_rolls_back_or_is_ignored_as_its_policy_says(
    traffic: TrafficLab, tmp_path: Path
) -> None:
    # abort: a pre_unit hook that outlives its timeout stops the run; nothing was patched,
    # nothing is rolled back.
    (tmp_path / "abort").mkdir()
    (tmp_path / "rollback").mkdir()
    slow = [{"when": "pre_unit", "run": ["sleep", "30"], "timeout_s": 1, "on_failure": "abort"}]
    env, inventory, campaign = prepare(traffic, tmp_path / "abort", _campaign(slow), DSAS,
                                       metrics=False)  # fmt: skip
    applied = apply_approved(env, campaign, inventory, timeout=240)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    state, records = journal(env)
    failures = [p for _, e, p in _hook_records(records) if e == "failed"]
    assert (
        failures and "timed out" in failures[0]["error"] and "policy abort" in failures[0]["error"]
    )
    assert not [r for r in records if "/rollback/" in r.step_id], "abort rolls nothing back"
    assert not [r for r in records if r.step_id.endswith("-patch")], "no host was touched"
    assert _versions(traffic) == dict.fromkeys(traffic.hosts, "1.0-1")

    # rollback: a post_unit hook failing after the patch rolls its unit back.
    failing = [{"when": "post_unit", "run": ["ls", "/no/such/file"], "on_failure": "rollback"}]
    env, inventory, campaign = prepare(traffic, tmp_path / "rollback", _campaign(failing), DSAS,
                                       metrics=False)  # fmt: skip
    applied = apply_approved(env, campaign, inventory, timeout=240)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    state, records = journal(env)
    observed = [p for _, e, p in _hook_records(records) if e == "observed"]
    assert observed and observed[0]["exit_status"] == 2 and "No such file" in observed[0]["stderr"]
    restored = [
        r.step_id for r in records if r.step_id.endswith("-restore") and r.event == "succeeded"
    ]
    assert restored, "the unit whose hook failed was rolled back"
    assert _versions(traffic) == dict.fromkeys(traffic.hosts, "1.0-1")
    driver = traffic.driver()
    for host in traffic.hosts:
        assert traffic.loop.run(driver.state("web", host)) == "ready", f"{host} left drained"
    traffic.reset()
