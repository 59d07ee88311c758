"""The report's campaign section: the run, its waves and its canary analyses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patchwarden.report.values import require_aware

__all__ = ["CampaignReport", "CanaryRow", "WaveRow"]


@dataclass(frozen=True, kw_only=True)
class WaveRow:
    """One wave of a campaign and how its units fared."""

    name: str
    env: str
    group: str
    strategy: str
    units: int
    succeeded: int
    failed: int
    rolled_back: int
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self, "started_at", self.started_at)
        require_aware(self, "finished_at", self.finished_at)


@dataclass(frozen=True, kw_only=True)
class CanaryRow:
    """One canary analysis: the verdict, and each metric canary against baseline."""

    step_id: str
    verdict: str
    score: float
    reason: str
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CampaignReport:
    """A campaign run: its plan, final state, waves and canary analyses."""

    name: str
    plan_hash: str
    state: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    waves: tuple[WaveRow, ...] = ()
    canaries: tuple[CanaryRow, ...] = ()

    def __post_init__(self) -> None:
        require_aware(self, "started_at", self.started_at)
        require_aware(self, "finished_at", self.finished_at)
