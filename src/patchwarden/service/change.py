"""Change management: draft a change record from a plan, move it through its life, gate runs.

:func:`draft_change` is pure (risk from the decisions, schedule from the fitted plan, services
from the inventory, rollback from each group's strategy); the other functions read and write
the store. :func:`require_approved` is what a runner calls before touching anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from patchwarden.domain.advisories import Decision, Finding
from patchwarden.domain.assets import Application, Cluster, LoadBalancer
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.change import (
    ACTIVE_STATES,
    TRANSITIONS,
    ChangeRecord,
    ChangeState,
    IllegalTransition,
    RiskSummary,
    RollbackEntry,
    ScheduleEntry,
)
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, StepAction
from patchwarden.errors import InputError
from patchwarden.service.audit import Actor, record
from patchwarden.store import Store
from patchwarden.store.changes import StaleChange

__all__ = [
    "ROLLBACK_BY_STRATEGY",
    "ChangeNotApproved",
    "ChangeRefused",
    "approve_change",
    "draft_change",
    "finish_change",
    "needs_change",
    "reject_change",
    "require_approved",
    "start_change",
    "submit_change",
]

ROLLBACK_BY_STRATEGY = {
    "all_at_once": "restore the package versions recorded before patching on each host, reboot "
    "if the patch did, check health",
    "rolling": "per host: restore the recorded versions, check health, put it back in its pool; "
    "the rest of the pool keeps serving",
    "canary": "canary hosts return to the recorded versions and leave the traffic split; the "
    "rest of the fleet is never touched",
    "blue_green": "flip traffic back to the old side, kept untouched through the bake time",
    "cluster_rolling": "restore the member and let it rejoin; quorum holds throughout, the "
    "leader is moved back only if it was patched",
    "controller": "the cluster controller rolls members back to the previous version",
    "evacuate": "restore the hypervisor's recorded versions and reboot; its VMs stay where "
    "they were moved",
    "image_rebuild": "keep the previous image and replace instances back from it",
    "redundant_path": "restore the part's previous firmware while the other path carries I/O",
    "ha_pair": "fail back to the unpatched peer, then restore the standby's firmware",
}
"""How a group is put back, by strategy: the rollback plan a change board reads."""


class ChangeNotApproved(InputError):
    """A plan may not run: no approved change pins its hash."""


class ChangeRefused(InputError):
    """A move the change process does not allow (four eyes, wrong state, a stale read)."""


def _write(
    store: Store, move: Callable[[], ChangeRecord], actor: Actor, action: str, details: str = ""
) -> ChangeRecord:
    """Apply a state move, store it and audit it; refusals become errors for people (exit 2)."""
    try:
        stored = store.update_change(move())
    except (IllegalTransition, StaleChange) as error:
        raise ChangeRefused(str(error)) from error
    _audit(store, stored, actor, action, details)
    return stored


def _audit(store: Store, change: ChangeRecord, actor: Actor, action: str, note: str = "") -> None:
    details = {
        "state": change.state.value,
        "campaign": change.campaign,
        "revision": change.revision,
    }
    if note:
        details["note"] = note
    record(
        store, actor, action, "change", str(change.id), object_hash=change.plan_hash,
        details=details,
    )  # fmt: skip


def needs_change(plan: Plan, campaign: Campaign) -> bool:
    """Whether the plan touches an environment that needs an approved change (prod)."""
    return any(w.env in campaign.change.required_for for w in plan.waves)


def _risk(plan: Plan, findings: Sequence[Finding], decisions: Sequence[Decision]) -> RiskSummary:
    targets = {u.target for u in plan.units()}
    envs_of = {u.target: w.env for w in plan.waves for b in w.batches for u in b.units}
    mine = [f for f in findings if f.asset_id in targets]
    chosen = [d for d in decisions if d.asset_id in targets]
    severity = Counter(f.severity.value for f in mine)
    exploited = sum(1 for f in mine if f.kev)
    reboots = len(
        {u.target for u in plan.units() if any(s.action is StepAction.REBOOT for s in u.steps)}
    )
    prod_targets = sum(1 for t in targets if envs_of[t] == (plan.environments or ("",))[-1])
    reasons = []
    if exploited:
        reasons.append(f"{exploited} finding(s) known exploited (CISA KEV): patching is urgent")
    if severity.get("critical"):
        reasons.append(f"{severity['critical']} critical finding(s)")
    if reboots:
        reasons.append(f"{reboots} asset(s) reboot")
    if prod_targets:
        reasons.append(f"{prod_targets} asset(s) in {plan.environments[-1]} change")
    level: Literal["low", "medium", "high", "critical"] = "low"
    if exploited or severity.get("critical"):
        level = "critical"
    elif severity.get("high") or (reboots and prod_targets):
        level = "high"
    elif mine:
        level = "medium"
    return RiskSummary(
        level=level,
        findings=len(mine),
        by_severity=dict(sorted(severity.items())),
        by_action=dict(sorted(Counter(d.action.value for d in chosen).items())),
        exploited=exploited,
        reboots=reboots,
        reasons=tuple(reasons),
    )


def _services(plan: Plan, inventory: Inventory) -> tuple[str, ...]:
    """Services a person would recognise: LB pools, clusters, applications on the targets."""
    targets = {s.target for u in plan.units() for s in (*u.steps, *u.rollback)}
    targets |= {u.target for u in plan.units()}
    found: set[str] = set()
    for asset in inventory.assets:
        if isinstance(asset, LoadBalancer):
            found |= {
                f"pool {asset.id}/{p.name}" for p in asset.pools if targets & set(p.all_members())
            }
        elif isinstance(asset, Cluster) and (asset.id in targets or targets & set(asset.members)):
            found.add(f"cluster {asset.id}")
        elif isinstance(asset, Application) and targets & set(asset.runs_on):
            found.add(f"application {asset.id}")
    return tuple(sorted(found))


def _schedule(plan: Plan) -> tuple[ScheduleEntry, ...]:
    entries = []
    for wave in plan.waves:
        slots = [b.slot for b in wave.batches if b.slot is not None]
        entries.append(
            ScheduleEntry(
                wave=wave.id,
                env=wave.env,
                start=min((s.start for s in slots), default=None),
                end=max((s.end for s in slots), default=None),
                windows=tuple(sorted({s.window for s in slots if s.window})),
            )
        )
    return tuple(entries)


def draft_change(
    plan: Plan,
    campaign: Campaign,
    inventory: Inventory,
    findings: Sequence[Finding],
    decisions: Sequence[Decision],
    requester: str,
    now: datetime,
    *,
    emergency: bool | None = None,
    title: str = "",
) -> ChangeRecord:
    """A draft change record for ``plan``: what a change board needs to decide."""
    groups: dict[str, str] = {}
    for wave in plan.waves:
        groups.setdefault(wave.group, wave.strategy)
    how = "automatic" if plan.rollback == "auto" else "by an operator"
    rollback = tuple(
        RollbackEntry(
            group=g,
            strategy=s,
            how=f"{ROLLBACK_BY_STRATEGY.get(s, 'restore the recorded versions')} ({how})",
        )
        for g, s in sorted(groups.items())
    )
    assets = {u.target for u in plan.units()}
    return ChangeRecord(
        campaign=plan.campaign,
        plan_hash=plan.digest(),
        requester=requester,
        created_at=now,
        title=title or f"Patch campaign {plan.campaign!r}",
        emergency=campaign.change.emergency if emergency is None else emergency,
        environments=tuple(dict.fromkeys(w.env for w in plan.waves)),
        risk=_risk(plan, findings, decisions),
        schedule=_schedule(plan),
        affected_assets=tuple(sorted(assets)),
        affected_services=_services(plan, inventory),
        rollback_plan=rollback,
        approvals_required=campaign.change.approvals,
    )


def _get(store: Store, change_id: int) -> ChangeRecord:
    record = store.get_change(change_id)
    if record is None:
        raise InputError(f"no change CHG-{change_id}; `patchwarden change show` lists them")
    return record


def submit_change(
    store: Store, plan: Plan, draft: ChangeRecord, now: datetime, *, source: str = ""
) -> ChangeRecord:
    """Save the plan, supersede the campaign's open changes for other plans, submit this one.

    Submitting the same plan again returns the change already open for it. ``source`` says
    where the request came from, for the audit trail (the requester is ``draft.requester``).
    """
    actor = Actor(draft.requester, source)
    for old in store.changes(campaign=plan.campaign):
        if old.plan_hash == draft.plan_hash and old.state in (
            ChangeState.SUBMITTED, *ACTIVE_STATES,
        ):  # fmt: skip
            return old
    store.save_plan(draft.plan_hash, plan.campaign, plan.model_dump(mode="json"))
    for old in store.changes(campaign=plan.campaign):
        if ChangeState.SUPERSEDED in TRANSITIONS[old.state] and old.plan_hash != draft.plan_hash:
            note = f"superseded by a new plan {draft.plan_hash[:12]}"
            gone = store.update_change(
                old.transition(ChangeState.SUPERSEDED, draft.requester, now, note)
            )
            _audit(store, gone, actor, "change.supersede", note)
    created = store.create_change(draft)
    submitted = store.update_change(created.transition(ChangeState.SUBMITTED, draft.requester, now))
    _audit(store, submitted, actor, "change.submit")
    return submitted


def approve_change(
    store: Store,
    change_id: int,
    by: str,
    now: datetime,
    comment: str = "",
    *,
    source: str = "",
    plan_hash: str | None = None,
) -> ChangeRecord:
    """Record ``by``'s approval (four eyes: not the requester).

    ``plan_hash``, when given, is the plan the approver looked at: if the change now pins
    another, the approval is refused, so nobody approves a plan they did not see.
    """
    current = _get(store, change_id)
    if plan_hash is not None and plan_hash != current.plan_hash:
        raise ChangeRefused(
            f"{current.label} pins plan {current.plan_hash[:12]}, not {plan_hash[:12]} that "
            "you reviewed; look at it again"
        )
    return _write(
        store,
        lambda: current.decide(by, now, "approved", comment),
        Actor(by, source),
        "change.approve",
        comment,
    )


def reject_change(
    store: Store, change_id: int, by: str, now: datetime, reason: str, *, source: str = ""
) -> ChangeRecord:
    """Record ``by``'s rejection; the change is closed and a new one must be submitted."""
    current = _get(store, change_id)
    return _write(
        store,
        lambda: current.decide(by, now, "rejected", reason),
        Actor(by, source),
        "change.reject",
        reason,
    )


def require_approved(store: Store, plan: Plan) -> ChangeRecord:
    """The approved change that pins this plan's hash; raise if there is none.

    Raises:
        ChangeNotApproved: no change for this plan is approved (the message says what to do:
            submit, get an approval, or re-submit a plan that changed since approval).
    """
    digest = plan.digest()
    mine = store.changes(plan_hash=digest)
    active = [c for c in mine if c.state in ACTIVE_STATES]
    if active:
        return active[-1]
    short = digest[:12]
    if mine:
        last = mine[-1]
        if last.state is ChangeState.SUBMITTED:
            need = last.approvals_required - len(last.approvers)
            raise ChangeNotApproved(
                f"{last.label} for plan {short} is submitted and needs {need} more approval(s) "
                f"by someone other than {last.requester}: `patchwarden change approve {last.id}`"
            )
        raise ChangeNotApproved(
            f"{last.label} for plan {short} is {last.state.value}; submit the plan again"
        )
    approved = [
        c for c in store.changes(campaign=plan.campaign) if c.approvers and c.plan_hash != digest
    ]
    if approved:
        last = approved[-1]
        raise ChangeNotApproved(
            f"the plan changed since approval: {last.label} approved plan {last.plan_hash[:12]}, "
            f"this plan is {short}; submit it for a new approval (`patchwarden change submit`)"
        )
    raise ChangeNotApproved(
        f"plan {short} of campaign {plan.campaign!r} has no change record; "
        "submit one with `patchwarden change submit CAMPAIGN.yaml`"
    )


def start_change(
    store: Store, plan: Plan, by: str, now: datetime, *, source: str = ""
) -> ChangeRecord:
    """Mark the plan's approved change in progress (via scheduled unless an emergency)."""
    change = require_approved(store, plan)
    actor = Actor(by, source)
    if change.state is ChangeState.APPROVED and not change.emergency:
        approved = change
        change = _write(
            store,
            lambda: approved.transition(ChangeState.SCHEDULED, by, now),
            actor,
            "change.schedule",
        )
    if change.state is not ChangeState.IN_PROGRESS:
        ready = change
        change = _write(
            store,
            lambda: ready.transition(ChangeState.IN_PROGRESS, by, now),
            actor,
            "change.start",
        )
    return change


def finish_change(
    store: Store,
    change_id: int,
    outcome: Literal["completed", "rolled_back", "failed"],
    by: str,
    now: datetime,
    note: str = "",
    *,
    source: str = "",
) -> ChangeRecord:
    """Close an in-progress change with the run's outcome, or back out a closed one.

    A change already in ``outcome`` is returned as it is: a run resumed after a crash between its
    end and this call closes its change once.
    """
    current = _get(store, change_id)
    if current.state == ChangeState(outcome):
        return current
    return _write(
        store,
        lambda: current.transition(ChangeState(outcome), by, now, note),
        Actor(by, source),
        "change.finish",
        note,
    )
