"""Inventory from running hypervisors: ``patchwarden inventory discover libvirt URI...``.

Each URI is asked, through the libvirt driver, for its host name, UUID, CPUs and memory
and its domains; the answer is inventory YAML (a ``hypervisor`` asset per URI with
``driver: libvirt`` and its ``uri``, a ``vm`` asset per active domain placed on it) that
``inventory validate`` accepts as it is. Memory is rounded down for a host's capacity and
up for a VM's size, so the planner never counts on room that is not there. Hypervisors you
run yourself are ``on_prem``: yours to patch, not a provider's.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from typing import Any

from patchwarden.drivers.libvirt import LibvirtHost, LibvirtHypervisors, LibvirtSettings
from patchwarden.errors import InputError

__all__ = ["asset_id", "discover_libvirt"]


def asset_id(name: str) -> str:
    """An inventory id from a host or domain name: lower case, dots and odd characters to ``-``.

    >>> asset_id("HV-01.example.org")
    'hv-01-example-org'
    >>> asset_id("web_01")
    'web_01'
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return cleaned or "unnamed"


def discover_libvirt(uris: Sequence[str], env: str = "prod") -> dict[str, Any]:
    """Hypervisor and VM assets of the hypervisors at ``uris``, as inventory data.

    Raises:
        InputError: A URI is malformed (nothing is contacted then).
        DriverError: A hypervisor does not answer.
    """
    if not uris:
        raise InputError("name at least one libvirt URI, e.g. qemu+tcp://10.0.0.11/system")
    settings = []
    for uri in uris:
        try:
            settings.append(LibvirtSettings(uri=uri))
        except ValueError:
            raise InputError(
                f"{uri!r} is not a libvirt URI (hint: driver[+transport]://[user@]host/system)"
            ) from None
    return asyncio.run(_discover(settings, env))


async def _discover(settings: list[LibvirtSettings], env: str) -> dict[str, Any]:
    hosts = [LibvirtHost(f"hv-{n}", s) for n, s in enumerate(settings, 1)]
    fleet = LibvirtHypervisors.of(hosts)
    try:
        assets: list[dict[str, Any]] = []
        vms: list[dict[str, Any]] = []
        for host in hosts:
            name = await asyncio.to_thread(host.query, lambda conn: conn.getHostname())
            hv_id = asset_id(name)
            room = await fleet.capacity(host.id)
            assets.append({
                "id": hv_id,
                "kind": "hypervisor",
                "env": env,
                "service_model": "on_prem",
                "driver": "libvirt",
                "driver_config": {"uri": host.settings.uri},
                "capacity": {"vcpus": room.vcpus, "memory_gb": max(1, room.memory_mib // 1024)},
                "tags": {"libvirt_host_uuid": await asyncio.to_thread(host.host_uuid)},
            })  # fmt: skip
            for guest in await fleet.guests(host.id):
                if not guest.active:
                    continue
                vms.append({
                    "id": asset_id(guest.name),
                    "kind": "vm",
                    "env": env,
                    "service_model": "on_prem",
                    "hypervisor": hv_id,
                    "vcpus": guest.vcpus,
                    "memory_gb": max(1, math.ceil(guest.memory_mib / 1024)),
                    "tags": {"libvirt_uuid": guest.uuid},
                })  # fmt: skip
        return {"environments": [env], "assets": assets + vms}
    finally:
        await fleet.close()
