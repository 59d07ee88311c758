"""Compile a campaign given as text (an upload to the server) into a stored plan.

The same steps as ``patchwarden plan``: the campaign through the same loader (problems
named by file, line and field), the inventory and advisories by the one rule of
``service.inputs`` (uploaded inventory texts count as files), then :func:`build_plan`. So a
server compiles the same plan, with the same hash, as the command line on that store.

Unlike the command line, the server keeps the plan (content-addressed, as a change keeps
its plan) so that it can be shown again by its hash; keeping one is a change of state, and
is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from patchwarden.domain.plan import Plan
from patchwarden.service.audit import Actor, record
from patchwarden.service.campaigns import PlanBuild, build_plan, load_campaign
from patchwarden.service.identity import OutsideGrant
from patchwarden.service.inputs import Origin, estate_inputs
from patchwarden.service.replay import stored_plan
from patchwarden.store import Store

__all__ = ["CompiledPlan", "compile_plan", "plan_environments", "shown_plan"]


@dataclass(frozen=True)
class CompiledPlan:
    """A compiled plan, what it came from, and whether the store already had it."""

    build: PlanBuild
    plan_hash: str
    origin: Origin
    warnings: tuple[str, ...]
    new: bool


def plan_environments(waves_env: Sequence[str]) -> list[str]:
    """The distinct environments of a plan's waves, sorted.

    Example:
        >>> plan_environments(["prod", "dev", "prod"])
        ['dev', 'prod']
    """
    return sorted(set(waves_env))


def compile_plan(
    store: Store,
    file_name: str,
    text: str,
    now: datetime,
    actor: Actor,
    *,
    inventory: Sequence[tuple[str, str]] = (),
    environments: Sequence[str] = (),
) -> CompiledPlan:
    """Plan a campaign YAML text, keep the plan under its hash, and audit that.

    Args:
        store: Where the stored inventory, scans, catalog and plans are.
        file_name: The campaign's name in problems (``campaign.yaml``).
        text: The campaign YAML.
        now: The time the plan is made as of.
        actor: Who compiles it, for the audit trail.
        inventory: Inventory files as ``(name, text)``; none: the stored inventory.
        environments: Those the caller may act in (empty: all); a plan reaching beyond
            them is refused before anything is stored.

    Raises:
        ValidationFailed: the campaign or an inventory text has problems (file, line, field).
        OutsideGrant: the plan touches an environment the caller may not act in.
    """
    loaded = load_campaign(file_name, text)
    inputs = estate_inputs(store, inventory_texts=inventory)
    built = build_plan(loaded, inputs.inventory, inputs.advisories, now)
    touched = plan_environments([w.env for w in built.plan.waves])
    outside = [env for env in touched if environments and env not in environments]
    if outside:
        raise OutsideGrant(f"the plan touches {', '.join(outside)}, where {actor.name} may not act")
    plan = built.plan
    digest = plan.digest()
    new = store.save_plan(digest, plan.campaign, plan.model_dump(mode="json"))
    record(
        store, actor, "plan.compile", "plan", digest, object_hash=digest,
        details={
            "campaign": plan.campaign, "file": file_name, "inventory": inputs.origin.value,
            "inventory_files": [name for name, _ in inventory], "new": new,
            "environments": touched,
        },
    )  # fmt: skip
    return CompiledPlan(built, digest, inputs.origin, inputs.warnings, new)


def shown_plan(store: Store, plan_hash: str, environments: Sequence[str] = ()) -> Plan | None:
    """A stored plan, checked against its hash, if the caller's environments reach it.

    ``None`` for a plan not stored, or with no wave in ``environments`` (empty: all), as
    if it were absent.

    Raises:
        InputError: the stored content no longer matches its hash.
    """
    if len(plan_hash) != 64 or store.get_plan(plan_hash) is None:
        return None
    plan = stored_plan(store, plan_hash, f"plan {plan_hash[:12]}")
    touched = plan_environments([w.env for w in plan.waves])
    if environments and not any(env in environments for env in touched):
        return None
    return plan
