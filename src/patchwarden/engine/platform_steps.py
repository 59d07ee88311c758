"""Steps on clusters, firmware, HA pairs, storage paths and images: check, then act."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from patchwarden.domain.steps import (
    BuildImageParams,
    DistributeParams,
    FailoverParams,
    FirmwareParams,
    HandoverParams,
    ImageTestParams,
    LeaveParams,
    PathOfflineParams,
    PathOnlineParams,
    RejoinParams,
    ReplaceParams,
    SnapshotDeleteParams,
    SnapshotParams,
    SnapshotRevertParams,
    UploadParams,
    VerifyRedundancyParams,
)
from patchwarden.engine.cluster_steps import leave, rejoin
from patchwarden.engine.drivers import Drivers, Observe, required
from patchwarden.engine.machine import Work
from patchwarden.errors import DriverError

__all__ = ["run_platform_step"]


async def run_platform_step(d: Drivers, work: Work, observe: Observe) -> dict[str, Any]:
    """Carry out one of the platform actions; raises DriverError on failure."""
    step, target = work.step, work.step.target
    first = work.inputs.get("observed") or {}
    undo = work.inputs.get("undo") or {}
    match step.params:
        case HandoverParams(to=to):
            clusters = required(d.clusters, "clusters")
            if await clusters.leader(target) != to:
                await clusters.handover(target, to)
            return {"leader": await clusters.leader(target)}
        case LeaveParams() as p:
            return await leave(d, target, p)
        case RejoinParams() as p:
            return await rejoin(d, target, p, step.timeout_s)
        case UploadParams(packages=packages):
            await required(d.clusters, "clusters").upload(target, dict(packages) or _common(undo))
            return {"uploaded": True}
        case DistributeParams() as p:
            return await _distribute(d, target, p, undo, observe, first)
        case FirmwareParams(version=version):
            fw = required(d.firmware, "firmware")
            current = await fw.firmware(target)
            if not first:
                await observe({"previous": current})
            wanted = version or undo.get("previous")
            if not wanted:
                raise DriverError(f"{target}: no firmware version to install")
            if current != wanted:
                await fw.flash(target, wanted)
            now = await fw.firmware(target)
            if now != wanted:
                raise DriverError(f"{target}: firmware is {now} after flashing {wanted}")
            return {"previous": first.get("previous", current), "firmware": now}
        case FailoverParams(to=to):
            appliances = required(d.appliances, "appliances")
            await appliances.failover(to)
            return {"active": await appliances.active(to)}
        case PathOfflineParams(system=system) | PathOnlineParams(system=system):
            online = isinstance(step.params, PathOnlineParams)
            await required(d.storage, "storage").set_path(system, target, online)
            return {"online": online}
        case VerifyRedundancyParams(system=system, group=group, hosts=hosts):
            up, total = await required(d.storage, "storage").redundancy(system, group)
            if up < total:
                raise DriverError(f"{system}/{group}: {up} of {total} paths online")
            if hosts:
                await _hosts_redundant(d, system, hosts, step.timeout_s)
            return {"online": up, "total": total, **({"hosts": list(hosts)} if hosts else {})}
        case BuildImageParams(packages=packages):
            images = required(d.images, "images")
            if not first:
                await observe({"previous": await images.latest(target)})
            version = await images.build(target, dict(packages))
            return {"image_version": version}
        case ImageTestParams():
            images = required(d.images, "images")
            version = await images.latest(target)
            result = await images.boot_test(version)
            if not result.ok:
                raise DriverError(f"test instance from {version} unhealthy: {result.detail}")
            return {"image_version": version, "detail": result.detail}
        case ReplaceParams() as p:
            images = required(d.images, "images")
            current = await images.image_of(target)
            if not first:
                await observe({"previous": current})
            wanted = undo.get("previous") if p.undo else await images.latest(p.image)
            if not wanted:
                raise DriverError(f"{target}: no image version to replace it from")
            if current != wanted:  # a resumed step whose replacement was recorded: done
                await images.replace(target, wanted)
            return {"previous": first.get("previous", current), "image_version": wanted}
        case SnapshotParams(name=name):
            return await _snapshot(d, target, name, observe, first)
        case SnapshotRevertParams(name=name):
            snapshots = required(d.snapshots, "snapshots")
            if not undo:
                # The snapshot step started but never recorded taking one: nothing to undo.
                return {"reverted": False, "note": "no snapshot was taken"}
            await snapshots.revert_snapshot(target, name)
            return {"reverted": True, "snapshot": name}
        case SnapshotDeleteParams(name=name):
            snapshots = required(d.snapshots, "snapshots")
            await snapshots.delete_snapshot(target, name)
            return {"deleted": name, "left": await snapshots.snapshots(target)}
    raise DriverError(f"no handler for step action {step.action}")


async def _snapshot(
    d: Drivers, vm: str, name: str, observe: Observe, first: Mapping[str, Any]
) -> dict[str, Any]:
    """Take the snapshot once: a leftover of that name is replaced; a resumed step keeps its own.

    The observation is journaled before the snapshot is taken, so a resumed step knows
    that a snapshot of that name is (or is about to be) its own.
    """
    snapshots = required(d.snapshots, "snapshots")
    replaced = False
    if not first:
        if name in await snapshots.snapshots(vm):
            await snapshots.delete_snapshot(vm, name)  # an earlier run's, not this one's
            replaced = True
        await observe({"snapshot": name, "replaced_leftover": replaced})
    await snapshots.create_snapshot(vm, name)
    return {"snapshot": name, "snapshots": await snapshots.snapshots(vm)}


async def _distribute(
    d: Drivers,
    cluster: str,
    p: DistributeParams,
    undo: Mapping[str, Any],
    observe: Observe,
    first: Mapping[str, Any],
) -> dict[str, Any]:
    """The controller rolls the set out; progress is read back member by member."""
    clusters = required(d.clusters, "clusters")
    wanted = dict(p.packages) or _common(undo)
    members = list(p.members)
    if not first and members:
        before = {m: await d.packages.installed(m, list(wanted)) for m in members}
        await observe({"previous": before})
    progress = await clusters.distribute(cluster)
    behind = {
        m: versions
        for m, versions in progress.items()
        if any(versions.get(n) != v for n, v in wanted.items())
    }
    if behind:
        raise DriverError(f"{cluster}: members behind after distribution: {sorted(behind)}")
    return {"progress": progress}


HOST_PATHS_POLL_S = 5.0
"""Between two reads of the hosts' paths while they come back (multipathd's own
``polling_interval`` is 5 s by default)."""


async def _hosts_redundant(
    d: Drivers, system: str, hosts: tuple[str, ...], timeout_s: float
) -> None:
    """Wait until every host reaches every LUN through two usable paths again.

    A path that came back on the array is reinstated on a host only when multipathd's
    checker next reads it, so the hosts are read again every few seconds until they all
    agree or ``timeout_s`` has passed; then the hosts still short of a path are named.
    """
    paths = required(d.paths, "host storage paths")
    deadline = d.clock.now().timestamp() + timeout_s
    while True:
        thin = {h: found for h in hosts if (found := await paths.thin_luns(h))}
        if not thin:
            return
        if d.clock.now().timestamp() >= deadline:
            said = "; ".join(f"{h}: {', '.join(luns)}" for h, luns in sorted(thin.items()))
            raise DriverError(
                f"{system}: hosts still without a redundant path after {timeout_s:g}s: {said}"
            )
        await d.clock.sleep(HOST_PATHS_POLL_S)


def _common(undo: Mapping[str, Any]) -> dict[str, str]:
    """The versions most members had before a distribution: what a rollback redistributes.

    A controller hands one set to every member, so members that differed before cannot
    each get their own back; the most common version of each package is the honest choice.
    """
    previous: Mapping[str, Mapping[str, str]] = undo.get("previous") or {}
    votes: dict[str, Counter[str]] = {}
    for versions in previous.values():
        for name, version in versions.items():
            votes.setdefault(name, Counter())[version] += 1
    return {name: counts.most_common(1)[0][0] for name, counts in sorted(votes.items())}
