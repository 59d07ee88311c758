"""The report's campaign section: the run, its waves and its canary analyses."""

from __future__ import annotations

from dataclasses import dataclass

from patchwarden.report.values import Span

__all__ = ["CampaignReport", "CanaryRow", "WaveRow"]


@dataclass(frozen=True, kw_only=True)
class WaveRow(Span):
    """One wave of a campaign and how its units fared."""

    name: str
    env: str
    group: str
    strategy: str
    units: int
    succeeded: int
    failed: int
    rolled_back: int


@dataclass(frozen=True, kw_only=True)
class CanaryRow:
    """One canary analysis: the verdict, and each metric canary against baseline."""

    step_id: str
    verdict: str
    score: float
    reason: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CampaignReport(Span):
    """A campaign run: its plan, final state, waves and canary analyses."""

    name: str
    plan_hash: str
    state: str
    waves: tuple[WaveRow, ...] = ()
    canaries: tuple[CanaryRow, ...] = ()
