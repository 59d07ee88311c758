"""Advisories, findings and decisions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from patchwarden.domain.base import Value

__all__ = [
    "FIRMWARE",
    "Action",
    "Advisory",
    "Affected",
    "Decision",
    "Finding",
    "Range",
    "RangeEvent",
    "Severity",
    "firmware_package",
    "firmware_target",
]

FIRMWARE = "firmware"
"""The ``package`` (and ``ecosystem``) of a finding on an appliance's firmware; a storage
part's is ``firmware:<part id>``."""


def firmware_package(part_id: str = "") -> str:
    """The finding package naming an appliance's firmware, or a storage part's.

    Example:
        >>> firmware_package(), firmware_package("ctrl-a")
        ('firmware', 'firmware:ctrl-a')
    """
    return f"{FIRMWARE}:{part_id}" if part_id else FIRMWARE


def firmware_target(asset_id: str, package: str) -> str | None:
    """What a firmware finding's fix is flashed on: the appliance or the part; else ``None``.

    Example:
        >>> firmware_target("fw-1", "firmware"), firmware_target("san", "firmware:ctrl-a")
        ('fw-1', 'ctrl-a')
        >>> firmware_target("web-1", "openssl") is None
        True
    """
    if package == FIRMWARE:
        return asset_id
    head, sep, part = package.partition(":")
    return part if head == FIRMWARE and sep and part else None


class Severity(StrEnum):
    """Qualitative severity, as CVSS names it."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for none up to 4 for critical."""
        return list(Severity).index(self)


class RangeEvent(Value):
    """One event of an OSV range: exactly one of the fields is set."""

    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class Range(Value):
    """An OSV affected range."""

    type: Literal["ECOSYSTEM", "SEMVER", "GIT"]
    events: tuple[RangeEvent, ...]
    repo: str = ""  # GIT ranges only: the repository the commit hashes belong to


class Affected(Value):
    """One affected package of an advisory."""

    ecosystem: str
    package: str
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    purl: str = ""
    ecosystem_specific: dict[str, Any] = Field(default_factory=dict)
    database_specific: dict[str, Any] = Field(default_factory=dict)

    def __hash__(self) -> int:
        # The free-form dicts are unhashable; equal values still hash alike on the rest.
        return hash((self.ecosystem, self.package, self.ranges, self.versions))


class Advisory(Value):
    """A security advisory, normalised from OSV (and enriched from KEV, EPSS, CVSS)."""

    id: str
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    summary: str = ""
    published: datetime | None = None
    modified: datetime
    withdrawn: datetime | None = None
    severity: Severity = Severity.MEDIUM
    cvss_vector: str = ""
    cvss_score: float | None = None
    kev: bool = False
    kev_due: date | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    classification: Literal["security", "bugfix", "enhancement", "cosmetic"] = "security"
    reboot_required: bool = False
    affected: tuple[Affected, ...] = ()
    database_specific: dict[str, Any] = Field(default_factory=dict)

    def __hash__(self) -> int:
        # The free-form dict is unhashable; equal values still hash alike on the rest.
        return hash((self.id, self.modified, self.withdrawn, self.affected))

    @property
    def names(self) -> tuple[str, ...]:
        """The id, aliases and upstream ids: every name feeds like KEV and EPSS may use."""
        return (self.id, *self.aliases, *self.upstream)

    @property
    def cves(self) -> tuple[str, ...]:
        """The CVE ids among :attr:`names`, in order, without repeats."""
        return tuple(dict.fromkeys(n for n in self.names if n.startswith("CVE-")))


class Finding(Value):
    """An asset exposed by an advisory through one installed package."""

    asset_id: str
    advisory_id: str
    package: str
    ecosystem: str
    installed: str
    source: str = ""
    """The source package ``package`` was built from, where it is another (``openssl`` for
    ``libssl3``; the SOURCERPM's name on the RPM family)."""
    source_version: str = ""
    fixed: str = ""
    severity: Severity
    cvss_score: float | None = None
    kev: bool = False
    epss: float | None = None
    aliases: tuple[str, ...] = ()
    kev_due: date | None = None
    recommended: str = ""
    """Smallest known version that fixes every finding on this asset's package."""
    no_fix: bool = False
    """No fixed version is known yet for this advisory and installed version."""


class Action(StrEnum):
    """What to do about a finding."""

    EMERGENCY = "emergency"
    NEXT_WINDOW = "next_window"
    DEFER = "defer"
    IGNORE = "ignore"


class Decision(Value):
    """The decision for one finding, with a sentence of why."""

    asset_id: str
    advisory_id: str
    package: str
    action: Action
    reason: str
    due: date | None = None
    """When the finding must be remediated by (its SLA); today for an emergency."""
    review: date | None = None
    """When a deferred decision is looked at again."""
    risk: float = 0.0
    """Risk of not patching, in the policy's points."""
    patch_risk: float = 0.0
    """Risk of patching, in the policy's points."""
    classification: Literal["security", "bugfix", "enhancement", "cosmetic"] = "security"
