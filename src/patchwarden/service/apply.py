"""Getting a plan ready to run: inventory, advisories, campaign or plan file, drivers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from patchwarden.domain.campaign import Campaign, ChangeSpec
from patchwarden.domain.change import ACTIVE_STATES, ChangeRecord
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan
from patchwarden.drivers.sim import ScaledClock, SimEstate
from patchwarden.engine.steps import Drivers
from patchwarden.errors import InputError, Problem, ValidationFailed
from patchwarden.planning.windows import may_start
from patchwarden.service.campaigns import PlanBuild, build_plan, read_campaign
from patchwarden.service.change import needs_change, require_approved
from patchwarden.service.inputs import Origin, choose_inventory, estate_inputs
from patchwarden.service.replay import stored_plan
from patchwarden.service.sim import estate_drivers
from patchwarden.store import Store

__all__ = [
    "PreparedPlan",
    "plan_from_files",
    "prepare_plan",
    "sim_drivers_for_run",
]


@dataclass(frozen=True)
class PreparedPlan:
    """A plan, the inventory it was made from, and its campaign (absent for a plan file)."""

    plan: Plan
    inventory: Inventory
    inventory_files: tuple[str, ...]
    campaign: Campaign | None = None
    origin: Origin = Origin.FILES
    """Where the inventory came from (see ``service.inputs``): a resume chooses the same."""


def plan_from_files(
    store: Store,
    campaign: Path,
    inventory_files: Sequence[Path],
    advisory_files: Sequence[Path],
    now: datetime,
) -> tuple[PlanBuild, list[str]]:
    """Plan a campaign file from the inputs chosen by the one rule of ``service.inputs``.

    ``plan``, ``change submit``, ``promote`` and ``apply`` all come here (``apply`` through
    :func:`prepare_plan`), so the same files and store give them the same plan and hash.
    Returns the build and the warnings about advisory files with bad records.
    """
    return _plan_from_files(store, campaign, inventory_files, advisory_files, now)[:2]


def _plan_from_files(
    store: Store,
    campaign: Path,
    inventory_files: Sequence[Path],
    advisory_files: Sequence[Path],
    now: datetime,
) -> tuple[PlanBuild, list[str], Origin]:
    loaded = read_campaign(campaign)
    inputs = estate_inputs(store, inventory_files, advisory_files)
    built = build_plan(loaded, inputs.inventory, inputs.advisories, now)
    return built, list(inputs.warnings), inputs.origin


def prepare_plan(
    store: Store, source: Path, inventory_files: Sequence[Path], now: datetime
) -> PreparedPlan:
    """Load a plan JSON as is, or compile a campaign YAML against the current assessment."""
    files = tuple(str(f) for f in inventory_files)
    if source.suffix == ".json":
        try:
            plan = Plan.model_validate_json(source.read_bytes())
        except OSError as error:
            raise InputError(f"{source}: cannot read: {error.strerror}") from error
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationFailed(
                [
                    Problem(
                        str(source),
                        0,
                        where,
                        first["msg"],
                        "write it with `patchwarden plan --format json`",
                    )
                ]
            ) from error
        campaign = None
    else:
        # The same path as `patchwarden plan`: assess, plan, fit into the campaign's windows.
        built, _, origin = _plan_from_files(store, source, inventory_files, (), now)
        return PreparedPlan(built.plan, built.inventory, files, built.campaign, origin)
    chosen = choose_inventory(store, inventory_files)
    return PreparedPlan(plan, chosen.inventory, files, campaign, chosen.origin)


def authorize(
    store: Store, prepared: PreparedPlan, now: datetime
) -> tuple[PreparedPlan, ChangeRecord | None]:
    """Refuse to start real work without its approved change or outside its windows.

    A campaign says which environments need a change (prod by default); a plan file on its
    own needs one when it touches prod. What runs is the plan the change
    approved, as stored when it was submitted (a plan compiled now would carry another
    time and maybe other findings, so another hash). Work starts only inside a maintenance
    window of the plan, unless the change is an approved emergency change.

    Returns:
        The prepared plan to run (the approved one when a change governs it) and the change.

    Raises:
        ChangeNotApproved: no approved change pins this plan.
        InputError: outside every maintenance window (the message names the next one).
    """
    plan = prepared.plan
    if prepared.campaign is not None:
        required = needs_change(plan, prepared.campaign)
    else:  # a plan file: the campaign default applies (a change for prod)
        required = any(w.env in ChangeSpec().required_for for w in plan.waves)
    change = None
    if required:
        approved = _approved_plan(store, plan.campaign) if prepared.campaign is not None else None
        if approved is not None:
            plan, change = approved
            prepared = replace(prepared, plan=plan)
        else:
            change = require_approved(store, plan)  # raises, saying what to do next
    allowed, why = may_start(now, plan.windows, change)
    if not allowed:
        raise InputError(f"not starting: {why}")
    return prepared, change


def _approved_plan(store: Store, campaign: str) -> tuple[Plan, ChangeRecord] | None:
    """The newest approved (or already running) change of a campaign, and its stored plan."""
    active = [c for c in store.changes(campaign=campaign) if c.state in ACTIVE_STATES]
    if not active:
        return None
    change = active[-1]
    return stored_plan(store, change.plan_hash, change.label), change


def sim_drivers_for_run(
    inventory: Inventory,
    seed: int,
    speed: float,
    start: datetime,
    state: Mapping[str, Any] | None,
) -> tuple[Drivers, SimEstate]:
    """Drivers over a simulated estate, restored to a paused run's state when given."""
    estate = SimEstate(inventory, ScaledClock(start, speed), seed=seed)
    if state is not None:
        estate.restore(state)
    return estate_drivers(estate, inventory), estate
