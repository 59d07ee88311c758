"""Canary judgement: Mann-Whitney U plus effect size; no data is never a pass."""

from __future__ import annotations

import random

from patchwarden.drivers.protocols import RequestSample
from patchwarden.engine.canary import judge


def _samples(n: int, median: float, error_rate: float = 0.0, seed: int = 0) -> list[RequestSample]:
    rng = random.Random(seed)
    return [
        RequestSample(ok=rng.random() >= error_rate, latency_ms=rng.lognormvariate(0, 0.3) * median)
        for _ in range(n)
    ]


def test_same_behaviour_passes() -> None:
    verdict = judge(_samples(200, 40, seed=1), _samples(2000, 40, seed=2))
    assert verdict.verdict == "pass" and verdict.score == 1.0


def test_errors_fail_the_canary_on_their_own() -> None:
    verdict = judge(_samples(200, 40, error_rate=0.2, seed=1), _samples(2000, 40, seed=2))
    assert verdict.verdict == "fail"
    assert verdict.reason == "critical metric failed: error_rate"


def test_added_latency_fails_the_latency_metric() -> None:
    verdict = judge(_samples(200, 90, seed=1), _samples(2000, 40, seed=2))
    latency = next(m for m in verdict.metrics if m.name == "latency_ms")
    assert latency.outcome == "fail" and latency.p_value is not None and latency.p_value < 0.01
    assert verdict.verdict in ("marginal", "fail")


def test_a_tiny_but_significant_difference_is_not_a_failure() -> None:
    # 5 % slower with thousands of samples is statistically significant, but below the
    # effect size that matters (25 %): the canary passes.
    verdict = judge(_samples(5000, 42, seed=1), _samples(5000, 40, seed=2))
    assert verdict.verdict == "pass"


def test_no_data_is_not_a_pass() -> None:
    verdict = judge([], _samples(2000, 40))
    assert verdict.verdict != "pass"
    assert all(m.outcome == "no_data" for m in verdict.metrics)


def test_too_few_samples_is_not_a_pass() -> None:
    canary = [RequestSample(ok=True, latency_ms=40.0)] * 5  # below the 20-sample minimum
    verdict = judge(canary, _samples(2000, 40))
    assert verdict.verdict != "pass"
    assert {m.outcome for m in verdict.metrics} == {"no_data"}
