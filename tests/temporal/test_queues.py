"""Which task queue each step of a plan goes to (pure: no Temporal server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.domain.steps import DrainParams, HookParams, VerifyParams
from patchwarden.planning.steps import host_unit
from patchwarden.service.temporal import step_queues

HOOK = HookParams(when="before", argv=("notify", "start"), on="controller")


def _plan() -> Plan:
    units = (
        host_unit(
            "prod.web", "web-eu", (("openssl", "3"),), False,
            before=[HOOK, DrainParams(lb="lb", pool="web")],
            after=[("lb-us", VerifyParams())],
        ),
        host_unit("prod.web", "web-plain", (("openssl", "3"),), False, before=[HOOK]),
    )  # fmt: skip
    wave = Wave(
        id="prod.web", env="prod", group="web", strategy="rolling",
        batches=(Batch(id="prod.web/b0", units=units),),
    )  # fmt: skip
    return Plan(
        campaign="queues", created_at=datetime(2026, 1, 1, tzinfo=UTC), environments=("prod",),
        waves=(wave,),
    )  # fmt: skip


def test_steps_leave_their_units_queue_only_for_the_controller_or_another_site() -> None:
    plan = _plan()
    sites = {"web-eu": "eu-1", "lb-us": "us-1"}
    found = step_queues(plan, sites)
    eu = plan.units()[0]
    by_action = {(s.action.value, s.target): s.id for s in eu.steps}
    assert found == {
        # The controller's hook runs beside the store, not next to the host.
        by_action[("hook", "web-eu")]: "patchwarden",
        # A step on an asset of another site runs next to that asset.
        by_action[("verify", "lb-us")]: "patchwarden-site-us-1",
    }
    # The drain, patch and health of web-eu stay on its unit's queue, and so does its
    # rollback; a unit with no site is on `patchwarden` already, hook and all.
    assert not any(step_id.startswith("prod.web/web-plain") for step_id in found)


def test_without_sites_every_step_stays_on_the_default_queue() -> None:
    assert step_queues(_plan(), {}) == {}
