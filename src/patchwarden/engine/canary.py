"""Canary analysis: do the patched canaries serve as well as the unpatched baseline?

In the spirit of Kayenta: each metric compares canary samples with baseline samples with
a Mann-Whitney U test (no assumption of normal latencies) plus an effect-size threshold,
so a statistically significant but tiny difference does not fail a canary. A metric with
no data is not a pass. A critical metric (the error rate) fails the canary on its own.
Verdict: ``pass`` (continue the rollout), ``marginal`` (a person decides), ``fail`` (roll
the canaries back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from patchwarden.drivers.protocols import RequestSample

__all__ = ["CanaryThresholds", "MetricResult", "Verdict", "judge"]


@dataclass(frozen=True)
class CanaryThresholds:
    """When a difference counts."""

    alpha: float = 0.01  # significance level of the U test
    latency_ratio: float = 1.25  # canary median over baseline median that matters
    error_rate_delta: float = 0.02  # absolute extra error rate that matters
    min_samples: int = 20
    pass_score: float = 0.95
    marginal_score: float = 0.5


@dataclass(frozen=True)
class MetricResult:
    """One metric's comparison."""

    name: str
    critical: bool
    canary_n: int
    baseline_n: int
    canary_value: float
    baseline_value: float
    p_value: float | None
    outcome: Literal["pass", "fail", "no_data"]


@dataclass(frozen=True)
class Verdict:
    """The analysis as journaled and shown in status and reports."""

    verdict: Literal["pass", "marginal", "fail"]
    score: float
    metrics: tuple[MetricResult, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form for the journal."""
        return asdict(self)


def mannwhitneyu(x: Sequence[float], y: Sequence[float], alternative: str) -> Any:
    """The Mann-Whitney U test of scipy, imported on first use.

    scipy.stats costs most of a second to import, which every command would otherwise pay
    at start-up.
    """
    from scipy.stats import mannwhitneyu as test  # noqa: PLC0415 - see docstring

    return test(x, y, alternative=alternative)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _latency(
    canary: Sequence[RequestSample], baseline: Sequence[RequestSample], t: CanaryThresholds
) -> MetricResult:
    c = [s.latency_ms for s in canary if s.ok]
    b = [s.latency_ms for s in baseline if s.ok]
    if len(c) < t.min_samples or len(b) < t.min_samples:
        return MetricResult("latency_ms", False, len(c), len(b), 0.0, 0.0, None, "no_data")
    p = float(mannwhitneyu(c, b, alternative="greater").pvalue)
    cm, bm = _median(c), _median(b)
    worse = p < t.alpha and cm > bm * t.latency_ratio
    return MetricResult("latency_ms", False, len(c), len(b), cm, bm, p, "fail" if worse else "pass")


def _errors(
    canary: Sequence[RequestSample], baseline: Sequence[RequestSample], t: CanaryThresholds
) -> MetricResult:
    if len(canary) < t.min_samples or len(baseline) < t.min_samples:
        return MetricResult(
            "error_rate", True, len(canary), len(baseline), 0.0, 0.0, None, "no_data"
        )
    c = [0.0 if s.ok else 1.0 for s in canary]
    b = [0.0 if s.ok else 1.0 for s in baseline]
    cr, br = sum(c) / len(c), sum(b) / len(b)
    p = float(mannwhitneyu(c, b, alternative="greater").pvalue) if cr > br else 1.0
    worse = p < t.alpha and cr - br > t.error_rate_delta
    return MetricResult(
        "error_rate",
        True,
        len(c),
        len(b),
        round(cr, 4),
        round(br, 4),
        p,
        "fail" if worse else "pass",
    )


def judge(
    canary: Sequence[RequestSample],
    baseline: Sequence[RequestSample],
    thresholds: CanaryThresholds | None = None,
) -> Verdict:
    """Compare canary and baseline requests; pure and deterministic."""
    t = thresholds or CanaryThresholds()
    metrics = (_errors(canary, baseline, t), _latency(canary, baseline, t))
    failed_critical = [m for m in metrics if m.critical and m.outcome == "fail"]
    if failed_critical:
        return Verdict("fail", 0.0, metrics, f"critical metric failed: {failed_critical[0].name}")
    passed = sum(1 for m in metrics if m.outcome == "pass")
    score = passed / len(metrics)
    missing = [m.name for m in metrics if m.outcome == "no_data"]
    if score >= t.pass_score:
        return Verdict("pass", score, metrics, "canary serves as well as the baseline")
    verdict: Literal["marginal", "fail"] = "marginal" if score >= t.marginal_score else "fail"
    why = f"no data for {', '.join(missing)}" if missing else "canary worse than baseline"
    return Verdict(verdict, score, metrics, why)
