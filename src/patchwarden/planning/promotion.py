"""Promotion: a patch moves dev → qa → staging → prod only on evidence.

A patch (``package=version``) may enter environment N only when, in the environment before
it that needed the patch, every target succeeded, the soak time has passed since the last
one finished, and the QA checks held there: health passed, no crash or restart loop, and a
re-scan shows the targeted findings gone ("confirm the patch solves the actual problem").
A failure in an environment holds the patch in every environment after it.

Pure: outcomes come in as values (the command line reads them from stored runs), ``now`` is
a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from patchwarden.domain.campaign import PromotionSpec
from patchwarden.domain.plan import Plan
from patchwarden.domain.steps import (
    BuildImageParams,
    DistributeParams,
    FirmwareParams,
    PatchParams,
    UploadParams,
)
from patchwarden.domain.window import format_duration
from patchwarden.errors import Problem

__all__ = [
    "EnvEvidence",
    "Gate",
    "GateStatus",
    "PatchOutcome",
    "Rescan",
    "UnitResult",
    "needed_by_env",
    "order_problems",
    "outcomes_of_plan",
    "promotion_gates",
    "promotion_order",
    "summarise",
]

Result = Literal["succeeded", "failed", "running"]
GateStatus = Literal["done", "running", "failed", "may_enter", "waiting", "held", "not_needed"]


@dataclass(frozen=True)
class PatchOutcome:
    """What happened to one patch on one target in one environment."""

    env: str
    target: str
    patch: str
    result: Result
    finished_at: datetime | None = None
    health_ok: bool = True
    restarts: int = 0
    findings_left: int | None = None  # ``None``: no re-scan since the patch


@dataclass(frozen=True)
class UnitResult:
    """How one unit of a run ended, as read from the run's journal."""

    result: Result
    finished_at: datetime | None = None
    health_ok: bool = True
    restarts: int = 0


@dataclass(frozen=True)
class Rescan:
    """A re-scan: when it ran and which (asset, package) pairs it still found vulnerable."""

    at: datetime
    still_open: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class EnvEvidence:
    """One patch's outcomes in one environment, combined."""

    result: Result
    targets: int
    failed: int
    finished_at: datetime | None
    health_ok: bool
    restarts: int
    findings_left: int | None


@dataclass(frozen=True)
class Gate:
    """Where one patch stands in one environment, and why."""

    patch: str
    env: str
    status: GateStatus
    reasons: tuple[str, ...] = ()
    ready_at: datetime | None = field(default=None)


def promotion_order(spec: PromotionSpec, environments: Sequence[str]) -> tuple[str, ...]:
    """The promotion order: the campaign's, else the inventory's environments in order."""
    return spec.order or tuple(environments)


def order_problems(spec: PromotionSpec, environments: Sequence[str], file: str) -> list[Problem]:
    """Environments in ``promotion.order`` or ``promotion.soak`` the inventory does not know."""
    known = ", ".join(environments)
    problems = [
        Problem(file, 0, f"promotion.order[{i}]", f"unknown environment {env!r}", f"use {known}")
        for i, env in enumerate(spec.order)
        if env not in environments
    ]
    problems += [
        Problem(file, 0, f"promotion.soak.{env}", f"unknown environment {env!r}", f"use {known}")
        for env in spec.soak
        if env not in environments
    ]
    if len(set(spec.order)) != len(spec.order):
        problems.append(
            Problem(file, 0, "promotion.order", "an environment is listed twice", "list each once")
        )
    return problems


def _patches_of(plan: Plan) -> dict[str, list[str]]:
    """Unit id -> patches (``package=version``) its steps install."""
    out: dict[str, list[str]] = {}
    for unit in plan.units():
        found: list[str] = []
        for step in unit.steps:
            p = step.params
            if isinstance(p, PatchParams | UploadParams | DistributeParams | BuildImageParams):
                found += [f"{name}={version}" for name, version in p.packages]
            elif isinstance(p, FirmwareParams) and p.version:
                found.append(f"firmware:{step.target}={p.version}")
        if found:
            out[unit.id] = list(dict.fromkeys(found))
    return out


def needed_by_env(plan: Plan) -> dict[str, frozenset[str]]:
    """The patches each environment of ``plan`` installs: what its promotion gates cover."""
    env_of = {u.id: w.env for w in plan.waves for b in w.batches for u in b.units}
    needed: dict[str, set[str]] = {env: set() for env in plan.environments}
    for unit_id, patches in _patches_of(plan).items():
        needed.setdefault(env_of[unit_id], set()).update(patches)
    return {env: frozenset(patches) for env, patches in needed.items()}


def outcomes_of_plan(
    plan: Plan, results: Mapping[str, UnitResult], rescan: Rescan | None = None
) -> list[PatchOutcome]:
    """Per patch and target: the outcome of a run of ``plan`` (units not in ``results`` ran not).

    ``findings_left`` counts the targeted findings a re-scan taken after the unit finished
    still shows; it stays ``None`` while there is no such re-scan.
    """
    env_of = {u.id: w.env for w in plan.waves for b in w.batches for u in b.units}
    target_of = {u.id: u.target for u in plan.units()}
    out = []
    for unit_id, patches in _patches_of(plan).items():
        result = results.get(unit_id)
        if result is None:
            continue
        for patch in patches:
            left: int | None = None
            done = result.finished_at
            if rescan is not None and done is not None and done <= rescan.at:
                package = patch.split("=", 1)[0]
                left = int((target_of[unit_id], package) in rescan.still_open)
            out.append(
                PatchOutcome(
                    env_of[unit_id],
                    target_of[unit_id],
                    patch,
                    result.result,
                    result.finished_at,
                    result.health_ok,
                    result.restarts,
                    left,
                )
            )
    return out


def summarise(outcomes: Iterable[PatchOutcome]) -> dict[tuple[str, str], EnvEvidence]:
    """Combine outcomes per (patch, env); the latest outcome of each target counts."""
    latest: dict[tuple[str, str, str], PatchOutcome] = {}
    for o in outcomes:
        key = (o.patch, o.env, o.target)
        seen = latest.get(key)
        if seen is None or _not_older(o, seen):
            latest[key] = o
    grouped: dict[tuple[str, str], list[PatchOutcome]] = {}
    for patch, env, target in sorted(latest):
        grouped.setdefault((patch, env), []).append(latest[(patch, env, target)])
    evidence: dict[tuple[str, str], EnvEvidence] = {}
    for pair, group in grouped.items():
        results = {o.result for o in group}
        result: Result = (
            "failed" if "failed" in results else "running" if "running" in results else "succeeded"
        )
        finished = [o.finished_at for o in group if o.finished_at is not None]
        lefts = [o.findings_left for o in group]
        evidence[pair] = EnvEvidence(
            result=result,
            targets=len(group),
            failed=sum(1 for o in group if o.result == "failed"),
            finished_at=max(finished) if finished else None,
            health_ok=all(o.health_ok for o in group),
            restarts=max(o.restarts for o in group),
            findings_left=None if any(x is None for x in lefts) else sum(x or 0 for x in lefts),
        )
    return evidence


def _not_older(a: PatchOutcome, b: PatchOutcome) -> bool:
    # An outcome still running (no finish time) is the newest of its target.
    if a.finished_at is None:
        return True
    return b.finished_at is not None and a.finished_at >= b.finished_at


def _qa_failures(ev: EnvEvidence, spec: PromotionSpec) -> list[str]:
    problems = []
    if not ev.health_ok:
        problems.append("health checks failed")
    if ev.restarts > spec.max_restarts:
        problems.append(f"restart loop: {ev.restarts} restarts (at most {spec.max_restarts})")
    if spec.require_rescan and ev.findings_left:
        problems.append(f"re-scan still finds it on {ev.findings_left} target(s)")
    return problems


def promotion_gates(
    order: Sequence[str],
    spec: PromotionSpec,
    outcomes: Iterable[PatchOutcome],
    now: datetime,
    needed: Mapping[str, frozenset[str]] | None = None,
) -> list[Gate]:
    """Where every patch stands in every environment of ``order``, with reasons.

    Args:
        order: Environments in promotion order.
        spec: Soak times and QA rules.
        outcomes: Every known outcome (several runs may be given; the latest per target counts).
        now: The instant soak times are measured against.
        needed: Patches each environment needs (from its plan); an environment that does not
            need a patch is ``not_needed`` and passes the gate on to the one before it. Without
            it every environment needs every patch seen.

    Example:
        >>> from datetime import UTC
        >>> t = datetime(2026, 11, 2, tzinfo=UTC)
        >>> done = PatchOutcome("dev", "h1", "openssl=3.0.15", "succeeded", t, findings_left=0)
        >>> spec = PromotionSpec(soak={"dev": "1d"})
        >>> [(g.env, g.status) for g in promotion_gates(["dev", "qa"], spec, [done], t)]
        [('dev', 'done'), ('qa', 'waiting')]
    """
    evidence = summarise(outcomes)
    patches = sorted({p for p, _ in evidence} | {p for ps in (needed or {}).values() for p in ps})
    gates = []
    for patch in patches:
        previous: tuple[str, EnvEvidence | None, GateStatus] | None = None
        held_by = ""
        for env in order:
            ev = evidence.get((patch, env))
            if needed is not None and patch not in needed.get(env, frozenset()) and ev is None:
                gates.append(Gate(patch, env, "not_needed", ("nothing to patch here",)))
                continue
            gate = _gate(patch, env, ev, previous, held_by, spec, now)
            if gate.status == "failed" and not held_by:
                held_by = f"{env} ({'; '.join(gate.reasons)})"
            gates.append(gate)
            previous = (env, ev, gate.status)
    return gates


def _gate(
    patch: str,
    env: str,
    ev: EnvEvidence | None,
    previous: tuple[str, EnvEvidence | None, GateStatus] | None,
    held_by: str,
    spec: PromotionSpec,
    now: datetime,
) -> Gate:
    if held_by:
        return Gate(patch, env, "held", (f"held: the patch failed in {held_by}",))
    if ev is not None and ev.result == "failed":
        return Gate(patch, env, "failed", (f"failed on {ev.failed} of {ev.targets} target(s)",))
    if ev is not None and ev.result == "running":
        return Gate(patch, env, "running", ("in progress here",))
    if ev is not None:
        failures = _qa_failures(ev, spec)
        if failures:
            return Gate(patch, env, "failed", tuple(f"QA: {f}" for f in failures))
        note = f"succeeded on {ev.targets} target(s)"
        if spec.require_rescan and ev.findings_left is None:
            note += "; waiting for a re-scan"
        return Gate(patch, env, "done", (note,))
    if previous is None:
        return Gate(patch, env, "may_enter", ("first environment in the order that needs it",))
    prev_env, prev_ev, prev_status = previous
    if prev_status != "done" or prev_ev is None:
        why = {
            "running": f"still running in {prev_env}",
            "waiting": f"not yet run in {prev_env}",
            "may_enter": f"not yet run in {prev_env}",
        }.get(prev_status, f"not yet succeeded in {prev_env}")
        return Gate(patch, env, "waiting", (why,))
    if spec.require_rescan and prev_ev.findings_left is None:
        return Gate(patch, env, "waiting", (f"no re-scan of {prev_env} since the patch",))
    soak = spec.soak.get(prev_env, timedelta(0))
    ready = (prev_ev.finished_at or now) + soak
    if now < ready:
        left = format_duration(timedelta(seconds=int((ready - now).total_seconds())))
        return Gate(
            patch, env, "waiting",
            (f"soaking in {prev_env} until {ready:%Y-%m-%d %H:%M %Z} ({left} left)",),
            ready,
        )  # fmt: skip
    checks = "health ok, no restart loop" + (", findings gone" if spec.require_rescan else "")
    soaked = f"soaked {format_duration(soak)}" if soak else "no soak required"
    return Gate(patch, env, "may_enter", (f"succeeded in {prev_env}; {soaked}; {checks}",), ready)
