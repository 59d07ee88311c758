"""Engine campaigns end to end on the lab: the runner drives real hosts over SSH."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from patchwarden.domain.plan import Batch, Plan, StepAction, Wave
from patchwarden.drivers.real import RealDrivers
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import Progress, UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.planning.steps import PatchSet, host_unit
from patchwarden.testing.lab_session import LoopThread, engine_drivers


def _plan(name: str, batches: list[list[tuple[str, PatchSet, bool]]], max_errors: int) -> Plan:
    wave_id = "dev.web"
    return Plan(
        campaign=name,
        created_at=datetime.now(UTC),
        environments=("dev",),
        waves=(
            Wave(
                id=wave_id,
                env="dev",
                group="web",
                strategy="rolling",
                batches=tuple(
                    Batch(
                        id=f"{wave_id}/b{i}",
                        units=tuple(host_unit(wave_id, h, p, reboot) for h, p, reboot in batch),
                    )
                    for i, batch in enumerate(batches)
                ),
            ),
        ),
        max_errors=max_errors,
    )


def _run(plan: Plan, real: RealDrivers, loop: LoopThread) -> tuple[Progress, MemoryJournal]:
    journal = MemoryJournal()
    executor = StepExecutor(engine_drivers(real))
    runner = Runner(plan, journal, executor, real.clock, retry_delay_s=0.5)
    return loop.run(runner.run(), timeout_s=180), journal


def test_clean_update_with_reboot_succeeds_on_every_host(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-01", "lab-02")
    plan = _plan(
        "lab clean",
        [
            [("lab-01", (("pw-web", "1.0-2"),), False)],
            [("lab-02", (("pw-web", "1.0-2"), ("pw-kernel", "1.0-2")), True)],
        ],
        max_errors=0,
    )
    boot_before = loop.run(real.power.boot_id("lab-02"))
    progress, journal = _run(plan, real, loop)
    assert progress.done and not progress.stopped
    assert progress.count(UnitState.SUCCEEDED) == 2
    assert loop.run(real.packages.installed("lab-01", ["pw-web"])) == {"pw-web": "1.0-2"}
    assert loop.run(real.packages.installed("lab-02", ["pw-web", "pw-kernel"])) == {
        "pw-web": "1.0-2",
        "pw-kernel": "1.0-2",
    }
    assert loop.run(real.power.boot_id("lab-02")) != boot_before, "the reboot step really ran"
    assert not loop.run(real.apt.reboot_required("lab-02")).required
    observed = [r for r in journal.records() if r.event == "observed" and "previous" in r.payload]
    assert {"pw-web": "1.0-1"} in [r.payload["previous"] for r in observed]
    reset("lab-01", "lab-02")


def test_breaking_update_is_rolled_back_and_the_error_budget_stops_the_campaign(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-03", "lab-04")
    plan = _plan(
        "lab breaking",
        [
            [("lab-03", (("pw-web", "1.0-3"),), False)],
            [("lab-04", (("pw-web", "1.0-2"),), False)],
        ],
        max_errors=0,
    )
    progress, journal = _run(plan, real, loop)
    first, second = plan.units()
    assert progress.units[first.id] is UnitState.ROLLED_BACK
    assert progress.stopped and progress.done
    assert progress.units[second.id] is UnitState.SKIPPED, "no new unit after the budget is spent"
    # dpkg on the host shows the previous version again, and the service is healthy
    assert loop.run(real.packages.installed("lab-03", ["pw-web"])) == {"pw-web": "1.0-1"}
    assert loop.run(real.health.check("lab-03")).ok
    assert loop.run(real.packages.installed("lab-04", ["pw-web"])) == {"pw-web": "1.0-1"}
    health = next(s for s in first.steps if s.action is StepAction.HEALTH)
    failures = [r for r in journal.records() if r.step_id == health.id and r.event == "failed"]
    assert failures and "-> 500" in failures[0].payload["error"]
