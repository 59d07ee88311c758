"""A plan as the runbook a person reads: plain text, the same on the command line and the API.

The text is plain on purpose: it is read, pasted into tickets and golden-tested, so it must
not depend on a terminal's width or colours. ``patchwarden plan`` prints it, and
``GET /api/v1/plans/{hash}`` answers it as ``text/plain`` (or wrapped as ``text/markdown``).
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from patchwarden.domain.plan import Plan, Step, Unit, Wave
from patchwarden.domain.steps import (
    BuildImageParams,
    DistributeParams,
    FailoverParams,
    HandoverParams,
    LeaveParams,
    MigrateParams,
    PackagePins,
    PatchParams,
    PoolParams,
    RejoinParams,
    SetWeightParams,
    SwitchParams,
    UploadParams,
)
from patchwarden.domain.window import WindowSpec, format_duration
from patchwarden.service.campaigns import expected_wave_seconds
from patchwarden.service.cluster_checks import leaving_members
from patchwarden.service.storage_checks import attached_hosts
from patchwarden.service.whatif import WhatIf

__all__ = [
    "describe_step",
    "format_duration_s",
    "render_markdown",
    "render_plan",
    "render_whatif",
]

WIDTH = 100


def render_whatif(plan: Plan, whatif: WhatIf) -> str:
    """The what-if summary: duration, service impact, windows."""
    slots = [b.slot for w in plan.waves for b in w.batches if b.slot]
    lines = ["", "What-if on the simulated estate (nothing real touched):"]
    lines.append(f"  engine time       {format_duration_s(whatif.duration.total_seconds())}")
    if slots:
        lines.append(
            f"  calendar          {_when(slots[0].start)} -> {_when(max(s.end for s in slots))}"
        )
    used = ", ".join(whatif.windows) or "(none: no window governs these environments)"
    lines.append(f"  windows used      {used}")
    lines.append(
        "  units             " + ", ".join(f"{n} {s}" for s, n in sorted(whatif.units.items()))
    )
    lines.append(f"  VM migrations     {whatif.migrations}")
    lines.append("  peak capacity loss per service:")
    for impact in whatif.services:
        worst = f"{impact.peak_out} of {impact.members} out at worst ({impact.peak_loss:.0%})"
        lines.append(f"    {impact.service:28} {worst}")
    return "\n".join(lines) + "\n"


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"


def _window_line(spec: WindowSpec) -> str:
    rule = f"cron '{spec.cron}'" if spec.cron else f"rrule '{spec.rrule}' at {spec.at:%H:%M}"
    extra = [f"for {format_duration(spec.duration)}", spec.timezone]
    if spec.cutoff:
        extra.append(f"cutoff {format_duration(spec.cutoff)}")
    if spec.offset_days:
        extra.append(f"+{spec.offset_days} day(s)")
    if spec.blackout:
        extra.append(f"{len(spec.blackout)} blackout(s)")
    envs = ", ".join(spec.env) or "all environments"
    return f"  {spec.name}: {rule} {', '.join(extra)}; governs {envs}"


def _packages(pairs: PackagePins) -> str:
    shown = ", ".join(f"{n} {v}" for n, v in pairs[:3])
    return shown + (f" (+{len(pairs) - 3} more)" if len(pairs) > 3 else "")


def describe_step(step: Step, unit_target: str) -> str:
    """One step in words, e.g. ``drain at lb-prod/web`` or ``migrate vm-3 to hv-2``."""
    p = step.params
    a = step.action.value
    match p:
        case (
            PatchParams(packages=pins)
            | UploadParams(packages=pins)
            | DistributeParams(packages=pins)
            | BuildImageParams(packages=pins)
        ) if pins:
            text = f"{a} {_packages(pins)}"
        case MigrateParams():
            text = f"migrate {p.vm} to {p.destination}"
        case SetWeightParams():
            text = f"{a} to {p.weight} at {p.lb}/{p.pool}"
        case SwitchParams(side=side) if side:
            text = f"{a} to {side} at {p.lb}/{p.pool}"
        case PoolParams():
            text = f"{a} at {p.lb}/{p.pool}"
        case HandoverParams(to=to) | FailoverParams(to=to):
            text = f"{a} to {to}"
        case LeaveParams(member=member) | RejoinParams(member=member):
            text = f"{member} {a}s"
        case _:
            given = p.model_dump(mode="json", exclude={"action"}, exclude_defaults=True)
            scalars = [
                f"{k}={v}" for k, v in sorted(given.items()) if isinstance(v, str | int | float)
            ]
            text = a + (f" ({', '.join(scalars)})" if scalars else "")
    return text if step.target == unit_target else f"{text} [on {step.target}]"


def _unit_lines(unit: Unit) -> list[str]:
    total = format_duration_s(sum(s.expected_s for s in unit.steps))
    steps = " -> ".join(describe_step(s, unit.target) for s in unit.steps)
    lines = textwrap.wrap(
        f"{unit.target}: {steps}  ({total})",
        WIDTH,
        initial_indent="      ",
        subsequent_indent="        ",
        break_on_hyphens=False,
    )
    if unit.rollback:
        undo = ", ".join(dict.fromkeys(s.action.value for s in unit.rollback))
        lines.append(f"        on failure: {undo}")
    return lines


def format_duration_s(seconds: float) -> str:
    """Seconds as ``1h5m``; under a minute as ``45s``."""
    return format_duration(timedelta(seconds=round(seconds)))


def _timeline(plan: Plan) -> list[str]:
    rows = [("wave", "strategy", "batches", "units", "start (UTC)", "end (UTC)", "window")]
    for wave in plan.waves:
        slots = [b.slot for b in wave.batches if b.slot is not None]
        windows = sorted({s.window for s in slots if s.window}) or ["-"]
        rows.append(
            (
                wave.id,
                wave.strategy,
                str(len(wave.batches)),
                str(sum(len(b.units) for b in wave.batches)),
                _when(min((s.start for s in slots), default=None)),
                _when(max((s.end for s in slots), default=None)),
                ", ".join(windows),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def _wave_block(index: int, wave: Wave, concurrency: int) -> list[str]:
    total = expected_wave_seconds(wave, concurrency)
    units = sum(len(b.units) for b in wave.batches)
    lines = [
        f"{index}. {wave.id}: {wave.strategy}, {len(wave.batches)} batch(es), {units} unit(s), "
        f"expected {format_duration_s(total)}"
    ]
    for number, batch in enumerate(wave.batches, 1):
        when = ""
        if batch.slot is not None:
            where = f"window {batch.slot.window}" if batch.slot.window else "no window"
            when = f" {_when(batch.slot.start)} -> {_when(batch.slot.end)} ({where})"
        lines.append(f"   batch {number}/{len(wave.batches)}:{when}")
        for unit in batch.units:
            lines.extend(_unit_lines(unit))
    return lines


def _live_checks(plan: Plan) -> list[str]:
    """What only the live systems can tell, read by ``apply --real`` before anything runs."""
    clusters, storage = leaving_members(plan), attached_hosts(plan)
    if not clusters and not storage:
        return []
    lines = ["", "Checked at apply --real, before anything runs (a plan is made offline):"]
    for cluster, members in clusters.items():
        lines.append(
            f"  {cluster}: quorum holds without each of {', '.join(members)}, read from the "
            "cluster's own API"
        )
    for system, hosts in storage.items():
        lines.append(
            f"  {system}: {', '.join(hosts)} reach every LUN through two paths (multipath -ll)"
        )
    return lines


def render_plan(plan: Plan, soak: Mapping[str, timedelta] | None = None) -> str:
    """The plan as a runbook: header, windows, timeline, then every wave step by step.

    ``soak`` is the campaign's soak per environment as written; without it, the soak the
    plan carries (a stored plan has no campaign beside it).
    """
    p = plan
    units = p.units()
    steps = sum(len(u.steps) for u in units)
    lines = [
        f"Plan {p.campaign!r}  hash {p.digest()[:12]}  as of {_when(p.created_at)} UTC",
        f"Environments: {' -> '.join(p.environments) or '-'}",
        f"{len(p.waves)} waves, {len(units)} units, {steps} steps; at most {p.max_concurrency} "
        f"at once, stop after {p.max_errors} failure(s), rollback {p.rollback}",
    ]
    if soak is None:
        soak = dict(p.promotion.soak) if p.promotion else {}
    if soak:
        lines.append("Soak: " + ", ".join(f"{env} {format_duration(t)}" for env, t in soak.items()))
    lines.append("Windows:" if p.windows else "Windows: none (work may start at any time)")
    lines += [_window_line(w) for w in p.windows]
    ends = [b.slot.end for w in p.waves for b in w.batches if b.slot is not None]
    lines += ["", f"Timeline (expected end {_when(max(ends, default=None))} UTC)"]
    lines += _timeline(p)
    lines += ["", "Runbook"]
    for i, wave in enumerate(p.waves, 1):
        lines += _wave_block(i, wave, p.max_concurrency)
    lines += _live_checks(p)
    if p.notes:
        kinds = Counter(n.kind for n in p.notes)
        lines += ["", "Left alone: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))]
        for note in p.notes:
            lines.append(f"  {note.asset_id}: {note.reason}")
    return "\n".join(lines) + "\n"


def render_markdown(plan: Plan, soak: Mapping[str, timedelta] | None = None) -> str:
    """The runbook as Markdown: a heading with the full hash, then the text as a code block.

    The runbook's columns line up only in a fixed-width font, so it stays verbatim.
    """
    return (
        f"# Plan {plan.campaign}\n\nHash `{plan.digest()}`\n\n"
        f"```text\n{render_plan(plan, soak)}```\n"
    )
