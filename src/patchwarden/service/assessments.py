"""Assessments and runs in the store: recording them whole, reading them back, history.

An assessment is stored with every finding and its decision in full, so ``report`` and
``assess diff`` can rebuild it later without the feeds that produced it. The history of
stored assessments gives first-seen times (SLAs count from them) and mean time to
remediate. Runs are read back as a :class:`RunTrace` (plan, journal, replayed progress);
their failed units become the "failed in an earlier environment" input of the risk model,
and their journal the campaign rows of a report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patchwarden.assess.assessment import Assessment
from patchwarden.assess.sla import FindingKey, Snapshot, first_seen
from patchwarden.domain.advisories import FIRMWARE, Action, Decision, Finding, Severity
from patchwarden.domain.inventory import DEFAULT_ENVIRONMENTS, Inventory
from patchwarden.domain.steps import FirmwareParams, MigrateParams, PatchParams
from patchwarden.engine.machine import UnitState
from patchwarden.inventory import parse_inventory
from patchwarden.report.model import BurndownPoint, CampaignReport, CanaryRow, StepRow, WaveRow
from patchwarden.service.replay import RunTrace, trace_run
from patchwarden.store import FindingRecord, JsonText, Store
from patchwarden.store.audit import AuditNote

__all__ = [
    "OUTCOME_WORDS",
    "RunOutcome",
    "RunTrace",
    "Stored",
    "burndown_points",
    "campaign_rows",
    "first_seen_in_store",
    "history",
    "latest_pair",
    "load_assessment",
    "load_run",
    "patch_detail",
    "record_assessment",
    "run_outcome",
    "step_rows",
    "stored_inventory",
]

FORMAT = 1
"""Version of the finding layout written by :func:`record_assessment`."""


def record_assessment(
    store: Store, assessment: Assessment, inventory: Inventory, *, audit: AuditNote | None = None
) -> int:
    """Store an assessment with every finding and decision in full; returns its id.

    ``audit`` is appended in the same transaction (its ``object_id`` becomes the id).
    """
    summary = {
        "format": FORMAT,
        "at": assessment.at.isoformat(),
        "findings": len(assessment.findings),
        "actions": {a.value: n for a, n in assessment.actions().items()},
        "environments": list(inventory.environments),
        "env_of": {a.id: a.env for a in inventory.assets},
    }
    # The installed packages as assessed, so a report can check baselines later: each
    # distinct set once, in the store's package tables (not in the summary).
    packages = {a.id: a.packages for a in inventory.assets}
    return store.record_assessment(summary, _rows(assessment), packages, audit=audit)


def _rows(assessment: Assessment) -> Iterator[dict[str, Any]]:
    """One row per finding, made as the store writes them (a fleet's are many)."""
    decisions = assessment.decision_of()
    for f in assessment.findings:
        d = decisions[(f.asset_id, f.advisory_id, f.package)]
        yield {
            "asset_id": f.asset_id,
            "package": f.package,
            "advisory_id": f.advisory_id,
            "installed": f.installed,
            "fixed": f.fixed,
            "severity": str(f.severity),  # a StrEnum's str is its value, a plain str
            "decision": str(d.action),
            "reason": d.reason,
            # Each value's own serialiser, once: written into the row as it is.
            "finding": JsonText(f.model_dump_json()),
            "decided": JsonText(d.model_dump_json()),
        }


def _finding(record: FindingRecord) -> Finding:
    data = record.data.get("finding")
    if isinstance(data, dict):
        return Finding.model_validate(data)
    # Written by an older recorder: rebuild from the columns every version stores.
    return Finding(
        asset_id=record.asset_id,
        advisory_id=record.advisory_id,
        package=record.package,
        ecosystem=str(record.data.get("ecosystem", "")),
        installed=record.installed,
        fixed=record.fixed or "",
        severity=Severity(record.severity) if record.severity else Severity.MEDIUM,
    )


def _decision(record: FindingRecord) -> Decision:
    data = record.data.get("decided")
    if isinstance(data, dict):
        return Decision.model_validate(data)
    return Decision(
        asset_id=record.asset_id,
        advisory_id=record.advisory_id,
        package=record.package,
        action=Action(record.decision) if record.decision else Action.NEXT_WINDOW,
        reason=record.reason,
    )


@dataclass(frozen=True)
class Stored:
    """A stored assessment rebuilt, with its id, and each asset's environment and packages."""

    id: int
    assessment: Assessment
    env_of: Mapping[str, str]
    packages: Mapping[str, Mapping[str, str]]

    def applied_to(self, inventory: Inventory) -> Inventory:
        """The inventory with installed packages as they were at this assessment."""
        assets = tuple(
            a.model_copy(update={"packages": dict(self.packages[a.id])})
            if a.id in self.packages
            else a
            for a in inventory.assets
        )
        return inventory.model_copy(update={"assets": assets})


def load_assessment(store: Store, assessment_id: int) -> Stored | None:
    """The stored assessment with this id, rebuilt; ``None`` if there is none."""
    record = store.get_assessment(assessment_id)
    if record is None:
        return None
    rows = store.findings_for(assessment_id)
    at_text = record.summary.get("at")
    at = datetime.fromisoformat(at_text) if isinstance(at_text, str) else record.created_at
    assessment = Assessment(at, tuple(_finding(r) for r in rows), tuple(_decision(r) for r in rows))
    env_of = record.summary.get("env_of")
    # Older assessments kept the packages in their summary.
    packages = store.assessed_packages(assessment_id) or record.summary.get("packages")
    return Stored(
        assessment_id,
        assessment,
        dict(env_of) if isinstance(env_of, dict) else {},
        dict(packages) if isinstance(packages, dict) else {},
    )


def latest_pair(store: Store) -> tuple[Stored | None, Stored | None]:
    """The assessment before the latest, and the latest (either may be ``None``)."""
    latest = store.latest_assessment()
    if latest is None:
        return None, None
    previous = None
    for ident in range(latest.id - 1, 0, -1):
        previous = load_assessment(store, ident)
        if previous is not None:
            break
    return previous, load_assessment(store, latest.id)


def history(store: Store) -> list[Snapshot]:
    """Every stored assessment as an SLA snapshot, oldest first (ids only grow)."""
    latest = store.latest_assessment()
    snaps: list[Snapshot] = []
    for ident in range(1, (latest.id if latest else 0) + 1):
        stored = load_assessment(store, ident)
        if stored is None:
            continue
        open_now = {
            (f.asset_id, f.advisory_id, f.package): f.severity for f in stored.assessment.findings
        }
        snaps.append(Snapshot(stored.assessment.at, open_now))
    return snaps


def first_seen_in_store(store: Store) -> dict[FindingKey, datetime]:
    """When each finding of the latest stored assessment was first seen."""
    return first_seen(history(store))


def stored_inventory(store: Store) -> Inventory | None:
    """The stored inventory snapshot, validated again; ``None`` when none is stored."""
    records = store.inventory()
    if not records:
        return None
    import yaml  # noqa: PLC0415 - only this path turns stored assets back into YAML

    latest = store.latest_assessment()
    envs = latest.summary.get("environments") if latest else None
    text = yaml.safe_dump(
        {
            "environments": list(envs) if envs else list(DEFAULT_ENVIRONMENTS),
            "assets": [r.data for r in records],
        }
    )
    return parse_inventory([("stored inventory", text)]).inventory


def load_run(store: Store) -> RunTrace | None:
    """The latest run with its plan and journal, replayed as ``status`` replays it."""
    run = store.latest_run()
    if run is None or store.get_plan(run.plan_hash) is None:
        return None
    return trace_run(store, run)


@dataclass(frozen=True)
class RunOutcome:
    """What a run's failures mean for the next decisions and for compliance."""

    failures: dict[tuple[str, str], set[str]]
    """``("*", package)`` -> environments where patching it failed or was rolled back."""
    failed: dict[str, set[str]]
    """Asset -> packages whose installation failed there (``firmware`` for a failed flash,
    under the appliance or storage part flashed)."""


def run_outcome(trace: RunTrace | None) -> RunOutcome:
    """Failed and rolled-back units of a run, as patch failures per environment and asset."""
    failures: dict[tuple[str, str], set[str]] = defaultdict(set)
    failed: dict[str, set[str]] = defaultdict(set)
    if trace is None:
        return RunOutcome({}, {})
    bad = (UnitState.FAILED, UnitState.ROLLED_BACK)
    for wave in trace.plan.waves:
        for batch in wave.batches:
            for unit in batch.units:
                if trace.progress.units.get(unit.id) not in bad:
                    continue
                for step in unit.steps:
                    if isinstance(step.params, FirmwareParams) and not step.params.undo:
                        failed[step.target].add(FIRMWARE)
                    if not isinstance(step.params, PatchParams):
                        continue
                    for name, _ in step.params.packages:
                        failures[("*", str(name))].add(wave.env)
                        failed[unit.target].add(str(name))
    return RunOutcome(dict(failures), dict(failed))


OUTCOME_WORDS: dict[UnitState, str] = {
    UnitState.SUCCEEDED: "patched",
    UnitState.ROLLED_BACK: "rolled back",
    UnitState.FAILED: "failed",
    UnitState.HELD: "held (failure in an earlier environment)",
    UnitState.SKIPPED: "skipped (error budget spent)",
    UnitState.PENDING: "not started",
}


def patch_detail(payload: Mapping[str, object]) -> str:
    """A patch step's journal in words: packages changed, services restarted or still due.

    Example:
        >>> patch_detail({"changed": ["libpwlib1"], "restarted": ["pw-daemon.service"],
        ...               "services_to_restart": []})
        'changed: libpwlib1; restarted: pw-daemon.service'
        >>> patch_detail({"changed": [], "services_to_restart": "unknown"})
        'services to restart: unknown'
    """

    def names(key: str) -> str:
        value = payload.get(key)
        return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value or "")

    parts = []
    if names("changed"):
        parts.append(f"changed: {names('changed')}")
    if names("restarted"):
        parts.append(f"restarted: {names('restarted')}")
    pending = names("services_to_restart")
    if pending:
        label = "services to restart" if pending == "unknown" else "still needs a restart"
        parts.append(f"{label}: {pending}")
    return "; ".join(parts)


def step_rows(trace: RunTrace) -> dict[str, list[StepRow]]:
    """Step rows per target asset, from the journal."""
    first: dict[str, datetime] = {}
    last: dict[str, tuple[str, datetime, Mapping[str, object]]] = {}
    for record, at in zip(trace.records, trace.times, strict=True):
        if record.event == "started":
            first.setdefault(record.step_id, at)
        elif record.event in ("succeeded", "failed"):
            last[record.step_id] = (record.event, at, record.payload)
    rows: dict[str, list[StepRow]] = defaultdict(list)
    for unit in trace.plan.units():
        for step in (*unit.steps, *unit.rollback):
            if step.id not in first:
                continue
            # An unfinished step has no end and no payload yet.
            finished = last.get(step.id)
            status, end, payload = finished if finished else ("started", None, {})
            detail = str(payload.get("error") or payload.get("detail") or "")
            if isinstance(step.params, MigrateParams):
                detail = f"{step.params.vm} → {step.params.destination}"
            elif step.action.value in ("patch", "restore") and patch_detail(payload):
                detail = patch_detail(payload)
            rows[unit.target].append(
                StepRow(
                    step_id=step.id,
                    action=step.action.value,
                    target=step.target,
                    status="rolled_back"
                    if "/rollback/" in step.id and status == "succeeded"
                    else status,
                    started_at=first[step.id],
                    finished_at=end,
                    detail=detail,
                )
            )
    return rows


def _unit_times(trace: RunTrace) -> dict[str, tuple[datetime, datetime]]:
    unit_of_step = {s.id: u.id for u in trace.plan.units() for s in (*u.steps, *u.rollback)}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for record, at in zip(trace.records, trace.times, strict=True):
        unit = unit_of_step.get(record.step_id)
        if unit is None:
            continue
        start, _ = spans.get(unit, (at, at))
        spans[unit] = (start, at)
    return spans


def burndown_points(
    before: Assessment, after: Assessment, trace: RunTrace | None
) -> tuple[BurndownPoint, ...]:
    """Open findings over the campaign: the start, after each unit that succeeded, the end.

    Rules: a unit that succeeded takes off the findings resolved on every asset its steps
    touched (the first such unit to finish, for an asset several touch: a cluster's members,
    an image's instances). The last point is always the re-scan's count, the number the
    summary shows; when findings went away that no succeeded unit touched, or new ones
    appeared, a final "rescan" point says so rather than the chart ending elsewhere.
    """
    if trace is None or not trace.times:
        return ()
    open_now = len(before.findings)
    points = [BurndownPoint(at=trace.times[0], open_findings=open_now, label="start")]
    remaining = Counter(f.asset_id for f in after.findings)
    initial = Counter(f.asset_id for f in before.findings)
    spans = _unit_times(trace)
    finished = sorted(
        (
            u
            for u in trace.plan.units()
            if u.id in spans and trace.progress.units[u.id] is UnitState.SUCCEEDED
        ),
        key=lambda u: (spans[u.id][1], u.target),
    )
    counted: set[str] = set()
    for unit in finished:
        touched = {unit.target, *(s.target for s in unit.steps)} - counted
        counted |= touched
        open_now -= sum(initial[a] - remaining[a] for a in touched)
        points.append(
            BurndownPoint(at=spans[unit.id][1], open_findings=open_now, label=unit.target)
        )
    if open_now != len(after.findings):
        points.append(
            BurndownPoint(at=trace.times[-1], open_findings=len(after.findings), label="rescan")
        )
    return tuple(points)


def campaign_rows(trace: RunTrace) -> CampaignReport:
    """The run as the report's campaign section: state, times and one row per wave."""
    spans = _unit_times(trace)
    waves = []
    for wave in trace.plan.waves:
        units = [u for b in wave.batches for u in b.units]
        states = Counter(trace.progress.units[u.id] for u in units)
        times = [spans[u.id] for u in units if u.id in spans]
        waves.append(
            WaveRow(
                name=wave.id,
                env=wave.env,
                group=wave.group,
                strategy=wave.strategy,
                units=len(units),
                succeeded=states[UnitState.SUCCEEDED],
                failed=states[UnitState.FAILED],
                rolled_back=states[UnitState.ROLLED_BACK],
                started_at=min((t[0] for t in times), default=None),
                finished_at=max((t[1] for t in times), default=None),
            )
        )
    return CampaignReport(
        name=trace.plan.campaign,
        plan_hash=trace.plan.digest(),
        state=trace.state,
        started_at=trace.times[0] if trace.times else None,
        finished_at=trace.times[-1] if trace.times else None,
        waves=tuple(waves),
        canaries=tuple(
            _canary_row(r.step_id, r.payload["analysis"])
            for r in trace.records
            if r.event == "observed" and "analysis" in r.payload
        ),
    )


def _canary_row(step_id: str, analysis: Mapping[str, Any]) -> CanaryRow:
    """An analysis as journaled (``engine.canary.Verdict.to_json``), in a person's words."""
    metrics = []
    for m in analysis.get("metrics", ()):
        if m.get("p_value") is None:
            metrics.append(f"{m['name']}: no data")
        else:
            metrics.append(
                f"{m['name']}: canary {m['canary_value']:.4g} vs baseline "
                f"{m['baseline_value']:.4g} (p={m['p_value']:.3g}, n={m['canary_n']}/"
                f"{m['baseline_n']}) {m['outcome']}"
            )
    return CanaryRow(
        step_id=step_id,
        verdict=str(analysis.get("verdict", "")),
        score=float(analysis.get("score", 0.0)),
        reason=str(analysis.get("reason", "")),
        metrics=tuple(metrics),
    )
