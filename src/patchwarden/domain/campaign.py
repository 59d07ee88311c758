"""A campaign: which assets, which strategy per group, limits and rollback policy."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator

from patchwarden.domain.base import Value
from patchwarden.domain.steps import RestartMode
from patchwarden.domain.window import Duration, WindowSpec

__all__ = [
    "APP_PIN_PREFIX",
    "STRATEGY_NAMES",
    "ApplicationTarget",
    "Campaign",
    "ChangeSpec",
    "FirmwareTarget",
    "GroupSpec",
    "HookSpec",
    "PromotionSpec",
    "RateSpec",
    "Selector",
]

Strategy = Literal[
    "all_at_once",
    "rolling",
    "canary",
    "blue_green",
    "cluster_rolling",
    "controller",
    "evacuate",
    "image_rebuild",
    "redundant_path",
    "ha_pair",
]
STRATEGY_NAMES: tuple[str, ...] = get_args(Strategy)
Count = Annotated[int, Field(ge=1)] | Annotated[str, Field(pattern=r"^\d{1,3}%$")]


class Selector(Value):
    """Which assets a group takes; every given criterion must hold."""

    kind: str | None = None
    role: str | None = None
    ids: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    tag: dict[str, str] = Field(default_factory=dict)


HookWhen = Literal["pre_unit", "post_unit", "pre_batch", "post_batch", "pre_group", "post_group"]


class HookSpec(Value):
    """A command a group runs before or after each unit, batch, or the whole group.

    ``run`` is an argument vector (no shell); ``on`` is ``target`` (the unit's host, over
    its own connection) or ``controller`` (the machine running the campaign).
    ``on_failure``: ``abort`` stops the run and rolls nothing back, ``rollback`` fails the
    unit (which rolls back), ``ignore`` journals the failure and goes on.
    """

    when: HookWhen
    run: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)]
    on: Literal["target", "controller"] = "target"
    timeout_s: Annotated[float, Field(gt=0, le=86400)] = 60.0
    on_failure: Literal["abort", "rollback", "ignore"] = "abort"


class GroupSpec(Value):
    """A group of assets and how to roll patches over it."""

    select: Selector
    strategy: Strategy
    max_unavailable: Count = 1
    max_parallel: Annotated[int, Field(ge=1)] = 1
    canary: Count = "10%"
    canary_weight: Annotated[int, Field(ge=1, le=256)] = 10
    analysis_s: Annotated[float, Field(ge=0)] = 300.0
    bake_s: Annotated[float, Field(ge=0)] = 900.0
    bake_max_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    hooks: tuple[HookSpec, ...] = ()
    """Commands before and after each unit, batch or the group (:class:`HookSpec`)."""
    """Blue-green: the share of failed requests on the new side that flips back."""
    then: Literal["rolling", "all_at_once"] = "rolling"
    ramp: tuple[Count, ...] = ()
    """Rolling batch sizes that grow, e.g. ``[1, 5, "20%"]``; the last repeats."""
    restart_services: RestartMode | None = None
    """This group's choice of the campaign's ``restart_services``; the campaign's if unset."""
    fail_back: bool = False
    """HA pair: once both members are patched, give the virtual IP back to the member that
    served while the standby was patched (``ha_pair`` only)."""
    rollback: Literal["packages", "snapshot"] = "packages"
    """How a unit of this group rolls back: ``packages`` puts the versions it had back;
    ``snapshot`` (VMs on a libvirt hypervisor, qcow2 disks) snapshots each VM before its
    patch and reverts to the snapshot, which is deleted after ``snapshot_soak_s``."""
    snapshot_soak_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 600.0
    """With ``rollback: snapshot``: how long a patched VM runs (and is checked again)
    before its snapshot is deleted."""


class FirmwareTarget(Value):
    """Firmware to install where no package feed applies: appliances and storage parts.

    ``version`` is for appliances; ``parts`` maps a storage part type (controller,
    san_switch, hba, raid_controller) to its target firmware.
    """

    select: Selector
    version: str = ""
    parts: dict[Literal["controller", "san_switch", "hba", "raid_controller"], str] = Field(
        default_factory=dict
    )


APP_PIN_PREFIX = "app:"
"""A plan's patch set names an application's version as ``app:<application id>``: no
package manager's name has a colon, so the two never mix."""


class ApplicationTarget(Value):
    """An exact version of an application, installed on every host of its ``runs_on``.

    The hosts' patch units install it with the application's installer (its ``driver``)
    as they install packages: the version they had is recorded first and put back on
    rollback. ``digest`` pins the exact content of that version where its channel gives
    one (an OCI image's manifest digest, ``sha256:...``): the tag a version was read from
    can be moved, the digest cannot.
    """

    app: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
    version: Annotated[str, Field(min_length=1)]
    digest: Annotated[str, Field(pattern=r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})?$")] = ""

    @property
    def pin(self) -> str:
        """The name of this application in a host's patch set (``app:<id>``)."""
        return f"{APP_PIN_PREFIX}{self.app}"


class RateSpec(Value):
    """Limits across the campaign."""

    max_concurrency: Annotated[int, Field(ge=1)] = 10
    max_errors: Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=r"^\d{1,3}%$")] = 1
    """Failed units the campaign tolerates before it stops: a count, or a share of units."""


class PromotionSpec(Value):
    """How a patch moves between environments.

    A patch enters an environment only after it succeeded in the one before, that one's
    ``soak`` time passed, and its QA checks held: health, at most ``max_restarts`` restarts,
    and (with ``require_rescan``) a re-scan showing the targeted findings gone.
    """

    order: tuple[str, ...] = ()
    soak: dict[str, Duration] = Field(default_factory=dict)
    max_restarts: Annotated[int, Field(ge=0)] = 0
    require_rescan: bool = True


class ChangeSpec(Value):
    """Which environments need an approved change record, and how many approvers."""

    required_for: tuple[str, ...] = ("prod",)
    approvals: Annotated[int, Field(ge=1)] = 1
    emergency: bool = False


class Campaign(Value):
    """What to patch, where, and how."""

    name: str
    scope_env: tuple[str, ...] = ()
    groups: dict[str, GroupSpec]
    rate: RateSpec = Field(default_factory=RateSpec)
    rollback: Literal["auto", "manual"] = "auto"
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    windows: dict[str, WindowSpec] = Field(default_factory=dict)
    change: ChangeSpec = Field(default_factory=ChangeSpec)
    firmware: tuple[FirmwareTarget, ...] = ()
    applications: tuple[ApplicationTarget, ...] = ()
    """Application versions to install on the hosts each application runs on."""
    requires: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Patch prerequisites: package -> packages that must be installed before it."""
    actions: tuple[Literal["emergency", "next_window", "defer", "ignore"], ...] = (
        "emergency",
        "next_window",
    )
    restart_services: RestartMode = "report"
    """After each patch, services still running replaced files are restarted (``restart``)
    or only reported in the run's journal (``report``)."""

    @field_validator("windows", mode="before")
    @classmethod
    def _name_windows(cls, value: Any) -> Any:
        # A window is named by its key, so `windows: {prod-night: {...}}` needs no `name:`.
        if isinstance(value, dict):
            return {
                k: {"name": k, **v} if isinstance(v, dict) and "name" not in v else v
                for k, v in value.items()
            }
        return value
