"""Assessing an estate as ``patchwarden assess`` does, and comparing stored assessments.

The use cases behind ``assess`` and ``assess diff``, for any front end: inputs chosen by
the one rule of :mod:`patchwarden.service.inputs`, the risk model fed with the failures of
the latest run and the first-seen times of earlier assessments, the result recorded so
``report``, SLAs and later plans work from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from patchwarden.assess.assessment import Assessment, assess
from patchwarden.assess.diff import AssessmentDiff, diff_findings
from patchwarden.assess.policy import Policy
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.responsibility import owner_of
from patchwarden.errors import UsageError
from patchwarden.service.assessments import (
    first_seen_in_store,
    latest_pair,
    load_assessment,
    load_run,
    record_assessment,
    run_outcome,
)
from patchwarden.service.audit import Actor, local_actor
from patchwarden.service.audit import note as audit_note
from patchwarden.service.audit import record as append_audit
from patchwarden.service.collector import collector_paused
from patchwarden.service.inputs import EstateInputs, Origin, estate_inputs
from patchwarden.service.notices import emergency_items
from patchwarden.store import Store

Assessor = Callable[..., Assessment]
"""``assess`` or a path that gives the same result (same arguments, same return)."""

__all__ = [
    "Assessed",
    "Assessment",
    "AssessmentDiff",
    "Assessor",
    "Comparison",
    "assess_estate",
    "compare_assessments",
]


@dataclass(frozen=True)
class Assessed:
    """An assessment, the estate it assessed, and how it compares with the one before."""

    assessment: Assessment
    inventory: Inventory
    recorded: int | None
    """Its id in the store; ``None`` when not recorded."""
    previous: int | None
    """The id of the assessment before it, if any."""
    since: AssessmentDiff | None
    """What changed since the previous one."""
    seconds: Mapping[str, float] = field(default_factory=dict)
    """Wall seconds of each phase: ``load`` (inventory, scans, advisories, history),
    ``match`` (findings and decisions) and ``store`` (recording it)."""


_EMERGENCIES_TOLD = 200
"""At most this many new emergency findings are listed in an assessment's audit entry."""


def assess_estate(
    store: Store,
    inventory_files: Sequence[Path],
    *,
    demo: bool,
    policy: Policy,
    now: datetime,
    record: bool = True,
    assessor: Assessor = assess,
    actor: Actor | None = None,
    details: Mapping[str, Any] | None = None,
) -> Assessed:
    """Match, weigh and decide every finding of the chosen estate; record it if asked.

    The recording is audited as ``actor`` (the local user when not given), with
    ``details`` added to the entry's (a scheduled assessment names its job's occurrence).

    ``assessor`` is :func:`~patchwarden.assess.assessment.assess`; the benchmark passes
    :func:`~patchwarden.assess.reference.assess_reference`, the plain path it is held to,
    to time both on the same command path.

    Raises:
        UsageError: no inventory of the user's own (files, stored, or ``demo``).
        ValidationFailed: bad inventory files.
    """
    # A fleet's scans, findings and decisions are millions of small objects and no cycles:
    # the cyclic collector re-scanning the growing heap was 40 % of the CPU time of a
    # 2,000-host assessment (bench/bench_assess.py). Reference counting still frees them.
    with collector_paused():
        return _assess_estate(
            store, inventory_files, demo=demo, policy=policy, now=now, record=record,
            assessor=assessor, actor=actor, details=details,
        )  # fmt: skip


def _assess_estate(
    store: Store,
    inventory_files: Sequence[Path],
    *,
    demo: bool,
    policy: Policy,
    now: datetime,
    record: bool,
    assessor: Assessor,
    actor: Actor | None,
    details: Mapping[str, Any] | None,
) -> Assessed:
    started = time.perf_counter()
    inputs = estate_inputs(store, inventory_files, demo=demo, own_estate=True)
    failures = run_outcome(load_run(store)).failures
    seen = first_seen_in_store(store)
    _, previous = latest_pair(store)
    loaded = time.perf_counter()
    result = assessor(
        inputs.inventory, inputs.advisories, now, policy, failures=failures, first_seen=seen
    )
    matched = time.perf_counter()
    ident = None
    if record:
        _remember(store, inputs, actor or local_actor())
        told: dict[str, Any] = {"findings": len(result.findings), "origin": inputs.origin.value}
        before = None if previous is None else previous.assessment.decision_of().keys()
        env_of = {a.id: a.env for a in inputs.inventory.assets}
        urgent = emergency_items(result, before, env_of)
        if urgent:  # the notifier tells them (finding.emergency)
            told["new_emergency_count"] = len(urgent)
            told["new_emergency"] = urgent[:_EMERGENCIES_TOLD]
        entry = audit_note(
            actor or local_actor(), "assessment.record", "assessment", "",
            details={**told, **(details or {})},
        )  # fmt: skip
        ident = record_assessment(store, result, inputs.inventory, audit=entry)
    stored = time.perf_counter()
    since = None
    if previous is not None:
        since = diff_findings(previous.assessment.findings, result.findings)
    seconds = {"load": loaded - started, "match": matched - loaded, "store": stored - matched}
    return Assessed(
        result,
        inputs.inventory,
        ident,
        previous.id if previous is not None else None,
        since,
        seconds,
    )


def _remember(store: Store, inputs: EstateInputs, actor: Actor) -> None:
    """Store what was assessed, so ``report`` and later runs work from the same estate."""
    loaded = inputs.loaded
    if inputs.origin is Origin.STORED or loaded is None:
        return  # assessed the stored inventory: nothing new to keep
    inventory = loaded.inventory
    counts = store.replace_inventory(
        inventory,
        {a.id: owner_of(a).value for a in inventory.assets},
        {a.id: loaded.source_of(a.id) for a in inventory.assets},
    )
    if counts.inserted or counts.updated or counts.deleted:
        append_audit(
            store, actor, "inventory.replace", "inventory", "current",
            details={"origin": inputs.origin.value, **counts._asdict()},
        )  # fmt: skip
    if inputs.origin is Origin.DEMO:
        store.upsert_advisories(
            (a.id, a.modified, a.withdrawn, a.model_dump(mode="json")) for a in inputs.advisories
        )


@dataclass(frozen=True)
class Comparison:
    """Two stored assessments and what changed between them."""

    before: int
    after: int
    diff: AssessmentDiff


def compare_assessments(store: Store, old: int | None, new: int | None) -> Comparison:
    """Compare stored assessments ``old`` and ``new`` (default: the latest two).

    Raises:
        UsageError: fewer than two assessments, or an id the store does not hold.
    """
    if old is None and new is None:
        before, after = latest_pair(store)
    else:
        latest = store.latest_assessment()
        after_id = new or (latest.id if latest else None)
        after = load_assessment(store, after_id) if after_id else None
        before = load_assessment(store, old) if old else None
    if before is None or after is None:
        raise UsageError("need two stored assessments; run `patchwarden assess` twice first")
    diff = diff_findings(before.assessment.findings, after.assessment.findings)
    return Comparison(before.id, after.id, diff)
