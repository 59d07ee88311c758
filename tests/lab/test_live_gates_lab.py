"""The QA gate between environments on real hosts: health and a re-scan over SSH and apt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from patchwarden.domain.plan import Plan, PromotionGates
from patchwarden.drivers.real import RealDrivers
from patchwarden.engine.journal import MemoryJournal
from patchwarden.engine.machine import UnitState
from patchwarden.engine.runner import Runner
from patchwarden.engine.steps import StepExecutor
from patchwarden.testing.lab_plan import lab_rolling_plan
from patchwarden.testing.lab_session import LoopThread, engine_drivers


def _two_environments() -> Plan:
    qa = lab_rolling_plan(["lab-01"], env="qa", name="lab gates")
    prod = lab_rolling_plan(["lab-02"], env="prod", name="lab gates")
    return qa.model_copy(
        update={
            "environments": ("qa", "prod"),
            "waves": (*qa.waves, *prod.waves),
            "promotion": PromotionGates(require_rescan=True),
            "created_at": datetime.now(UTC),
        }
    )


def test_prod_starts_only_after_the_gate_re_scanned_qa_over_ssh(
    real: RealDrivers, loop: LoopThread, reset: Callable[..., None]
) -> None:
    reset("lab-01", "lab-02")
    plan = _two_environments()
    journal = MemoryJournal()
    runner = Runner(plan, journal, StepExecutor(engine_drivers(real)), real.clock)
    progress = loop.run(runner.run(), timeout_s=180)
    assert progress.done and progress.count(UnitState.SUCCEEDED) == 2
    records = list(journal.records())
    gate = next(
        i for i, r in enumerate(records) if r.step_id == "gate/prod" and r.event == "succeeded"
    )
    # Read from the qa host again through apt over SSH: one host re-scanned, one health check.
    assert records[gate].payload["rescanned"] == 1
    assert records[gate].payload["health_checked"] == 1
    first_prod = next(
        i for i, r in enumerate(records) if r.step_id.startswith("prod.") and r.event == "started"
    )
    last_qa = max(i for i, r in enumerate(records) if r.step_id.startswith("qa."))
    assert last_qa < gate < first_prod
    assert loop.run(real.packages.installed("lab-02", ["pw-web"])) == {"pw-web": "1.0-2"}
    reset("lab-01", "lab-02")
