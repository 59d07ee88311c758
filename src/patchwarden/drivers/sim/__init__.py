"""The simulated estate: every driver protocol, on a virtual clock, with failure injection."""

from patchwarden.drivers.sim.clock import ScaledClock
from patchwarden.drivers.sim.estate import FailurePlan, SimEstate

__all__ = ["FailurePlan", "ScaledClock", "SimEstate"]
