"""How report values check themselves when made: aware times, frozen non-negative counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

__all__ = ["Span", "empty_counts", "freeze_counts", "require_aware"]


def require_aware(owner: object, name: str, value: datetime | None) -> None:
    """Refuse a naive datetime in field ``name`` of ``owner``.

    A naive datetime would print as if it were UTC and silently shift the timeline.

    Raises:
        ValueError: ``value`` has no timezone.
    """
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{type(owner).__name__}.{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Span:
    """When something ran: a start and an end, each unknown (None) or timezone-aware."""

    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self, "started_at", self.started_at)
        require_aware(self, "finished_at", self.finished_at)


def freeze_counts(owner: object, name: str) -> None:
    """Replace the counts in field ``name`` of a frozen ``owner`` by a read-only copy.

    Copy, then freeze: a caller mutating its dict later must not change a rendered report.

    Raises:
        ValueError: a count is negative.
    """
    counts = dict(getattr(owner, name))
    for key, value in counts.items():
        if value < 0:
            raise ValueError(f"{type(owner).__name__}.{name}[{key!r}] is negative: {value}")
    object.__setattr__(owner, name, MappingProxyType(counts))


def empty_counts() -> Mapping[str, int]:
    """No counts, read-only: the default of a counts field."""
    return MappingProxyType({})
