"""The Plan: what a person reviews, what a change approves (by hash) and what the engine runs.

A plan is waves (run one after another, in promotion order), each of batches (one after
another), each of units (run side by side): a unit is one target's chain of steps plus the
rollback steps to run if the chain fails.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from patchwarden.domain.base import Value
from patchwarden.domain.window import WindowSpec

__all__ = [
    "SCHEMA_VERSION",
    "Batch",
    "Plan",
    "PlanNote",
    "Slot",
    "Step",
    "StepAction",
    "Unit",
    "Wave",
]

SCHEMA_VERSION = 1


class StepAction(StrEnum):
    """What a step does; the engine maps each to a driver call."""

    DRAIN = "drain"
    WAIT_DRAINED = "wait_drained"
    ENABLE = "enable"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"
    MIGRATE = "migrate"
    PATCH = "patch"
    RESTORE = "restore"
    REBOOT = "reboot"
    HEALTH = "health"
    VERIFY = "verify"
    # traffic: canary weights and analysis, blue-green switching
    SET_WEIGHT = "set_weight"
    ANALYZE = "analyze"
    SWITCH = "switch"
    WAIT = "wait"
    # clusters: leader handover, controller-based distribution
    HANDOVER = "handover"
    UPLOAD = "upload"
    DISTRIBUTE = "distribute"
    # firmware of appliances and storage parts; HA fail-over; redundant paths
    FIRMWARE = "firmware"
    FAILOVER = "failover"
    PATH_OFFLINE = "path_offline"
    PATH_ONLINE = "path_online"
    VERIFY_REDUNDANCY = "verify_redundancy"
    # offline images: build, test, replace instances
    BUILD_IMAGE = "build_image"
    TEST_IMAGE = "test_image"
    REPLACE = "replace"


class Step(Value):
    """One idempotent action on one target.

    ``only_if`` (rollback steps only) names an action of the unit that must have started for
    this step to be needed: no ``enable`` if the host was never drained.
    """

    id: str
    action: StepAction
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = 600.0
    expected_s: float = 60.0
    retries: int = 0
    only_if: StepAction | None = None


class Unit(Value):
    """One target's chain of steps, and how to undo it."""

    id: str
    target: str
    steps: tuple[Step, ...]
    rollback: tuple[Step, ...] = ()


class Slot(Value):
    """When a batch is expected to run, and the maintenance window that holds it.

    ``window`` is empty when no window governs the environment (work may run any time).
    """

    start: datetime
    end: datetime
    window: str = ""


class Batch(Value):
    """Units that run side by side.

    ``requires_success``: start only if every earlier unit of the wave succeeded; a blue-green
    switch never happens after a failed standby, the rest of a fleet never after a failed
    canary.
    """

    id: str
    units: tuple[Unit, ...]
    slot: Slot | None = None  # filled in by fitting the plan to maintenance windows
    requires_success: bool = False


class Wave(Value):
    """One group's work in one environment, with its strategy."""

    id: str
    env: str
    group: str
    strategy: str
    batches: tuple[Batch, ...]


class PlanNote(Value):
    """An asset the plan leaves alone, and why (provider's responsibility, nothing to do)."""

    asset_id: str
    reason: str
    kind: Literal["provider", "skipped", "unselected"]


class Plan(Value):
    """A compiled campaign."""

    schema_version: int = SCHEMA_VERSION
    campaign: str
    created_at: datetime
    environments: tuple[str, ...]
    waves: tuple[Wave, ...]
    notes: tuple[PlanNote, ...] = ()
    max_concurrency: int = 10
    max_errors: int = 1
    rollback: Literal["auto", "manual"] = "auto"
    windows: tuple[WindowSpec, ...] = ()

    def canonical_json(self) -> str:
        """Stable JSON: sorted keys, no whitespace; the input of :meth:`digest`."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: what a change approval pins."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def units(self) -> list[Unit]:
        """Every unit, in plan order."""
        return [u for w in self.waves for b in w.batches for u in b.units]
