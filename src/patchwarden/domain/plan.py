"""The Plan: what a person reviews, what a change approves (by hash) and what the engine runs.

A plan is waves (run one after another, in promotion order), each of batches (one after
another), each of units (run side by side): a unit is one target's chain of steps plus the
rollback steps to run if the chain fails.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import model_validator

from patchwarden.domain.base import Value
from patchwarden.domain.campaign import PromotionSpec
from patchwarden.domain.steps import StepAction, StepParams
from patchwarden.domain.window import Duration, WindowSpec
from patchwarden.errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "Batch",
    "Plan",
    "PlanNote",
    "PlanSchemaMismatch",
    "PromotionGates",
    "Slot",
    "Step",
    "StepAction",
    "Unit",
    "Wave",
]

SCHEMA_VERSION = 2
"""2: each step's parameters are typed by action (``params.action``); 1 had untyped dicts."""


class PlanSchemaMismatch(InputError):
    """A plan written by another version of patchwarden, in a form this one does not read."""

    def __init__(self, found: object) -> None:
        super().__init__(
            f"plan schema_version {found} is not this patchwarden's {SCHEMA_VERSION} "
            "(step parameters are typed since version 2); compile it again with "
            "`patchwarden plan` (and submit the new plan for approval if it needs a change)"
        )
        self.found = found


class Step(Value):
    """One idempotent action on one target.

    ``params`` says what the step does (its ``action``) and with what: one typed model per
    action. ``only_if`` (rollback steps only) names an action of the unit that must have
    started for this step to be needed: no ``enable`` if the host was never drained.
    """

    id: str
    target: str
    params: StepParams
    timeout_s: float = 600.0
    expected_s: float = 60.0
    retries: int = 0
    only_if: StepAction | None = None

    @property
    def action(self) -> StepAction:
        """What the step does: the tag of its parameters."""
        return self.params.action


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


class PromotionGates(Value):
    """The campaign's promotion rules as a plan carries them (frozen: soak as pairs).

    Example:
        >>> PromotionGates.of(PromotionSpec(soak={"qa": "2d"})).soak_of("qa")
        datetime.timedelta(days=2)
    """

    soak: tuple[tuple[str, Duration], ...] = ()
    max_restarts: int = 0
    require_rescan: bool = True

    @classmethod
    def of(cls, spec: PromotionSpec) -> PromotionGates:
        """The rules of a campaign's ``promotion`` section."""
        return cls(
            soak=tuple(sorted(spec.soak.items())),
            max_restarts=spec.max_restarts,
            require_rescan=spec.require_rescan,
        )

    def soak_of(self, env: str) -> timedelta:
        """How long ``env`` soaks before the next environment may start (0 if not said)."""
        return dict(self.soak).get(env, timedelta(0))


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
    promotion: PromotionGates | None = None
    """Soak times and QA gates between environments, enforced by the engine as it runs;
    ``None`` (a plan written without a campaign) runs environments straight on."""

    @model_validator(mode="before")
    @classmethod
    def _readable_schema(cls, data: Any) -> Any:
        # Raised as is (not a ValueError), so every loader of plan files and stored plans
        # refuses an old plan with the same advice instead of a list of field errors.
        if isinstance(data, dict):
            found = data.get("schema_version", SCHEMA_VERSION)
            if found != SCHEMA_VERSION:
                raise PlanSchemaMismatch(found)
        return data

    def canonical_json(self) -> str:
        """Stable JSON: sorted keys, no whitespace; the input of :meth:`digest`."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON: what a change approval pins."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def units(self) -> list[Unit]:
        """Every unit, in plan order."""
        return [u for w in self.waves for b in w.batches for u in b.units]
