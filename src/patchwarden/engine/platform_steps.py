"""Steps on clusters, firmware, HA pairs, storage paths and images: check, then act."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from patchwarden.domain.plan import StepAction
from patchwarden.engine.machine import Work
from patchwarden.errors import DriverError

if TYPE_CHECKING:
    from patchwarden.engine.steps import Drivers

__all__ = ["run_platform_step"]

Observe = Callable[[Mapping[str, Any]], Awaitable[None]]


async def run_platform_step(d: Drivers, work: Work, observe: Observe) -> dict[str, Any]:
    """Carry out one of the platform actions; raises DriverError on failure."""
    step, p, target = work.step, work.step.params, work.step.target
    first = work.inputs.get("observed") or {}
    undo = work.inputs.get("undo") or {}
    match step.action:
        case StepAction.HANDOVER:
            clusters = d.need("clusters")
            if await clusters.leader(target) != p["to"]:
                await clusters.handover(target, p["to"])
            return {"leader": await clusters.leader(target)}
        case StepAction.UPLOAD:
            await d.need("clusters").upload(target, p.get("packages") or _common(undo))
            return {"uploaded": True}
        case StepAction.DISTRIBUTE:
            return await _distribute(d, target, p, undo, observe, first)
        case StepAction.FIRMWARE:
            fw = d.need("firmware")
            current = await fw.firmware(target)
            if not first:
                await observe({"previous": current})
            wanted = p.get("version") or undo.get("previous")
            if not wanted:
                raise DriverError(f"{target}: no firmware version to install")
            if current != wanted:
                await fw.flash(target, wanted)
            now = await fw.firmware(target)
            if now != wanted:
                raise DriverError(f"{target}: firmware is {now} after flashing {wanted}")
            return {"previous": first.get("previous", current), "firmware": now}
        case StepAction.FAILOVER:
            appliances = d.need("appliances")
            await appliances.failover(p["to"])
            return {"active": await appliances.active(p["to"])}
        case StepAction.PATH_OFFLINE | StepAction.PATH_ONLINE:
            online = step.action is StepAction.PATH_ONLINE
            await d.need("storage").set_path(p["system"], target, online)
            return {"online": online}
        case StepAction.VERIFY_REDUNDANCY:
            up, total = await d.need("storage").redundancy(p["system"], p["group"])
            if up < total:
                raise DriverError(f"{p['system']}/{p['group']}: {up} of {total} paths online")
            return {"online": up, "total": total}
        case StepAction.BUILD_IMAGE:
            images = d.need("images")
            if not first:
                await observe({"previous": await images.latest(target)})
            version = await images.build(target, dict(p["packages"]))
            return {"image_version": version}
        case StepAction.TEST_IMAGE:
            images = d.need("images")
            version = await images.latest(target)
            result = await images.boot_test(version)
            if not result.ok:
                raise DriverError(f"test instance from {version} unhealthy: {result.detail}")
            return {"image_version": version, "detail": result.detail}
        case StepAction.REPLACE:
            images = d.need("images")
            current = await images.image_of(target)
            if not first:
                await observe({"previous": current})
            wanted = undo.get("previous") if p.get("undo") else await images.latest(p["image"])
            if not wanted:
                raise DriverError(f"{target}: no image version to replace it from")
            await images.replace(target, wanted)
            return {"previous": first.get("previous", current), "image_version": wanted}
    raise DriverError(f"no handler for step action {step.action}")


async def _distribute(
    d: Drivers,
    cluster: str,
    p: Mapping[str, Any],
    undo: Mapping[str, Any],
    observe: Observe,
    first: Mapping[str, Any],
) -> dict[str, Any]:
    """The controller rolls the set out; progress is read back member by member."""
    clusters = d.need("clusters")
    wanted = dict(p.get("packages") or _common(undo))
    members = list(p.get("members", ()))
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
