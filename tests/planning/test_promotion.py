"""Promotion rules: success before, soak time, QA checks, and a failure holds what follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from patchwarden.domain.campaign import PromotionSpec
from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.planning.promotion import (
    Gate,
    PatchOutcome,
    Rescan,
    UnitResult,
    order_problems,
    outcomes_of_plan,
    promotion_gates,
    promotion_order,
)
from patchwarden.planning.steps import host_unit

ORDER = ("dev", "qa", "staging", "prod")
T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SSL = "openssl=3.0.15"
SPEC = PromotionSpec(soak={"dev": "1d", "qa": "2d"})


def ok(env: str, target: str, at: datetime, patch: str = SSL, **kw: object) -> PatchOutcome:
    fields: dict[str, object] = {"findings_left": 0}
    fields.update(kw)
    return PatchOutcome(env, target, patch, "succeeded", at, **fields)


def gates(
    outcomes: list[PatchOutcome], now: datetime, spec: PromotionSpec = SPEC
) -> dict[str, Gate]:
    return {g.env: g for g in promotion_gates(ORDER, spec, outcomes, now) if g.patch == SSL}


def statuses(outcomes: list[PatchOutcome], now: datetime, spec: PromotionSpec = SPEC) -> list[str]:
    return [g.status for g in gates(outcomes, now, spec).values()]


def test_nothing_run_yet_only_the_first_environment_may_start() -> None:
    needed = {env: frozenset({SSL}) for env in ORDER}
    result = promotion_gates(ORDER, SPEC, [], T, needed)
    assert [g.status for g in result] == ["may_enter", "waiting", "waiting", "waiting"]
    assert result[1].reasons == ("not yet run in dev",)


def test_next_environment_waits_for_the_soak_time() -> None:
    g = gates([ok("dev", "h1", T)], T + timedelta(hours=5))
    assert g["dev"].status == "done"
    assert g["qa"].status == "waiting"
    assert g["qa"].ready_at == T + timedelta(days=1)
    assert "soaking in dev until 2026-11-03 12:00 UTC (19h left)" in g["qa"].reasons[0]
    assert g["staging"].reasons == ("not yet run in qa",)


def test_after_the_soak_the_next_environment_may_enter() -> None:
    g = gates([ok("dev", "h1", T)], T + timedelta(days=1))
    assert g["qa"].status == "may_enter"
    assert g["qa"].reasons == (
        "succeeded in dev; soaked 1d; health ok, no restart loop, findings gone",
    )


def test_each_environment_uses_the_soak_of_the_one_before() -> None:
    outcomes = [ok("dev", "h1", T), ok("qa", "h2", T + timedelta(days=1))]
    assert statuses(outcomes, T + timedelta(days=2)) == ["done", "done", "waiting", "waiting"]
    assert statuses(outcomes, T + timedelta(days=3)) == ["done", "done", "may_enter", "waiting"]


def test_every_target_must_have_succeeded_and_the_last_one_starts_the_soak() -> None:
    outcomes = [ok("dev", "h1", T), ok("dev", "h2", T + timedelta(hours=6))]
    assert gates(outcomes, T + timedelta(days=1))["qa"].status == "waiting"
    running = [ok("dev", "h1", T), PatchOutcome("dev", "h2", SSL, "running")]
    g = gates(running, T + timedelta(days=5))
    assert g["dev"].status == "running" and g["qa"].reasons == ("still running in dev",)


def test_a_failure_holds_the_patch_in_every_later_environment() -> None:
    outcomes = [ok("dev", "h1", T), PatchOutcome("qa", "h2", SSL, "failed", T + timedelta(days=1))]
    g = gates(outcomes, T + timedelta(days=30))
    assert [x.status for x in g.values()] == ["done", "failed", "held", "held"]
    assert g["prod"].reasons == ("held: the patch failed in qa (failed on 1 of 1 target(s))",)


def test_a_later_success_on_the_same_target_replaces_the_failure() -> None:
    outcomes = [
        PatchOutcome("dev", "h1", SSL, "failed", T),
        ok("dev", "h1", T + timedelta(hours=2)),
    ]
    assert statuses(outcomes, T + timedelta(days=2))[:2] == ["done", "may_enter"]


def test_qa_checks_health_restart_loop_and_rescan() -> None:
    unhealthy = gates([ok("dev", "h1", T, health_ok=False)], T + timedelta(days=9))
    assert unhealthy["dev"].status == "failed" and unhealthy["qa"].status == "held"
    assert unhealthy["dev"].reasons == ("QA: health checks failed",)
    looping = gates([ok("dev", "h1", T, restarts=3)], T + timedelta(days=9))
    assert looping["dev"].reasons == ("QA: restart loop: 3 restarts (at most 0)",)
    tolerant = PromotionSpec(soak={"dev": "1d"}, max_restarts=3)
    assert (
        statuses([ok("dev", "h1", T, restarts=3)], T + timedelta(days=9), tolerant)[1]
        == "may_enter"
    )
    unfixed = gates([ok("dev", "h1", T, findings_left=1)], T + timedelta(days=9))
    assert unfixed["dev"].reasons == ("QA: re-scan still finds it on 1 target(s)",)


def test_without_a_rescan_the_next_environment_waits() -> None:
    g = gates([ok("dev", "h1", T, findings_left=None)], T + timedelta(days=9))
    assert g["dev"].status == "done" and "waiting for a re-scan" in g["dev"].reasons[0]
    assert g["qa"].reasons == ("no re-scan of dev since the patch",)
    relaxed = PromotionSpec(require_rescan=False)
    assert statuses([ok("dev", "h1", T, findings_left=None)], T, relaxed)[1] == "may_enter"


def test_patches_are_promoted_independently() -> None:
    curl = "curl=7.88.1-10+deb12u8"
    outcomes = [ok("dev", "h1", T), PatchOutcome("dev", "h1", curl, "failed", T)]
    result = promotion_gates(ORDER, SPEC, outcomes, T + timedelta(days=2))
    by = {(g.patch, g.env): g.status for g in result}
    assert by[(SSL, "qa")] == "may_enter" and by[(curl, "qa")] == "held"


def test_an_environment_that_does_not_need_the_patch_passes_the_gate_on() -> None:
    needed = {"dev": frozenset({SSL}), "qa": frozenset(), "staging": frozenset({SSL})}
    result = promotion_gates(ORDER[:3], SPEC, [ok("dev", "h1", T)], T + timedelta(days=1), needed)
    assert [g.status for g in result] == ["done", "not_needed", "may_enter"]


def test_order_comes_from_the_campaign_or_the_inventory() -> None:
    assert promotion_order(PromotionSpec(), ORDER) == ORDER
    assert promotion_order(PromotionSpec(order=("qa", "prod")), ORDER) == ("qa", "prod")
    bad = PromotionSpec(order=("dev", "uat", "dev"), soak={"preprod": "1d"})
    fields = [p.field for p in order_problems(bad, ORDER, "c.yaml")]
    assert fields == ["promotion.order[1]", "promotion.soak.preprod", "promotion.order"]


def _plan() -> Plan:
    units = tuple(
        host_unit("dev.web", h, (("openssl", "3.0.15"), ("curl", "8.0")), False) for h in ("a", "b")
    )
    wave = Wave(id="dev.web", env="dev", group="web", strategy="rolling",
                batches=(Batch(id="dev.web/0", units=units),))  # fmt: skip
    return Plan(campaign="c", created_at=T, environments=("dev",), waves=(wave,))


def test_outcomes_are_read_from_a_run_of_a_plan_and_a_later_rescan() -> None:
    plan = _plan()
    results = {
        "dev.web/a": UnitResult("succeeded", T),
        "dev.web/b": UnitResult("failed", T, health_ok=False),
    }
    before = outcomes_of_plan(plan, results)
    assert {(o.target, o.patch, o.result) for o in before} == {
        ("a", "openssl=3.0.15", "succeeded"),
        ("a", "curl=8.0", "succeeded"),
        ("b", "openssl=3.0.15", "failed"),
        ("b", "curl=8.0", "failed"),
    }
    assert all(o.findings_left is None for o in before)
    rescan = Rescan(T + timedelta(minutes=5), frozenset({("a", "curl")}))
    after = {(o.target, o.patch): o.findings_left for o in outcomes_of_plan(plan, results, rescan)}
    assert after[("a", "openssl=3.0.15")] == 0 and after[("a", "curl=8.0")] == 1
    stale = Rescan(T - timedelta(minutes=5))
    assert all(o.findings_left is None for o in outcomes_of_plan(plan, results, stale))
