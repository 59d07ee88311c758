"""The ``sim`` drivers: what an asset names until a real driver is configured.

``sim`` takes no configuration. The simulated estate carries out every step of every
kind whatever the asset's ``driver`` (what-if runs, the demo); a real run refuses a step
whose asset still says ``sim``, naming the asset and the key to set. The specs have no
factory: nothing real can be built from them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from patchwarden.drivers.registry import DriverKind, DriverSpec

__all__ = [
    "APPLIANCE",
    "APP_INSTALLER",
    "CLUSTER",
    "HYPERVISOR",
    "IMAGE",
    "LOAD_BALANCER",
    "STORAGE",
    "STORAGE_ACCOUNT",
    "SimConfig",
]


class SimConfig(BaseModel):
    """No settings: the simulated estate needs none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _sim(kind: DriverKind) -> DriverSpec[SimConfig]:
    return DriverSpec(kind, "sim", SimConfig, None, "the simulated estate (what-if runs only)")


LOAD_BALANCER = _sim(DriverKind.LOAD_BALANCER)
APPLIANCE = _sim(DriverKind.APPLIANCE)
CLUSTER = _sim(DriverKind.CLUSTER)
IMAGE = _sim(DriverKind.IMAGE)
HYPERVISOR = _sim(DriverKind.HYPERVISOR)
APP_INSTALLER = _sim(DriverKind.APP_INSTALLER)
STORAGE = _sim(DriverKind.STORAGE)
STORAGE_ACCOUNT = _sim(DriverKind.STORAGE_ACCOUNT)
