"""Campaign files: YAML in, a validated :class:`Campaign` out, or problems with file:line:field.

Besides the shape (pydantic), a campaign is checked where only a person can fix it: window
rules that cron or RRULE would refuse, and environments the inventory does not have.
:func:`build_plan` then runs the whole pure pipeline (assess, plan, fit into windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from patchwarden.assess.assessment import Assessment, assess
from patchwarden.domain.advisories import Advisory
from patchwarden.domain.assets import Application
from patchwarden.domain.campaign import Campaign
from patchwarden.domain.inventory import Inventory
from patchwarden.domain.plan import Plan, Wave
from patchwarden.errors import Problem, ValidationFailed, read_input
from patchwarden.inventory.problems import did_you_mean, explain
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path, load_located
from patchwarden.planning.plan import plan_campaign, selects
from patchwarden.planning.snapshots import snapshot_refusal
from patchwarden.planning.windows import batch_timing, fit_windows, rule_problem
from patchwarden.service.collector import collector_paused

__all__ = [
    "LoadedCampaign",
    "PlanBuild",
    "build_plan",
    "check_against_inventory",
    "check_applications",
    "check_snapshots",
    "expected_wave_seconds",
    "load_campaign",
    "read_campaign",
]


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign and where each of its fields was written."""

    campaign: Campaign
    file: str
    lines: dict[Path, int] = field(default_factory=dict)

    def problem(self, path: Path, message: str, hint: str = "") -> Problem:
        """A problem located at ``path`` of this campaign's file."""
        doc = LocatedDocument(self.file, None, self.lines)
        return Problem(self.file, doc.line_of(path), dotted_path(path), message, hint)


def read_campaign(path: FilePath | str) -> LoadedCampaign:
    """Read and validate a campaign file.

    Raises:
        ValidationFailed: the file cannot be read or is not a valid campaign.
    """
    return load_campaign(str(path), read_input(path))


def load_campaign(file: str, text: str) -> LoadedCampaign:
    r"""Validate a campaign YAML text; every problem names file, line and field with a hint.

    Example:
        >>> load_campaign("c.yaml", "name: x\ngroups: {}\n").campaign.name
        'x'
    """
    doc = load_located(file, text)
    if doc.problems:
        raise ValidationFailed(doc.problems)
    if not isinstance(doc.value, dict):
        raise ValidationFailed(
            [Problem(file, 1, "", "a campaign is a mapping", "start with `name:` and `groups:`")]
        )
    try:
        campaign = Campaign.model_validate(doc.value)
    except ValidationError as error:
        # A union reports each member's complaint; one per field reads better.
        by_field = {(p.line, p.field): p for p in (_explain(doc, e) for e in error.errors())}
        raise ValidationFailed(list(by_field.values())) from error
    loaded = LoadedCampaign(campaign, file, doc.lines)
    problems = [
        loaded.problem(("windows", name, "cron" if spec.cron else "rrule"), why, _RULE_HINT)
        for name, spec in campaign.windows.items()
        if (why := rule_problem(spec))
    ]
    problems += [
        loaded.problem(
            ("groups", name, "fail_back"),
            f"fail_back applies to strategy ha_pair, not {spec.strategy}",
            "remove fail_back, or use strategy: ha_pair for a pair of virtual appliances",
        )
        for name, spec in campaign.groups.items()
        if spec.fail_back and spec.strategy != "ha_pair"
    ]
    if problems:
        raise ValidationFailed(problems)
    return loaded


_RULE_HINT = "e.g. cron: '0 22 * * 0' or rrule: 'FREQ=MONTHLY;BYDAY=2TU'"


def _trim(raw: Any, loc: tuple[str | int, ...]) -> tuple[Path, str | int | None]:
    """The part of ``loc`` that exists in ``raw``, and the first key that does not.

    Unions put their member's name into the location (``int``, ``constrained-str``); those
    are not in the file, so the path stops before them.
    """
    path: list[str | int] = []
    node = raw
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            return tuple(path), part
        node = node[part]
        path.append(part)
    return tuple(path), None


def _explain(doc: LocatedDocument, error: ErrorDetails) -> Problem:
    path, missing = _trim(doc.value, tuple(error["loc"]))
    if error["type"] == "missing" and missing is not None:
        path = (*path, missing)
    if path == ("windows",):  # windows written as a list, not by name
        return explain(doc, path, error, Campaign, {}, _WINDOWS_HINT)
    return explain(doc, path, error, Campaign, _HINTS)


_WINDOWS_HINT = (
    "define windows by name: `windows: {prod-night: {cron: '0 22 * * 0', duration: 4h}}`"
)
_HINTS = {
    "literal_error": "use one of the values listed",
    "int_parsing": "write a whole number, e.g. 2",
    "int_type": "write a whole number, e.g. 2",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "dict_type": "write a mapping, e.g. {key: value}",
    "tuple_type": "write a list, e.g. [dev, prod]",
    "list_type": "write a list, e.g. [dev, prod]",
    "string_pattern_mismatch": "write a count like 2 or a percentage like 25%",
    "time_delta_parsing": "write a duration such as 30m, 4h, 1d or 1d12h",
    "time_parsing": "write a time of day such as 22:00",
    "date_from_datetime_parsing": "write a date such as 2026-12-24",
    "greater_than_equal": "use a larger value",
}


def check_against_inventory(loaded: LoadedCampaign, environments: Sequence[str]) -> None:
    """Refuse environments the inventory does not have (scope, promotion, windows, change).

    Raises:
        ValidationFailed: one problem per unknown environment, at its line.
    """
    known = list(environments)
    c = loaded.campaign
    named: list[tuple[Path, str]] = [(("scope_env", i), e) for i, e in enumerate(c.scope_env)]
    named += [(("promotion", "order", i), e) for i, e in enumerate(c.promotion.order)]
    named += [(("promotion", "soak", e), e) for e in c.promotion.soak]
    if "required_for" in c.change.model_fields_set:
        # Only what the file says: the default ("prod") simply applies to no wave of an
        # inventory without prod, such as a lab's.
        named += [(("change", "required_for", i), e) for i, e in enumerate(c.change.required_for)]
    for name, spec in c.windows.items():
        named += [(("windows", name, "env", i), e) for i, e in enumerate(spec.env)]
    problems = []
    for path, env in named:
        if env not in known:
            hint = did_you_mean(env, known, f"use one of {', '.join(known)}")
            problems.append(loaded.problem(path, f"unknown environment {env!r}", hint))
    if len(set(c.promotion.order)) != len(c.promotion.order):
        problems.append(loaded.problem(("promotion", "order"), "an environment is listed twice"))
    if problems:
        raise ValidationFailed(problems)


def check_snapshots(loaded: LoadedCampaign, inventory: Inventory) -> None:
    """Refuse ``rollback: snapshot`` on a group that selects anything but VMs that can have one.

    A VM can when it runs on a hypervisor of the inventory whose driver takes snapshots
    (:func:`~patchwarden.planning.snapshots.snapshot_refusal`); whether its disks are
    qcow2 is asked of the hypervisor before a real run starts.

    Raises:
        ValidationFailed: one problem per such group, naming each asset and why.
    """
    problems = []
    for name, spec in loaded.campaign.groups.items():
        if spec.rollback != "snapshot":
            continue
        why = [
            reason
            for asset in inventory.assets
            if selects(spec.select, asset)
            and (reason := snapshot_refusal(asset, inventory)) is not None
        ]
        if why:
            shown = "; ".join(why[:5]) + (f"; and {len(why) - 5} more" if len(why) > 5 else "")
            problems.append(
                loaded.problem(
                    ("groups", name, "rollback"),
                    f"rollback: snapshot needs VMs on a libvirt hypervisor: {shown}",
                    "select only such VMs in this group, or use `rollback: packages`",
                )
            )
    if problems:
        raise ValidationFailed(problems)


def check_applications(loaded: LoadedCampaign, inventory: Inventory) -> None:
    """Refuse ``applications`` targets naming no application, or one that runs nowhere.

    Raises:
        ValidationFailed: one problem per bad target, at its line.
    """
    apps = [a.id for a in inventory.assets if isinstance(a, Application)]
    problems = []
    for i, target in enumerate(loaded.campaign.applications):
        asset = next((a for a in inventory.assets if a.id == target.app), None)
        where: Path = ("applications", i, "app")
        if not isinstance(asset, Application):
            hint = did_you_mean(target.app, apps, "name an asset of kind application")
            problems.append(loaded.problem(where, f"no application {target.app!r}", hint))
        elif not asset.runs_on:
            problems.append(
                loaded.problem(
                    where,
                    f"application {target.app!r} runs on no host",
                    "list its hosts in the inventory's `runs_on`",
                )
            )
    if problems:
        raise ValidationFailed(problems)


@dataclass(frozen=True)
class PlanBuild:
    """A plan and what it was built from."""

    plan: Plan
    campaign: Campaign
    inventory: Inventory
    assessment: Assessment
    advisories: dict[str, Advisory]


def build_plan(
    loaded: LoadedCampaign, inventory: Inventory, advisories: Sequence[Advisory], now: datetime
) -> PlanBuild:
    """Assess, plan and fit into the campaign's windows: a pure function of its inputs.

    Raises:
        ValidationFailed: the campaign names environments the inventory lacks.
        NoWindowFits: a batch fits no maintenance window.
    """
    check_against_inventory(loaded, inventory.environments)
    check_applications(loaded, inventory)
    check_snapshots(loaded, inventory)
    campaign = loaded.campaign
    assessment = assess(inventory, advisories, now)
    by_id = {a.id: a for a in advisories}
    with collector_paused():
        plan = plan_campaign(
            inventory, campaign, assessment.decisions, by_id, assessment.fixes, now
        )
    # The planner may fit windows itself; fitting twice would only repeat the same work.
    if not any(b.slot for w in plan.waves for b in w.batches):
        plan = fit_windows(plan, campaign.windows.values(), now, campaign.promotion.soak)
    return PlanBuild(plan, campaign, inventory, assessment, by_id)


def expected_wave_seconds(wave: Wave, max_concurrency: int) -> float:
    """How long a wave is expected to take: its batches one after another.

    Each batch lasts as its units, side by side at most ``max_concurrency`` at a time, take
    (see :func:`~patchwarden.planning.windows.batch_timing`).
    """
    return sum(batch_timing(batch, max_concurrency)[0] for batch in wave.batches)
