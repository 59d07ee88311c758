"""The QA gate between two environments, checked by the runner as the run goes on.

Before environment N starts (and after N-1's soak), the machine asks for the pseudo-step
``gate/<N>``. This module carries it out against N-1's targets, with the rules of
``planning.promotion`` (whose gates ``patchwarden promote`` shows from stored runs):

- health holds: every target N-1 health-checked passes a health check again now;
- no restart loop: no unit's health check had to be retried, or reported restarts, more
  than ``max_restarts`` times;
- a re-scan shows the targeted findings gone (``require_rescan``): each patched target
  reports, read from the host again, the versions the plan installed.

Counting restarts from the journal is pure (:func:`restarts_by_unit`); the checks read the
hosts through the run's own drivers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from patchwarden.domain.plan import Plan, PromotionGates, Unit
from patchwarden.domain.steps import HealthParams, PatchParams, VerifyParams
from patchwarden.engine.drivers import Drivers
from patchwarden.engine.machine import Record
from patchwarden.engine.timing import PromotionCheck
from patchwarden.errors import DriverError

__all__ = ["QAGate", "restarts_by_unit"]


def restarts_by_unit(units: Iterable[Unit], records: Iterable[Record]) -> dict[str, int]:
    """How often each unit's service restarted after its patch, as its journal shows.

    A health check that had to be retried, or that reports ``restarts``, means the service
    flapped: both count (as ``service.promotion`` counts them for stored runs).

    Example:
        >>> from patchwarden.domain.plan import Step, Unit
        >>> u = Unit(id="u", target="h", steps=(Step(id="u/h", target="h",
        ...          params=HealthParams()),))
        >>> restarts_by_unit([u], [Record("u/h", "retry"), Record("u/h", "succeeded",
        ...                                                       {"restarts": 2})])
        {'u': 3}
    """
    health = {
        s.id: u.id
        for u in units
        for s in u.steps
        if isinstance(s.params, HealthParams | VerifyParams)
    }
    counts = dict.fromkeys(dict.fromkeys(health.values()), 0)
    for rec in records:
        unit = health.get(rec.step_id)
        if unit is None:
            continue
        if rec.event == "retry":
            counts[unit] += 1
        elif rec.event == "succeeded":
            counts[unit] += int(rec.payload.get("restarts", 0) or 0)
    return counts


class QAGate:
    """Checks a :class:`PromotionCheck` through the run's drivers (see the module rules)."""

    def __init__(self, plan: Plan, drivers: Drivers) -> None:
        self.plan = plan
        self.drivers = drivers
        self.units = {u.id: u for u in plan.units()}

    async def check(self, check: PromotionCheck, records: Sequence[Record]) -> dict[str, Any]:
        """What the gate found; raises :class:`DriverError` naming every problem if it failed."""
        spec = self.plan.promotion or PromotionGates()
        units = [self.units[u] for u in check.units if u in self.units]
        problems: list[str] = []
        loops = {u: n for u, n in restarts_by_unit(units, records).items() if n > spec.max_restarts}
        for unit, count in sorted(loops.items()):
            problems.append(
                f"restart loop on {self.units[unit].target}: {count} restarts "
                f"(at most {spec.max_restarts})"
            )
        checked = sorted(
            {
                s.target
                for u in units
                for s in u.steps
                if isinstance(s.params, HealthParams | VerifyParams)
            }
        )
        for target in checked:
            result = await self.drivers.health.check(target)
            if not result.ok:
                problems.append(f"health of {target} failed: {result.detail}")
        rescanned = 0
        if spec.require_rescan:
            for target, wanted in sorted(_planned_versions(units).items()):
                found = await self.drivers.packages.installed(target, sorted(wanted))
                rescanned += 1
                for name, version in sorted(wanted.items()):
                    if found.get(name) != version:
                        problems.append(
                            f"re-scan of {target}: {name} is {found.get(name) or 'absent'}, "
                            f"not the patched {version}"
                        )
        if problems:
            raise DriverError(
                f"QA gate of {check.env} (after {check.previous}): " + "; ".join(problems)
            )
        return {
            "env": check.env,
            "after": check.previous,
            "health_checked": len(checked),
            "rescanned": rescanned,
            "max_restarts_seen": max(restarts_by_unit(units, records).values(), default=0),
        }


def _planned_versions(units: Iterable[Unit]) -> dict[str, Mapping[str, str]]:
    """Target -> the package versions the plan's patch steps install there."""
    out: dict[str, dict[str, str]] = {}
    for unit in units:
        for step in unit.steps:
            if isinstance(step.params, PatchParams):
                out.setdefault(step.target, {}).update(dict(step.params.packages))
    return dict(out)
