"""A campaign: which assets, which strategy per group, limits and rollback policy."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from patchwarden.domain.base import Value

__all__ = ["Campaign", "GroupSpec", "RateSpec", "Selector"]


class Selector(Value):
    """Which assets a group takes; every given criterion must hold."""

    kind: str | None = None
    role: str | None = None
    ids: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    tag: dict[str, str] = Field(default_factory=dict)


class GroupSpec(Value):
    """A group of assets and how to roll patches over it."""

    select: Selector
    strategy: Literal["all_at_once", "rolling", "evacuate"]
    max_unavailable: Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=r"^\d{1,3}%$")] = 1
    max_parallel: Annotated[int, Field(ge=1)] = 1


class RateSpec(Value):
    """Limits across the campaign."""

    max_concurrency: Annotated[int, Field(ge=1)] = 10
    max_errors: Annotated[int, Field(ge=0)] = 1


class Campaign(Value):
    """What to patch, where, and how."""

    name: str
    scope_env: tuple[str, ...] = ()
    groups: dict[str, GroupSpec]
    rate: RateSpec = Field(default_factory=RateSpec)
    rollback: Literal["auto", "manual"] = "auto"
    actions: tuple[Literal["emergency", "next_window", "defer", "ignore"], ...] = (
        "emergency",
        "next_window",
    )
