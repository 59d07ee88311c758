"""Ready-made plans for the lab: a rolling update of its hosts, to try ``apply --real`` on.

The lab's hosts carry no advisories to plan from, so these plans are written directly with
the planner's own building blocks (:func:`~patchwarden.planning.steps.host_unit`): the clean
``pw-web`` fix everywhere, and the reboot-requiring ``pw-kernel`` on the hosts asked for.

Example:
    >>> plan = lab_rolling_plan(["lab-01", "lab-02"], reboot={"lab-02"}, batch_size=1)
    >>> [u.id for u in plan.units()]
    ['dev.web/lab-01', 'dev.web/lab-02']
    >>> [s.action.value for s in plan.units()[1].steps]
    ['patch', 'reboot', 'health']
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.planning.steps import PatchSet, host_unit

__all__ = ["KERNEL_FIX", "WEB_FIX", "lab_rolling_plan"]

WEB_FIX: PatchSet = (("pw-web", "1.0-2"),)
"""The clean security fix of the lab's web service."""

KERNEL_FIX: PatchSet = (("pw-kernel", "1.0-2"),)
"""The lab's kernel update: its postinst asks for a reboot."""


def lab_rolling_plan(
    hosts: Sequence[str],
    *,
    reboot: Collection[str] = (),
    batch_size: int = 2,
    max_errors: int = 0,
    name: str = "lab rolling",
    env: str = "dev",
    created_at: datetime | None = None,
) -> Plan:
    """A one-wave rolling plan over ``hosts`` in batches of ``batch_size``.

    Hosts in ``reboot`` also get :data:`KERNEL_FIX` and a reboot step before their health
    check; every host gets :data:`WEB_FIX`.
    """
    wave_id = f"{env}.web"
    chunks = [hosts[i : i + batch_size] for i in range(0, len(hosts), batch_size)]
    batches = tuple(
        Batch(
            id=f"{wave_id}/b{i}",
            units=tuple(
                host_unit(wave_id, h, WEB_FIX + KERNEL_FIX if h in reboot else WEB_FIX, h in reboot)
                for h in chunk
            ),
        )
        for i, chunk in enumerate(chunks)
    )
    return Plan(
        campaign=name,
        created_at=created_at or datetime(2026, 1, 1, tzinfo=UTC),
        environments=(env,),
        waves=(Wave(id=wave_id, env=env, group="web", strategy="rolling", batches=batches),),
        max_errors=max_errors,
    )
