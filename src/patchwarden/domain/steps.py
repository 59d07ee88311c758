"""What each step does, typed: one frozen parameter model per action, a union tagged by action.

The planner writes these, the engine's machine reads the rollback links (``undo``,
``from_unit``) and the executor reads the rest, so all three share one definition and mypy
checks every use. In a plan's JSON a step's parameters read as
``{"action": "drain", "lb": "lb-prod", "pool": "web"}``.

Every container is a tuple: a plan is hashed when it is approved, so nothing inside it may
change afterwards.

Example:
    >>> params = StepParamsAdapter.validate_python({"action": "wait", "seconds": 60})
    >>> params
    WaitParams(action=<StepAction.WAIT: 'wait'>, seconds=60.0)
    >>> params.action is StepAction.WAIT
    True
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, TypeAdapter, model_validator

from patchwarden.domain.base import Value

__all__ = [
    "AnalyzeParams",
    "BakeParams",
    "BuildImageParams",
    "DistributeParams",
    "DrainParams",
    "EnableParams",
    "FailoverParams",
    "FirmwareParams",
    "HandoverParams",
    "HealthParams",
    "HookParams",
    "ImageTestParams",
    "LeaveParams",
    "MaintenanceOffParams",
    "MaintenanceOnParams",
    "MigrateParams",
    "PackagePins",
    "PatchParams",
    "PathOfflineParams",
    "PathOnlineParams",
    "PoolParams",
    "RebootParams",
    "RejoinParams",
    "ReplaceParams",
    "RestartMode",
    "RestoreParams",
    "SetWeightParams",
    "SnapshotDeleteParams",
    "SnapshotParams",
    "SnapshotRevertParams",
    "StepAction",
    "StepParams",
    "StepParamsAdapter",
    "SwitchParams",
    "UploadParams",
    "VerifyParams",
    "VerifyRedundancyParams",
    "WaitDrainedParams",
    "WaitParams",
]


class StepAction(StrEnum):
    """What a step does; the engine maps each to a driver call."""

    DRAIN = "drain"
    WAIT_DRAINED = "wait_drained"
    ENABLE = "enable"
    MAINTENANCE_ON = "maintenance_on"
    MAINTENANCE_OFF = "maintenance_off"
    MIGRATE = "migrate"
    PATCH = "patch"
    RESTORE = "restore"
    REBOOT = "reboot"
    HEALTH = "health"
    VERIFY = "verify"
    # traffic: canary weights and analysis, blue-green switching
    SET_WEIGHT = "set_weight"
    ANALYZE = "analyze"
    SWITCH = "switch"
    BAKE = "bake"
    WAIT = "wait"
    # a campaign's own commands before and after units, batches and groups
    HOOK = "hook"
    # clusters: leader handover, a member out of and back into service, controller-based
    HANDOVER = "handover"
    LEAVE = "leave"
    REJOIN = "rejoin"
    UPLOAD = "upload"
    DISTRIBUTE = "distribute"
    # firmware of appliances and storage parts; HA fail-over; redundant paths
    FIRMWARE = "firmware"
    FAILOVER = "failover"
    PATH_OFFLINE = "path_offline"
    PATH_ONLINE = "path_online"
    VERIFY_REDUNDANCY = "verify_redundancy"
    # offline images: build, test, replace instances
    BUILD_IMAGE = "build_image"
    TEST_IMAGE = "test_image"
    REPLACE = "replace"
    # VM snapshots as a way back: taken before the patch, reverted to, deleted after soak
    SNAPSHOT = "snapshot"
    SNAPSHOT_REVERT = "snapshot_revert"
    SNAPSHOT_DELETE = "snapshot_delete"


PackagePins = tuple[tuple[str, str], ...]
"""``((package, version), ...)``: what to install, in order."""


class _Params(Value):
    """Shared behaviour of every step's parameters."""

    def undoes(self) -> StepAction | None:
        """The forward action whose first observation this (rollback) step restores."""
        return None


class _Undoable(_Params):
    """A step that either acts forward or, with ``undo``, restores what a forward step saw.

    ``undo`` names the forward action of the same target (and unit) whose first
    observation holds the state to go back to.
    """

    undo: StepAction | None = None

    def undoes(self) -> StepAction | None:
        """The forward action named by ``undo``."""
        return self.undo

    def _forward_or_undo(self, forward: object, name: str) -> Self:
        if (forward in ("", (), None)) == (self.undo is None):
            raise ValueError(f"give either {name} (forward) or undo (rollback), not both or none")
        return self


class PoolParams(_Params):
    """A step on one member of a load-balancer pool."""

    lb: str
    pool: str


class DrainParams(PoolParams):
    """Stop sending new requests to the target."""

    action: Literal[StepAction.DRAIN] = StepAction.DRAIN


class WaitDrainedParams(PoolParams):
    """Wait until the target has no open sessions."""

    action: Literal[StepAction.WAIT_DRAINED] = StepAction.WAIT_DRAINED


class EnableParams(PoolParams):
    """Send requests to the target again."""

    action: Literal[StepAction.ENABLE] = StepAction.ENABLE


class SetWeightParams(PoolParams):
    """Give the target ``weight`` (0-256, 100 = normal) of the pool's new requests."""

    action: Literal[StepAction.SET_WEIGHT] = StepAction.SET_WEIGHT
    weight: int


class AnalyzeParams(PoolParams):
    """Let traffic flow for ``seconds``, then compare canaries with the baseline."""

    action: Literal[StepAction.ANALYZE] = StepAction.ANALYZE
    canaries: tuple[str, ...]
    baseline: tuple[str, ...]
    seconds: float


class BakeParams(PoolParams):
    """Watch a blue-green pool's new side serve for ``seconds`` before anything else changes.

    Every member's health check is polled, and the error rate of the requests the new
    side answered (from the load balancer's request samples) must stay at or under
    ``max_error_rate``; either failing fails the step, and the switch unit's rollback
    flips the pool back to the side it left.
    """

    action: Literal[StepAction.BAKE] = StepAction.BAKE
    seconds: float
    members: tuple[str, ...]
    max_error_rate: float = 0.01


class SwitchParams(PoolParams, _Undoable):
    """Make ``side`` the active side of a blue-green pool; with ``undo``, flip back."""

    action: Literal[StepAction.SWITCH] = StepAction.SWITCH
    side: str = ""

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        return self._forward_or_undo(self.side, "side")


class MaintenanceOnParams(_Params):
    """Put the target hypervisor in maintenance: no VM is placed on it."""

    action: Literal[StepAction.MAINTENANCE_ON] = StepAction.MAINTENANCE_ON


class MaintenanceOffParams(_Params):
    """Take the target hypervisor out of maintenance."""

    action: Literal[StepAction.MAINTENANCE_OFF] = StepAction.MAINTENANCE_OFF


class MigrateParams(_Params):
    """Live-migrate ``vm`` from ``source`` to ``destination``."""

    action: Literal[StepAction.MIGRATE] = StepAction.MIGRATE
    vm: str
    source: str
    destination: str


RestartMode = Literal["report", "restart"]
"""After an update: ``report`` the services still running replaced files, or ``restart``
them."""


class PatchParams(_Params):
    """Install these package versions on the target, in order.

    Then ask the host which services still run files the update replaced (``needrestart``,
    ``needs-restarting -s``): ``restart`` restarts them, ``report`` (the default, left out
    of the plan's JSON so that plans without restarts keep their hash) only journals them.
    """

    action: Literal[StepAction.PATCH] = StepAction.PATCH
    packages: PackagePins
    restart: RestartMode = Field(default="report", exclude_if=lambda mode: mode == "report")


class RestoreParams(_Params):
    """Put back the versions the target had before its ``patch`` step.

    ``from_unit`` names the unit whose ``patch`` step that was, when it is not this step's
    own unit (a canary analysis undoes the canaries' units); empty means this unit.
    """

    action: Literal[StepAction.RESTORE] = StepAction.RESTORE
    from_unit: str = ""

    def undoes(self) -> StepAction | None:
        """A restore always undoes a ``patch``."""
        return StepAction.PATCH


class RebootParams(_Params):
    """Reboot the target and wait for it to come back with a new boot id."""

    action: Literal[StepAction.REBOOT] = StepAction.REBOOT


class HealthParams(_Params):
    """Run the target's health checks."""

    action: Literal[StepAction.HEALTH] = StepAction.HEALTH


class VerifyParams(_Params):
    """Check the target as a health check does, after a change that needs no patch."""

    action: Literal[StepAction.VERIFY] = StepAction.VERIFY


class WaitParams(_Params):
    """Wait ``seconds`` (a bake time): the old side stays as it was meanwhile."""

    action: Literal[StepAction.WAIT] = StepAction.WAIT
    seconds: float


class HookParams(_Params):
    """Run a hook's argument vector on the target host or on the controller.

    ``when`` says where in the plan it sits (for people and reports); ``on_failure`` what
    a failure does: ``abort`` (the run stops, nothing is rolled back), ``rollback`` (the
    unit fails and rolls back), ``ignore`` (journaled, and the work goes on).
    """

    action: Literal[StepAction.HOOK] = StepAction.HOOK
    when: str
    argv: tuple[str, ...]
    on: Literal["target", "controller"] = "target"
    timeout_s: float = 60.0
    on_failure: Literal["abort", "rollback", "ignore"] = "abort"

    def aborts(self) -> bool:
        """Whether its failure stops the run without rolling back."""
        return self.on_failure == "abort"


class HandoverParams(_Params):
    """Hand the target cluster's leadership to member ``to``."""

    action: Literal[StepAction.HANDOVER] = StepAction.HANDOVER
    to: str


class LeaveParams(_Params):
    """Take ``member`` of the target cluster out of service, keeping quorum.

    If it leads, leadership moves first: to the first healthy member of ``prefer``
    (members patched before it), else to another healthy member. Refused when the healthy
    members without it would not make a quorum.
    """

    action: Literal[StepAction.LEAVE] = StepAction.LEAVE
    member: str
    prefer: tuple[str, ...] = ()


class RejoinParams(_Params):
    """Wait until ``member`` of the target cluster is healthy again and has caught up.

    Caught up: its applied index reached the leader's index as read when the wait began.
    """

    action: Literal[StepAction.REJOIN] = StepAction.REJOIN
    member: str


class UploadParams(_Undoable):
    """Upload a patch set to the target cluster's controller."""

    action: Literal[StepAction.UPLOAD] = StepAction.UPLOAD
    packages: PackagePins = ()

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        return self._forward_or_undo(self.packages, "packages")


class DistributeParams(_Undoable):
    """Let the controller roll the uploaded set out to ``members``; read progress back."""

    action: Literal[StepAction.DISTRIBUTE] = StepAction.DISTRIBUTE
    packages: PackagePins = ()
    members: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        return self._forward_or_undo(self.packages, "packages")


class FirmwareParams(_Undoable):
    """Flash firmware ``version`` on the target; with ``undo``, the version it had."""

    action: Literal[StepAction.FIRMWARE] = StepAction.FIRMWARE
    version: str = ""

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        return self._forward_or_undo(self.version, "version")


class FailoverParams(_Params):
    """Make appliance ``to`` the active member of its HA pair."""

    action: Literal[StepAction.FAILOVER] = StepAction.FAILOVER
    to: str


class PathOfflineParams(_Params):
    """Take the target part's path of storage ``system`` offline."""

    action: Literal[StepAction.PATH_OFFLINE] = StepAction.PATH_OFFLINE
    system: str


class PathOnlineParams(_Params):
    """Bring the target part's path of storage ``system`` back online."""

    action: Literal[StepAction.PATH_ONLINE] = StepAction.PATH_ONLINE
    system: str


class VerifyRedundancyParams(_Params):
    """Check every path of redundancy ``group`` of storage ``system`` is online.

    ``hosts`` (the system's attached hosts) must each reach every LUN through two usable
    paths again; left out of the plan's JSON when there are none.
    """

    action: Literal[StepAction.VERIFY_REDUNDANCY] = StepAction.VERIFY_REDUNDANCY
    system: str
    group: str
    hosts: tuple[str, ...] = Field(default=(), exclude_if=lambda hosts: not hosts)


class BuildImageParams(_Params):
    """Build a new version of the target image with these packages."""

    action: Literal[StepAction.BUILD_IMAGE] = StepAction.BUILD_IMAGE
    packages: PackagePins


class ImageTestParams(_Params):
    """Boot a test instance of the target image's newest version and check its health.

    (Named so that test collectors do not take it for a test class.)
    """

    action: Literal[StepAction.TEST_IMAGE] = StepAction.TEST_IMAGE


class ReplaceParams(_Undoable):
    """Replace the target instance by one built from ``image``'s newest version.

    With ``undo``, from the image version it ran before.
    """

    action: Literal[StepAction.REPLACE] = StepAction.REPLACE
    image: str = ""

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        return self._forward_or_undo(self.image, "image")


class SnapshotParams(_Params):
    """Snapshot the target VM as ``name`` on its hypervisor before it is patched.

    A snapshot of that name found when the step first runs is a leftover of an earlier
    run: it is deleted and taken afresh. A resumed step keeps the one it took.
    """

    action: Literal[StepAction.SNAPSHOT] = StepAction.SNAPSHOT
    name: str


class SnapshotRevertParams(_Params):
    """Put the target VM back as its snapshot ``name`` holds it (the rollback of a patch)."""

    action: Literal[StepAction.SNAPSHOT_REVERT] = StepAction.SNAPSHOT_REVERT
    name: str

    def undoes(self) -> StepAction | None:
        """A revert undoes what happened since the ``snapshot`` step."""
        return StepAction.SNAPSHOT


class SnapshotDeleteParams(_Params):
    """Delete the target VM's snapshot ``name`` (after the soak, or after a revert)."""

    action: Literal[StepAction.SNAPSHOT_DELETE] = StepAction.SNAPSHOT_DELETE
    name: str


StepParams = Annotated[
    DrainParams
    | WaitDrainedParams
    | EnableParams
    | SetWeightParams
    | AnalyzeParams
    | SwitchParams
    | BakeParams
    | MaintenanceOnParams
    | MaintenanceOffParams
    | MigrateParams
    | PatchParams
    | RestoreParams
    | RebootParams
    | HealthParams
    | VerifyParams
    | WaitParams
    | HookParams
    | HandoverParams
    | LeaveParams
    | RejoinParams
    | UploadParams
    | DistributeParams
    | FirmwareParams
    | FailoverParams
    | PathOfflineParams
    | PathOnlineParams
    | VerifyRedundancyParams
    | BuildImageParams
    | ImageTestParams
    | ReplaceParams
    | SnapshotParams
    | SnapshotRevertParams
    | SnapshotDeleteParams,
    Field(discriminator="action"),
]
"""A step's parameters: exactly one model per :class:`StepAction`, chosen by ``action``."""

StepParamsAdapter: TypeAdapter[StepParams] = TypeAdapter(StepParams)
"""Validates a step's parameters from JSON-like data."""
