"""Before a real redundant-path run starts: does every attached host still have two paths?

Taking one part of a storage system out of service is safe only while every host that
uses it reaches each LUN through another path too. The plan is made offline; whether a
host's paths are all up is a fact only the host knows. So ``apply --real`` reads
``multipath -ll`` on every host the plan's storage systems list before anything runs, and
refuses (naming the host, the LUN and how many usable paths it has) when one is already
down to a single path: the first part taken out would cut it off. After each part comes
back, the engine's ``verify_redundancy`` step reads the same hosts again and waits until
each has its second path back before the next part goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from patchwarden.domain.plan import Plan
from patchwarden.domain.steps import VerifyRedundancyParams
from patchwarden.drivers.protocols import HostPaths
from patchwarden.errors import DriverError, Problem

__all__ = ["attached_hosts", "thin_hosts"]


def attached_hosts(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Storage system id → the hosts whose paths its plan checks, in plan order."""
    found: dict[str, list[str]] = {}
    for unit in plan.units():
        for step in unit.steps:
            if isinstance(step.params, VerifyRedundancyParams):
                hosts = found.setdefault(step.params.system, [])
                hosts.extend(h for h in step.params.hosts if h not in hosts)
    return {system: tuple(hosts) for system, hosts in found.items() if hosts}


async def _read(paths: HostPaths, hosts: list[str]) -> dict[str, tuple[str, ...] | DriverError]:
    out: dict[str, tuple[str, ...] | DriverError] = {}
    try:
        for host in hosts:
            try:
                out[host] = await paths.thin_luns(host)
            except DriverError as error:
                out[host] = error
    finally:
        # The connections belong to this loop; the run opens its own later.
        disconnect = getattr(paths, "disconnect", None)
        if disconnect is not None:
            for host in hosts:
                await disconnect(host)
    return out


def thin_hosts(
    plan: Plan, paths: HostPaths | None, sources: Mapping[str, tuple[str, int]]
) -> list[Problem]:
    """One problem per attached host that has a LUN on a single path now, or cannot tell.

    Reads each host on a thread of its own (a caller inside an event loop may call it).
    Systems without host-side checks (no ``hosts``, or no way to read them) are left to
    :func:`~patchwarden.service.real_checks.missing_drivers`.
    """
    by_system = attached_hosts(plan)
    if paths is None or not by_system:
        return []
    hosts = list(dict.fromkeys(h for listed in by_system.values() for h in listed))
    with ThreadPoolExecutor(1) as pool:
        found = pool.submit(asyncio.run, _read(paths, hosts)).result()
    systems = {h: [s for s, listed in by_system.items() if h in listed] for h in hosts}
    problems = []
    for host, thin in found.items():
        file, line = sources.get(host, ("inventory", 0))
        names = " and ".join(systems[host])
        if isinstance(thin, DriverError):
            problems.append(
                Problem(
                    file,
                    line,
                    f"{host}.connection",
                    f"cannot read the storage paths of {host}, attached to {names}: {thin}",
                    "check that multipath -ll works on the host over its connection",
                )
            )
        elif thin:
            problems.append(
                Problem(
                    file,
                    line,
                    f"{host}.connection",
                    f"{host} already reaches {'; '.join(thin)}: taking a part of {names} "
                    "out would cut it off",
                    "restore the host's failed paths (multipath -ll shows them) before "
                    "patching the storage system; nothing has run",
                )
            )
    return problems
