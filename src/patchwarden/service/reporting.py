"""Fill the report's data model from an assessment, a plan and a run's journal."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from patchwarden.assess.assessment import Assessment
from patchwarden.assess.responsibility import responsibility_of
from patchwarden.domain.advisories import Action, Advisory, Severity
from patchwarden.domain.assets import Criticality, Owner
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan
from patchwarden.engine.machine import Progress, Record, UnitState
from patchwarden.report import (
    AssetReport,
    BurndownPoint,
    CampaignReport,
    EnvCompliance,
    FindingRow,
    OwnerRow,
    ReportData,
    RiskyAsset,
    StepRow,
    Summary,
    WaveRow,
)

__all__ = ["RunTrace", "build_report", "risk_score"]

_APPROVED = (Action.EMERGENCY, Action.NEXT_WINDOW)
_SEVERITY_WEIGHT = {Severity.CRITICAL: 10, Severity.HIGH: 6, Severity.MEDIUM: 3, Severity.LOW: 1, Severity.NONE: 0}
_CRITICALITY_WEIGHT = {Criticality.CRITICAL: 2.0, Criticality.HIGH: 1.5, Criticality.MEDIUM: 1.0, Criticality.LOW: 0.6}
_OUTCOME = {
    UnitState.SUCCEEDED: "patched",
    UnitState.ROLLED_BACK: "rolled back",
    UnitState.FAILED: "failed",
    UnitState.HELD: "held (failure in an earlier environment)",
    UnitState.SKIPPED: "skipped (error budget spent)",
    UnitState.PENDING: "not started",
}


@dataclass(frozen=True)
class RunTrace:
    """A finished run: its plan, journal records with their times, and the final progress."""

    plan: Plan
    records: Sequence[Record]
    times: Sequence[datetime]
    progress: Progress
    state: str


def risk_score(assessment: Assessment, inventory: Inventory, asset_id: str) -> float:
    """Severity-weighted open findings, doubled when internet-facing, scaled by criticality."""
    asset = inventory.get(asset_id)
    base = sum(_SEVERITY_WEIGHT[f.severity] * (3 if f.kev else 1) for f in assessment.open_for(asset_id))
    return round(base * (2 if asset.internet_facing else 1) * _CRITICALITY_WEIGHT[asset.criticality], 1)


def _steps(trace: RunTrace) -> dict[str, list[StepRow]]:
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
            status, end, payload = last.get(step.id, ("started", None, {}))  # type: ignore[assignment]  # unfinished step
            detail = str(payload.get("error") or payload.get("detail") or "")
            if step.action.value == "migrate":
                detail = f"{step.params['vm']} → {step.params['destination']}"
            elif step.action.value in ("patch", "restore") and payload.get("changed"):
                detail = "changed: " + ", ".join(map(str, payload["changed"]))  # type: ignore[call-overload]  # journal payload is JSON
            rows[unit.target].append(
                StepRow(
                    step_id=step.id,
                    action=step.action.value,
                    target=step.target,
                    status="rolled_back" if "/rollback/" in step.id and status == "succeeded" else status,
                    started_at=first[step.id],
                    finished_at=end,
                    detail=detail,
                )
            )
    return rows


def build_report(
    title: str,
    subtitle: str,
    generated_at: datetime,
    inventory: Inventory,
    advisories: Mapping[str, Advisory],
    before: Assessment,
    after: Assessment,
    trace: RunTrace | None,
) -> ReportData:
    """Everything the report shows, computed once here so renderers stay dumb."""
    decision_of = {(d.asset_id, d.advisory_id, d.package): d for d in before.decisions}
    still_open = {(f.asset_id, f.advisory_id, f.package) for f in after.findings}
    unit_state: dict[str, UnitState] = {}
    if trace is not None:
        for unit in trace.plan.units():
            unit_state[unit.target] = trace.progress.units[unit.id]
    notes = {n.asset_id: n for n in trace.plan.notes} if trace else {}
    steps = _steps(trace) if trace else {}

    def compliant(asset_id: str, assessment: Assessment) -> bool:
        return all(
            decision_of.get((f.asset_id, f.advisory_id, f.package)) is None
            or decision_of[(f.asset_id, f.advisory_id, f.package)].action not in _APPROVED
            for f in assessment.open_for(asset_id)
        )

    assets: list[AssetReport] = []
    owners: list[OwnerRow] = []
    for asset in inventory.assets:
        resp = responsibility_of(asset)
        owners.append(OwnerRow(asset_id=asset.id, kind=str(asset.kind), env=asset.env, owner=resp.owner.value, reason=resp.reason))
        rows = []
        for f in before.open_for(asset.id):
            d = decision_of[(f.asset_id, f.advisory_id, f.package)]
            adv = advisories[f.advisory_id]
            rows.append(
                FindingRow(
                    advisory_id=f.advisory_id,
                    aliases=adv.aliases,
                    package=f.package,
                    installed=f.installed,
                    fixed=f.fixed,
                    severity=f.severity.value,
                    cvss=f.cvss_score,
                    kev=f.kev,
                    decision=d.action.value,
                    reason=d.reason,
                    state="open" if (f.asset_id, f.advisory_id, f.package) in still_open else "resolved",
                )
            )
        if resp.owner is Owner.PROVIDER:
            outcome = "provider's responsibility"
        elif asset.id in unit_state:
            outcome = _OUTCOME.get(unit_state[asset.id], unit_state[asset.id].value)
        elif asset.id in notes:
            outcome = notes[asset.id].reason
        else:
            outcome = "nothing to patch" if not rows else "not in campaign"
        assets.append(
            AssetReport(
                asset_id=asset.id,
                label=asset.label,
                kind=str(asset.kind),
                env=asset.env,
                owner=resp.owner.value,
                owner_reason=resp.reason,
                criticality=asset.criticality.value,
                internet_facing=asset.internet_facing,
                compliant=resp.owner is Owner.PROVIDER or compliant(asset.id, after),
                outcome=outcome,
                findings=tuple(rows),
                steps=tuple(steps.get(asset.id, ())),
            )
        )
    by_env = {
        env: EnvCompliance(
            env=env,
            compliant=sum(1 for a in assets if a.env == env and a.compliant),
            total=sum(1 for a in assets if a.env == env),
        )
        for env in inventory.environments
    }
    scores = sorted(
        ((risk_score(after, inventory, a.id), a.id) for a in inventory.assets), reverse=True
    )
    risky = tuple(
        RiskyAsset(
            asset_id=asset_id,
            label=inventory.get(asset_id).label,
            score=score,
            reason=", ".join(
                f"{f.advisory_id} ({f.severity.value}{', KEV' if f.kev else ''})"
                for f in after.open_for(asset_id)[:3]
            ),
        )
        for score, asset_id in scores[:10]
        if score > 0
    )
    provider_owned = sum(1 for o in owners if o.owner == "provider")
    units = Counter(unit_state.values())
    summary = Summary(
        assets=len(assets),
        assets_by_kind=dict(Counter(a.kind for a in assets)),
        findings_open_before=len(before.findings),
        findings_open_after=len(after.findings),
        emergency=before.actions()[Action.EMERGENCY],
        compliant_before=sum(1 for a in inventory.assets if responsibility_of(a).owner is Owner.PROVIDER or compliant(a.id, before)),
        compliant_after=sum(1 for a in assets if a.compliant),
        provider_owned=provider_owned,
        patched_units=units[UnitState.SUCCEEDED],
        failed_units=units[UnitState.FAILED],
        rolled_back_units=units[UnitState.ROLLED_BACK],
    )
    return ReportData(
        title=title,
        generated_at=generated_at,
        subtitle=subtitle,
        summary=summary,
        environments=inventory.environments,
        compliance_by_env=tuple(by_env.values()),
        findings_by_severity=dict(Counter(f.severity.value for f in after.findings)),
        decisions_by_action={a.value: n for a, n in before.actions().items()},
        burndown=_burndown(before, after, trace),
        riskiest_assets=risky,
        responsibility=tuple(owners),
        campaign=_campaign(trace) if trace else None,
        assets=tuple(assets),
    )


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


def _burndown(before: Assessment, after: Assessment, trace: RunTrace | None) -> tuple[BurndownPoint, ...]:
    if trace is None or not trace.times:
        return ()
    open_now = len(before.findings)
    points = [BurndownPoint(at=trace.times[0], open_findings=open_now, label="start")]
    remaining = Counter(f.asset_id for f in after.findings)
    initial = Counter(f.asset_id for f in before.findings)
    spans = _unit_times(trace)
    finished = sorted(
        (spans[u.id][1], u.target)
        for u in trace.plan.units()
        if u.id in spans and trace.progress.units[u.id] is UnitState.SUCCEEDED
    )
    for at, target in finished:
        open_now -= initial[target] - remaining[target]
        points.append(BurndownPoint(at=at, open_findings=open_now, label=target))
    return tuple(points)


def _campaign(trace: RunTrace) -> CampaignReport:
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
    )
