"""Pre/post hooks: a group's commands before and after each unit, batch or the group.

A hook is an argument vector, never a shell string: it runs on the unit's target host over
that host's own connection, or on the controller (the machine running the campaign), with
a timeout and a failure policy (``abort``: the run stops where it is and nothing is rolled
back; ``rollback``: the hook's unit fails and rolls back like any failed step; ``ignore``:
the failure is journaled and the work goes on). Its output goes to the run's journal.

In an argument, ``{target}`` becomes the unit's target (for a batch or group hook on the
controller: the batch's or group's id), ``{group}`` the group and ``{env}`` the
environment; each inside its one argument, where no shell ever reads it.

Pure: hooks become steps of the plan, so whoever reviews the plan sees every command.

Example:
    >>> from patchwarden.domain.campaign import HookSpec
    >>> spec = HookSpec.model_validate({"when": "pre_unit", "run": ["echo", "{target}"]})
    >>> hook_params(spec, "web-01", "web", "dev").argv
    ('echo', 'web-01')
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from patchwarden.domain.campaign import HookSpec
from patchwarden.domain.plan import Batch, Step, Unit
from patchwarden.domain.steps import HookParams
from patchwarden.planning.steps import step

__all__ = ["hook_params", "with_hooks"]


def hook_params(spec: HookSpec, target: str, group: str, env: str) -> HookParams:
    """The step parameters of one hook for one target, placeholders filled in."""
    values = {"{target}": target, "{group}": group, "{env}": env}

    def fill(arg: str) -> str:
        for key, value in values.items():
            arg = arg.replace(key, value)
        return arg

    return HookParams(
        when=spec.when,
        argv=tuple(fill(a) for a in spec.run),
        on=spec.on,
        timeout_s=spec.timeout_s,
        on_failure=spec.on_failure,
    )


def _renumber(unit_id: str, steps: Sequence[Step]) -> tuple[Step, ...]:
    return tuple(
        s.model_copy(update={"id": f"{unit_id}/{i:02d}-{s.action}"}) for i, s in enumerate(steps)
    )


def _hook_steps(
    unit_id: str, hooks: Sequence[HookSpec], target: str, group: str, env: str, first: int
) -> list[Step]:
    return [
        step(unit_id, first + i, hook_params(h, target, group, env), target)
        for i, h in enumerate(hooks)
    ]


def _with_unit_hooks(
    unit: Unit, pre: Sequence[HookSpec], post: Sequence[HookSpec], group: str, env: str
) -> Unit:
    before = _hook_steps(unit.id, pre, unit.target, group, env, 0)
    after = _hook_steps(unit.id, post, unit.target, group, env, 0)
    steps = _renumber(unit.id, [*before, *unit.steps, *after])
    return unit.model_copy(update={"steps": steps})


def _hook_unit(
    unit_id: str,
    hooks: Sequence[HookSpec],
    targets: Sequence[str],
    scope: str,
    group: str,
    env: str,
) -> Unit:
    """One unit running ``hooks`` in order: on each target host, or once on the controller."""
    steps: list[Step] = []
    for hook in hooks:
        where = [scope] if hook.on == "controller" else list(targets)
        for target in where:
            steps.append(step(unit_id, len(steps), hook_params(hook, target, group, env), target))
    return Unit(id=unit_id, target=scope, steps=tuple(steps), rollback=())


def with_hooks(
    wave_id: str,
    group: str,
    env: str,
    batches: Sequence[Batch],
    hooks: Sequence[HookSpec],
    hosts: Collection[str],
) -> tuple[Batch, ...]:
    """``batches`` with the group's hooks woven in, in the order they run.

    Unit hooks go into every unit whose target is one of the group's ``hosts`` (not into
    a pool's analysis or switch unit). Batch and group hooks are batches of their own; a
    batch that follows a pre-hook requires success, so a failed pre-hook never lets the
    work it guards start.
    """
    if not hooks:
        return tuple(batches)
    by_when: dict[str, list[HookSpec]] = {}
    for hook in hooks:
        by_when.setdefault(hook.when, []).append(hook)

    def units_of(batch: Batch) -> list[str]:
        return [u.target for u in batch.units if u.target in hosts]

    out: list[Batch] = []
    every_host = [h for b in batches for h in units_of(b)]
    if "pre_group" in by_when:
        unit = _hook_unit(f"{wave_id}#pre", by_when["pre_group"], every_host, wave_id, group, env)
        out.append(Batch(id=f"{wave_id}#pre", units=(unit,)))
    for batch in batches:
        units = tuple(
            _with_unit_hooks(
                u, by_when.get("pre_unit", ()), by_when.get("post_unit", ()), group, env
            )
            if u.target in hosts
            else u
            for u in batch.units
        )
        guarded = bool(out) and "pre_batch" in by_when or "pre_group" in by_when
        if "pre_batch" in by_when:
            unit = _hook_unit(
                f"{batch.id}#pre", by_when["pre_batch"], units_of(batch), batch.id, group, env
            )
            out.append(
                Batch(id=f"{batch.id}#pre", units=(unit,), requires_success=batch.requires_success)
            )
        out.append(
            batch.model_copy(
                update={
                    "units": units,
                    "requires_success": batch.requires_success or guarded or "pre_batch" in by_when,
                }
            )
        )
        if "post_batch" in by_when:
            unit = _hook_unit(
                f"{batch.id}#post", by_when["post_batch"], units_of(batch), batch.id, group, env
            )
            out.append(Batch(id=f"{batch.id}#post", units=(unit,)))
    if "post_group" in by_when:
        unit = _hook_unit(f"{wave_id}#post", by_when["post_group"], every_host, wave_id, group, env)
        out.append(Batch(id=f"{wave_id}#post", units=(unit,)))
    return tuple(out)
