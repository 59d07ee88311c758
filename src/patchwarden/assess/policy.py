"""The decision policy as data: what the YAML policy file says, with the defaults built in.

Every number the risk model uses lives here, so that a team changes its policy by editing a
file, not code. The shipped ``assess/data/policy.yaml`` spells out the same defaults with
comments; a policy file may set any subset of keys, the rest keep their defaults.

Example:
    >>> Policy().sla.days[Severity.CRITICAL]
    7
    >>> Policy.model_validate({"sla": {"days": {"critical": 3}}}).sla.days[Severity.HIGH]
    30
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from patchwarden.domain.advisories import Severity
from patchwarden.domain.assets import Criticality
from patchwarden.domain.base import Value
from patchwarden.domain.reboot import REBOOT_PACKAGES

__all__ = [
    "Classification",
    "ExploitationPolicy",
    "NotPatchingWeights",
    "PatchingWeights",
    "Policy",
    "ReviewDays",
    "SlaPolicy",
    "Thresholds",
]

Classification = Literal["security", "bugfix", "enhancement", "cosmetic"]
Days = Annotated[int, Field(ge=0, le=3650)]
Points = Annotated[float, Field(ge=0, le=1000)]
Factor = Annotated[float, Field(ge=0, le=10)]

_SLA_DAYS = {
    Severity.CRITICAL: 7,
    Severity.HIGH: 30,
    Severity.MEDIUM: 90,
    Severity.LOW: 180,
    Severity.NONE: 365,
}


def _fill(defaults: Mapping[Any, Any]) -> Any:
    """A validator that lays the given keys over the defaults, so a file may set only some."""

    def merge(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {**defaults, **value}
        return value

    return merge


class SlaPolicy(Value):
    """Days to remediate by severity, counted from when a finding was first seen."""

    days: dict[Severity, Days] = Field(default_factory=lambda: dict(_SLA_DAYS))
    kev_due_dates: bool = True
    """Whether a CISA KEV ``dueDate`` earlier than the severity's SLA becomes the due date."""
    emergency_days: Days = 1
    """An emergency is due this many days after it was first seen, or earlier by its SLA."""

    _days = field_validator("days", mode="before")(_fill(_SLA_DAYS))


class ExploitationPolicy(Value):
    """What makes a finding an emergency regardless of points."""

    kev_is_emergency: bool = True
    epss_emergency: Annotated[float, Field(ge=0, le=1)] = 0.5
    critical_internet_facing_is_emergency: bool = True


_SEVERITY_POINTS = {
    Severity.CRITICAL: 40.0,
    Severity.HIGH: 28.0,
    Severity.MEDIUM: 15.0,
    Severity.LOW: 5.0,
    Severity.NONE: 0.0,
}
_CRITICALITY_FACTOR = {
    Criticality.CRITICAL: 1.5,
    Criticality.HIGH: 1.25,
    Criticality.MEDIUM: 1.0,
    Criticality.LOW: 0.75,
}
_ENV_FACTOR = {"prod": 1.0, "staging": 0.8, "qa": 0.6, "dev": 0.5}


class NotPatchingWeights(Value):
    """Risk of *not* patching: points summed, then scaled by criticality and environment."""

    severity: dict[Severity, Points] = Field(default_factory=lambda: dict(_SEVERITY_POINTS))
    kev: Points = 30
    epss_high: Annotated[float, Field(ge=0, le=1)] = 0.1
    epss: Points = 15
    internet_facing: Points = 20
    criticality: dict[Criticality, Factor] = Field(
        default_factory=lambda: dict(_CRITICALITY_FACTOR)
    )
    environment: dict[str, Factor] = Field(default_factory=lambda: dict(_ENV_FACTOR))
    """Scale per environment; an environment not listed counts as 1.0 (as production)."""

    _severity = field_validator("severity", mode="before")(_fill(_SEVERITY_POINTS))
    _criticality = field_validator("criticality", mode="before")(_fill(_CRITICALITY_FACTOR))


ChangeName = Literal["major", "minor", "patch", "revision"]
_CHANGE_POINTS: dict[ChangeName, float] = {
    "major": 25.0,
    "minor": 10.0,
    "patch": 3.0,
    "revision": 0.0,
}
_UPTIME_POINTS = {
    Criticality.CRITICAL: 20.0,
    Criticality.HIGH: 10.0,
    Criticality.MEDIUM: 0.0,
    Criticality.LOW: 0.0,
}
_CORE = (
    "linux-image-*",
    "linux-generic*",
    "kernel",
    "kernel-*",
    "libc6",
    "glibc",
    "systemd",
    "openssl",
    "libssl*",
    "*firmware*",
    "*microcode*",
)


class PatchingWeights(Value):
    """Risk of patching: points summed (reboot, core component, change size, history, uptime)."""

    reboot: Points = 20
    core_component: Points = 15
    core_packages: tuple[str, ...] = _CORE
    """Package name patterns (shell style) of kernel and core components."""
    reboot_packages: tuple[str, ...] = REBOOT_PACKAGES
    """Package name patterns whose update needs a reboot even if the advisory does not say so."""
    change_size: dict[ChangeName, Points] = Field(default_factory=lambda: dict(_CHANGE_POINTS))
    failed_earlier: Points = 50
    uptime: dict[Criticality, Points] = Field(default_factory=lambda: dict(_UPTIME_POINTS))
    no_redundancy: Points = 20
    """Added when the asset cannot be taken out of service without an outage."""

    _change = field_validator("change_size", mode="before")(_fill(_CHANGE_POINTS))
    _uptime = field_validator("uptime", mode="before")(_fill(_UPTIME_POINTS))


class Thresholds(Value):
    """Where points turn into actions."""

    emergency: Points = 80
    """Risk of not patching at or above this is an emergency."""
    next_window: Points = 20
    """At or above this, the next maintenance window; below, deferred to a review."""
    patch_risk_defer: Points = 50
    """Risk of patching at or above this defers a next-window finding while its SLA allows."""


class ReviewDays(Value):
    """How long until a deferred decision is looked at again."""

    no_fix: Days = 7
    deferred: Days = 30
    failed_earlier: Days = 3


class Policy(Value):
    """The whole decision policy (see ``assess/data/policy.yaml`` for the annotated defaults)."""

    sla: SlaPolicy = Field(default_factory=SlaPolicy)
    exploitation: ExploitationPolicy = Field(default_factory=ExploitationPolicy)
    not_patching: NotPatchingWeights = Field(default_factory=NotPatchingWeights)
    patching: PatchingWeights = Field(default_factory=PatchingWeights)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    review_days: ReviewDays = Field(default_factory=ReviewDays)
    ignore_classifications: tuple[Classification, ...] = ("cosmetic",)
    defer_classifications: tuple[Classification, ...] = ("enhancement",)
