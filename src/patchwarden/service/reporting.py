"""Fill the report's data model: assessments, baselines, SLAs, drift and a run's journal.

Everything a report shows is computed here, once, so the renderers stay dumb. Compliance
is baseline compliance: each baseline is frozen into a snapshot at the first assessment, and
every asset is checked against it before and after the campaign.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from patchwarden.assess.assessment import Assessment
from patchwarden.assess.baseline import (
    BaselineSet,
    baseline_ecosystem,
)
from patchwarden.assess.compliance import AssetCompliance
from patchwarden.assess.diff import AssessmentDiff, diff_findings
from patchwarden.assess.drift import drift
from patchwarden.assess.sla import (
    FindingKey,
    Snapshot,
    due_buckets,
    mean_time_to_remediate,
    overdue,
)
from patchwarden.assess.storage import check_storage_accounts
from patchwarden.domain.advisories import Action, Advisory, Decision, Finding
from patchwarden.domain.assets import Asset, Owner, StorageAccount
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.responsibility import responsibility_of
from patchwarden.engine.machine import UnitState
from patchwarden.report.model import (
    AssetReport,
    BaselineRow,
    ChangeRow,
    DriftRow,
    EnvCompliance,
    FindingRow,
    MttrRow,
    OverdueRow,
    PatchStateRow,
    ReportData,
    RiskyAsset,
    StepRow,
    StorageGapRow,
    Summary,
)
from patchwarden.service.assessments import (
    OUTCOME_WORDS,
    RunTrace,
    burndown_points,
    campaign_rows,
    run_outcome,
    step_rows,
)
from patchwarden.service.baselines import BaselineCheck, check_baselines
from patchwarden.service.policy import default_baselines

__all__ = ["RunTrace", "build_report", "risk_score"]


def risk_score(assessment: Assessment, inventory: Inventory, asset_id: str) -> float:
    """An asset's risk: the risk of not patching of its open findings, summed.

    Example:
        >>> from datetime import datetime
        >>> risk_score(Assessment(datetime(2026, 1, 1), (), ()), Inventory(), "x")
        0.0
    """
    del inventory  # the decisions already weigh exposure, criticality and environment
    return round(float(sum(d.risk for d in assessment.decisions if d.asset_id == asset_id)), 1)


def _key(d: Decision | Finding) -> FindingKey:
    return (d.asset_id, d.advisory_id, d.package)


def build_report(
    title: str,
    subtitle: str,
    generated_at: datetime,
    inventory: Inventory,
    advisories: Mapping[str, Advisory],
    before: Assessment,
    after: Assessment,
    trace: RunTrace | None,
    *,
    after_inventory: Inventory | None = None,
    baselines: BaselineSet | None = None,
    history: Sequence[Snapshot] = (),
    as_of: datetime | None = None,
) -> ReportData:
    """Everything the report shows, computed once here so renderers stay dumb.

    Args:
        title: Heading of the report.
        subtitle: One line of context.
        generated_at: When the report was made (aware): the real time.
        inventory: The estate as assessed before (packages as they were).
        advisories: Advisories by id.
        before: The assessment before the campaign (or the previous one).
        after: The assessment after it (or the latest); the same as ``before`` if none ran.
        trace: The run, if a campaign ran.
        after_inventory: The estate with packages as rescanned after; ``inventory`` if None.
        baselines: Patch baselines; the shipped defaults if None.
        history: Stored assessments for mean time to remediate; ``before`` and ``after`` if
            empty.
        as_of: The time the data describes when it is not ``generated_at`` (a simulated
            estate's clock); due dates and overdue days count from it.
    """
    now_inventory = after_inventory or inventory
    today = as_of or generated_at
    run = _RunView.of(trace)
    sets = baselines or default_baselines()
    start = check_baselines(inventory, advisories, sets, before.at)
    end = check_baselines(
        now_inventory,
        advisories,
        sets,
        after.at,
        snapshots=start.snapshots,
        failed=run_outcome(trace).failed,
    )
    findings = _FindingRows(before.decision_of(), {_key(f) for f in after.findings}, advisories)
    assets = tuple(
        _asset_report(asset, findings.of(before.open_for(asset.id)), run, end.results[asset.id])
        for asset in inventory.assets
    )
    # Still-open findings keep the due date they got when first seen.
    open_decisions = [findings.decision_of.get(_key(d), d) for d in after.decisions]
    env_of = {a.id: a.env for a in inventory.assets}
    changes = diff_findings(before.findings, after.findings)
    return ReportData(
        title=title,
        generated_at=generated_at,
        as_of=as_of if as_of is not None and as_of != generated_at else None,
        subtitle=subtitle,
        summary=_summary(assets, before, after, start, run),
        environments=inventory.environments,
        compliance_by_env=tuple(EnvCompliance.of(env, assets) for env in inventory.environments),
        findings_by_severity=dict(Counter(f.severity.value for f in after.findings)),
        decisions_by_action={a.value: n for a, n in before.actions().items()},
        burndown=burndown_points(before, after, trace),
        riskiest_assets=_riskiest(after, inventory),
        responsibility=tuple(a.owner_row for a in assets),
        campaign=campaign_rows(trace) if trace else None,
        assets=assets,
        due_buckets=due_buckets(open_decisions, today.date()),
        overdue=_overdue(open_decisions, after, env_of, today),
        mttr=_mttr(history or _pair(before, after), env_of),
        baselines=_baseline_rows(sets, end),
        patch_states=dict(Counter(p.state.value for r in end.results.values() for p in r.patches)),
        drift=_drift_rows(now_inventory),
        changes=_change_rows(changes),
        still_open=len(changes.still_open),
        storage_gaps=_storage_rows(now_inventory, today.date()),
    )


@dataclass(frozen=True)
class _RunView:
    """What the report reads of a run, by target asset: unit state, plan note, steps."""

    unit_state: Mapping[str, UnitState]
    notes: Mapping[str, str]
    steps: Mapping[str, Sequence[StepRow]]

    @classmethod
    def of(cls, trace: RunTrace | None) -> _RunView:
        if trace is None:
            return cls({}, {}, {})
        states = {u.target: trace.progress.units[u.id] for u in trace.plan.units()}
        notes = {n.asset_id: n.reason for n in trace.plan.notes}
        return cls(states, notes, step_rows(trace))


@dataclass(frozen=True)
class _FindingRows:
    """Turns an asset's findings into rows: decided before, open or resolved after."""

    decision_of: Mapping[FindingKey, Decision]
    still_open: set[FindingKey]
    advisories: Mapping[str, Advisory]

    def of(self, found: Sequence[Finding]) -> tuple[FindingRow, ...]:
        return tuple(self._row(f, self.decision_of[_key(f)]) for f in found)

    def _row(self, f: Finding, d: Decision) -> FindingRow:
        advisory = self.advisories.get(f.advisory_id)
        return FindingRow(
            advisory_id=f.advisory_id,
            aliases=advisory.aliases if advisory is not None else (),
            package=f.package,
            source=f"{f.source} {f.source_version}".strip(),
            installed=f.installed,
            fixed=f.fixed,
            severity=f.severity.value,
            cvss=f.cvss_score,
            kev=f.kev,
            decision=d.action.value,
            reason=d.reason,
            state="open" if _key(d) in self.still_open else "resolved",
            due=d.due.isoformat() if d.due else "",
            review=d.review.isoformat() if d.review else "",
        )


def _outcome(asset: Asset, owner: Owner, run: _RunView, has_findings: bool) -> str:
    """What happened to an asset, in words: its unit's end, a plan note, or why nothing."""
    if owner is Owner.PROVIDER:
        return "provider's responsibility"
    if asset.id in run.unit_state:
        state = run.unit_state[asset.id]
        return OUTCOME_WORDS.get(state, state.value)
    if asset.id in run.notes:
        return run.notes[asset.id]
    return "not in campaign" if has_findings else "nothing to patch"


def _asset_report(
    asset: Asset, rows: tuple[FindingRow, ...], run: _RunView, result: AssetCompliance
) -> AssetReport:
    resp = responsibility_of(asset)
    return AssetReport(
        asset_id=asset.id,
        label=asset.label,
        kind=str(asset.kind),
        env=asset.env,
        owner=resp.owner.value,
        owner_reason=resp.reason,
        criticality=asset.criticality.value,
        internet_facing=asset.internet_facing,
        compliant=result.compliant,
        outcome=_outcome(asset, resp.owner, run, bool(rows)),
        findings=rows,
        steps=tuple(run.steps.get(asset.id, ())),
        baseline=result.baseline,
        patch_states=tuple(
            PatchStateRow(
                advisory_id=p.advisory_id,
                package=p.package,
                installed=p.installed,
                target=p.target,
                state=p.state.value,
            )
            for p in result.patches
        ),
    )


def _summary(
    assets: Sequence[AssetReport],
    before: Assessment,
    after: Assessment,
    start: BaselineCheck,
    run: _RunView,
) -> Summary:
    units = Counter(run.unit_state.values())
    return Summary(
        assets=len(assets),
        assets_by_kind=dict(Counter(a.kind for a in assets)),
        findings_open_before=len(before.findings),
        findings_open_after=len(after.findings),
        emergency=before.actions()[Action.EMERGENCY],
        compliant_before=sum(1 for r in start.results.values() if r.compliant),
        compliant_after=sum(1 for a in assets if a.compliant),
        provider_owned=sum(1 for a in assets if a.owner == Owner.PROVIDER.value),
        patched_units=units[UnitState.SUCCEEDED],
        failed_units=units[UnitState.FAILED],
        rolled_back_units=units[UnitState.ROLLED_BACK],
    )


def _drift_rows(inventory: Inventory) -> tuple[DriftRow, ...]:
    return tuple(
        DriftRow(
            group_kind=g.kind,
            group=g.name,
            asset_id=d.asset_id,
            package=d.package,
            version=d.version,
            reference=d.reference,
            how=d.how,
        )
        for g in drift(inventory)
        if g.kind != "env"  # environments repeat what their roles already show
        for d in g.deviations
    )


def _change_rows(changes: AssessmentDiff) -> tuple[ChangeRow, ...]:
    return tuple(
        ChangeRow(
            change=change,
            asset_id=f.asset_id,
            advisory_id=f.advisory_id,
            package=f.package,
            severity=f.severity.value,
        )
        for change, found in (("new", changes.new), ("resolved", changes.resolved))
        for f in found
    )


def _riskiest(after: Assessment, inventory: Inventory) -> tuple[RiskyAsset, ...]:
    scores = sorted(
        ((risk_score(after, inventory, a.id), a.id) for a in inventory.assets), reverse=True
    )
    decisions = after.decision_of()
    rows = []
    for score, asset_id in scores[:10]:
        if score <= 0:
            continue
        worst = sorted(
            after.open_for(asset_id),
            key=lambda f: -decisions[(f.asset_id, f.advisory_id, f.package)].risk,
        )
        reason = ", ".join(
            f"{f.advisory_id} ({f.severity.value}{', KEV' if f.kev else ''})" for f in worst[:3]
        )
        label = inventory.get(asset_id).label
        rows.append(RiskyAsset(asset_id=asset_id, label=label, score=score, reason=reason))
    return tuple(rows)


def _overdue(
    decisions: Sequence[Decision],
    after: Assessment,
    env_of: Mapping[str, str],
    generated_at: datetime,
) -> tuple[OverdueRow, ...]:
    severity = {(f.asset_id, f.advisory_id, f.package): f.severity.value for f in after.findings}
    return tuple(
        OverdueRow(
            asset_id=o.asset_id,
            env=o.env,
            advisory_id=o.advisory_id,
            package=o.package,
            severity=severity.get((o.asset_id, o.advisory_id, o.package), ""),
            decision=o.action,
            due=o.due.isoformat(),
            days_overdue=o.days_overdue,
        )
        for o in overdue(decisions, env_of, generated_at.date())
    )


def _pair(before: Assessment, after: Assessment) -> list[Snapshot]:
    def snap(a: Assessment) -> Snapshot:
        return Snapshot(
            a.at, {(f.asset_id, f.advisory_id, f.package): f.severity for f in a.findings}
        )

    return [snap(before), snap(after)] if after.at > before.at else [snap(after)]


def _mttr(history: Sequence[Snapshot], env_of: Mapping[str, str]) -> tuple[MttrRow, ...]:
    return tuple(
        MttrRow(env=r.env, severity=r.severity, remediated=r.remediated, mean_days=r.mean_days)
        for r in mean_time_to_remediate(history, env_of)
    )


def _baseline_rows(sets: BaselineSet, check: BaselineCheck) -> tuple[BaselineRow, ...]:
    rows = []
    for baseline in sets.baselines:
        snapshot = check.snapshots[baseline_ecosystem(baseline.os_family)]
        covered = [r for r in check.results.values() if r.snapshot_id == snapshot.id]
        if not covered:
            continue  # a baseline for an OS family the estate does not run
        rows.append(
            BaselineRow(
                name=baseline.name,
                os_family=baseline.os_family,
                snapshot_id=snapshot.id,
                approved=len(snapshot.approved),
                rejected=len(snapshot.rejected),
                assets=len(covered),
                compliant=sum(1 for r in covered if r.compliant),
            )
        )
    return tuple(rows)


def _storage_rows(inventory: Inventory, today: date) -> tuple[StorageGapRow, ...]:
    """Each storage account's gaps (accounts by id), from its settings in the inventory.

    ``storage check`` reads the service's own settings too, where a driver reaches it.
    """
    accounts = sorted(
        (a for a in inventory.assets if isinstance(a, StorageAccount)), key=lambda a: a.id
    )
    return tuple(
        StorageGapRow(
            asset_id=g.asset_id,
            env=g.env,
            rule=g.rule,
            severity=g.severity.value,
            reason=g.reason,
            fix=g.fix,
            source=g.source,
            due=g.due.isoformat(),
        )  # fmt: skip
        for g in check_storage_accounts(accounts, {}, today)
    )
