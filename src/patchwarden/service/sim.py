"""Wiring the simulated estate into the engine's driver set."""

from __future__ import annotations

from patchwarden.domain.assets import LoadBalancer
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.sim import SimEstate
from patchwarden.engine.steps import Drivers

__all__ = ["estate_drivers"]


def estate_drivers(estate: SimEstate, inventory: Inventory) -> Drivers:
    """Every driver the engine can use, all backed by one simulated estate."""
    lbs = {a.id: estate.lb(a.id) for a in inventory.assets if isinstance(a, LoadBalancer)}
    return Drivers(
        clock=estate.clock,
        packages=estate,
        power=estate,
        health=estate,
        hypervisors=estate,
        load_balancers=lbs,
        metrics=lbs,
        clusters=estate.platform,
        firmware=estate.platform,
        appliances=estate.platform,
        storage=estate.platform,
        paths=estate.platform,
        images=estate.platform,
        snapshots=estate,
        commands=estate,
        controller=estate,
    )
