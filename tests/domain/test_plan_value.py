"""An approved plan is a value: nothing in it changes in place, its hash is stable, and a
plan of another schema is refused with advice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from patchwarden.assess.assessment import assess
from patchwarden.cli.main import main
from patchwarden.domain.plan import SCHEMA_VERSION, Plan, PlanSchemaMismatch, Step
from patchwarden.domain.steps import (
    FirmwareParams,
    MigrateParams,
    PatchParams,
    StepAction,
    StepParams,
    StepParamsAdapter,
)
from patchwarden.domain.window import Blackout, WindowSpec
from patchwarden.errors import InputError
from patchwarden.planning.plan import plan_campaign
from patchwarden.planning.windows import fit_windows
from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> Plan:
    inv = demo_inventory().inventory
    advisories = demo_advisories()
    a = assess(inv, advisories, NOW)
    compiled = plan_campaign(
        inv, demo_campaign(), a.decisions, {x.id: x for x in advisories}, a.fixes, NOW
    )
    night = WindowSpec(
        name="prod-night",
        cron="0 22 * * 0",
        duration=timedelta(hours=6),
        env=("prod",),
        blackout=(Blackout(start=date(2026, 12, 24), end=date(2026, 12, 26)),),
    )
    fitted = fit_windows(compiled, [night], NOW)
    assert fitted.windows and all(b.slot for w in fitted.waves for b in w.batches)
    return fitted


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def _steps(plan: Plan) -> list[Step]:
    return [s for u in plan.units() for s in (*u.steps, *u.rollback)]


def test_a_plan_holds_no_mutable_container_and_every_model_is_frozen(plan: Plan) -> None:
    seen = 0
    for path, value in _walk(plan, "plan"):
        seen += 1
        assert not isinstance(value, list | dict | set | bytearray), path
        if isinstance(value, BaseModel):
            assert type(value).model_config.get("frozen"), path
    assert seen > 1000  # the walk reached the steps' parameters


def test_an_approved_plan_cannot_be_changed_in_place(plan: Plan) -> None:
    digest, text = plan.digest(), plan.canonical_json()
    patch = next(s for s in _steps(plan) if isinstance(s.params, PatchParams))
    migrate = next(s for s in _steps(plan) if isinstance(s.params, MigrateParams))
    with pytest.raises(ValidationError, match="frozen"):
        plan.campaign = "something else"  # type: ignore[misc]  # the point: it is refused
    with pytest.raises(ValidationError, match="frozen"):
        patch.params.packages = (("openssl", "0.0"),)  # type: ignore[misc]  # refused too
    with pytest.raises(ValidationError, match="frozen"):
        migrate.params.destination = "elsewhere"  # type: ignore[misc]  # refused too
    with pytest.raises(TypeError):
        patch.params.packages[0][1] = "0.0"  # type: ignore[index]  # tuples do not change
    with pytest.raises(AttributeError):
        plan.waves[0].batches[0].units.append(plan.units()[0])  # type: ignore[attr-defined]  # no list
    assert plan.digest() == digest and plan.canonical_json() == text
    assert Plan.model_validate_json(plan.model_dump_json()).digest() == digest


def test_every_action_has_exactly_one_parameter_type() -> None:
    members = get_args(get_args(StepParams)[0])
    tags = [m.model_fields["action"].default for m in members]
    assert sorted(tags) == sorted(StepAction) and len(set(tags)) == len(tags)


def test_planned_steps_equal_their_validated_form(plan: Plan) -> None:
    # The planner skips validation when it builds steps; the result must be what
    # validation would have built, or the hash would differ after a JSON round trip.
    for step in _steps(plan):
        assert Step.model_validate(step.model_dump(mode="json")) == step, step.id


def test_parameters_are_checked_when_a_plan_is_read() -> None:
    assert StepParamsAdapter.validate_python({"action": "drain", "lb": "lb", "pool": "web"})
    with pytest.raises(ValidationError, match="pool"):
        StepParamsAdapter.validate_python({"action": "drain", "lb": "lb"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        StepParamsAdapter.validate_python(
            {"action": "drain", "lb": "lb", "pool": "web", "weight": 5}
        )
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        StepParamsAdapter.validate_python({"action": "teleport"})
    with pytest.raises(ValidationError, match="either version"):
        FirmwareParams()
    with pytest.raises(ValidationError, match="either version"):
        FirmwareParams(version="2.1", undo=StepAction.FIRMWARE)


def test_a_plan_of_an_older_schema_is_refused_with_advice(plan: Plan) -> None:
    old = plan.model_dump(mode="json") | {"schema_version": SCHEMA_VERSION - 1}
    with pytest.raises(PlanSchemaMismatch, match="`patchwarden plan`") as caught:
        Plan.model_validate(old)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    with pytest.raises(PlanSchemaMismatch):
        Plan.model_validate_json(json.dumps(old))


def test_apply_refuses_an_old_plan_file_and_exits_2(
    plan: Plan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old-plan.json"
    old.write_text(json.dumps(plan.model_dump(mode="json") | {"schema_version": 1}))
    code = main(["apply", str(old)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "schema_version 1" in err and "patchwarden plan" in err
