"""Public test helpers: the simulated estate ready to drive, a mock transport, lab builders.

Example:
    >>> from patchwarden.testing import sim_drivers
    >>> drivers, estate, inventory = sim_drivers()
    >>> sorted(estate.hosts)[:2]
    ['api-blue-01', 'api-blue-02']

:class:`MockTransport` answers commands from a handler, for testing facts and drivers
without a host (see :mod:`patchwarden.testing.mock_transport`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.sim import FailurePlan, ScaledClock, SimEstate
from patchwarden.engine.steps import Drivers
from patchwarden.service.sim import estate_drivers
from patchwarden.service.sources import demo_inventory
from patchwarden.testing.mock_transport import Command, MockTransport, Reply

__all__ = [
    "Command",
    "FailurePlan",
    "MockTransport",
    "Reply",
    "SimEstate",
    "estate_drivers",
    "sim_drivers",
]


def sim_drivers(
    inventory: Inventory | None = None,
    *,
    seed: int = 0,
    failures: FailurePlan | None = None,
    speed: float = 100_000.0,
    start: datetime | None = None,
) -> tuple[Drivers, SimEstate, Inventory]:
    """Drivers over a simulated estate (the demo estate unless given), on a fast clock."""
    inv = inventory or demo_inventory().inventory
    clock = ScaledClock(start or datetime(2026, 1, 1, tzinfo=UTC), speed)
    estate = SimEstate(inv, clock, seed=seed, failures=failures)
    return estate_drivers(estate, inv), estate, inv
