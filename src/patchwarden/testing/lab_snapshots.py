"""Lab guests with a disk: the libvirt lab's VMs whose state lives on a qcow2 disk.

A second, small libvirt lab (:mod:`patchwarden.testing.lab_libvirt` with its own namespace
``pwls``, bridge ``10.231.8.0/24``, folder and ids ``snap-hv-1``, ``snap-vm-1`` ...): one
hypervisor and two guests, each with a 16 MiB qcow2 disk built by the set-up from Debian
packages (``mke2fs -d`` of e2fsprogs, ``qemu-img`` of qemu-utils; nothing downloaded). The
guest mounts the disk's ext4 file system and its HTTP service reports what is on it:

- ``/healthz`` is the disk's ``/app/health`` (``ok``, or ``failing`` after a bad update);
- ``/cgi-bin/id`` adds ``app_version`` (the disk's ``/app/version``) to name, boot id, uptime;
- ``POST /cgi-bin/install?version=V`` is the guest's own agent: the guest writes version ``V`` of
  its application ``pw-app`` to its disk (synchronously) and sets its health; a version
  listed in the disk's ``/app/broken`` (:data:`~patchwarden.testing.lab_libvirt.APP_BROKEN`)
  breaks it.

So a change made inside the running guest is on its disk and visible over the network, and
a snapshot's revert shows over the network too. It is its own lab so that the evacuation
lab's guests (no disk, migrated between three hosts) stay as they are.

Example (as root)::

    with shared_snapshot_lab() as lab:
        guest = lab.guests[0]
        install_app(guest, "1.0-2")
        app_state(guest)["app_version"]   # '1.0-2'
"""

from __future__ import annotations

import contextlib
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from patchwarden.testing.lab_image import LabError
from patchwarden.testing.lab_libvirt import GuestSpec, LibvirtLab, LibvirtLabConfig
from patchwarden.testing.lab_libvirt import shared_libvirt_lab as _shared_libvirt_lab

__all__ = [
    "SNAPSHOT_CAMPAIGN",
    "SNAPSHOT_LAB",
    "app_state",
    "install_app",
    "shared_snapshot_lab",
    "step_seconds",
    "write_snapshot_inventory",
]

SNAPSHOT_LAB = LibvirtLabConfig(
    dir=Path("/srv/patchwarden-libvirt-snap"),
    netns="pwls",
    subnet="10.231.8",
    hypervisors=1,
    placement=(2,),
    prefix="snap",
    disk_mib=16,
)
"""One hypervisor, two guests with qcow2 disks."""


def app_state(guest: GuestSpec, timeout_s: float = 5.0) -> dict[str, str]:
    """What the guest reports: name, boot id, uptime, ``app_version`` and ``health``."""
    with urllib.request.urlopen(f"{guest.url}cgi-bin/id", timeout=timeout_s) as answer:
        text = answer.read().decode()
    state = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    with urllib.request.urlopen(f"{guest.url}healthz", timeout=timeout_s) as answer:
        state["health"] = answer.read().decode().strip()
    return state


def install_app(guest: GuestSpec, version: str, timeout_s: float = 10.0) -> None:
    """Ask the guest's own agent to install ``pw-app`` ``version`` on its disk.

    Raises:
        LabError: The agent did not confirm the install.
    """
    query = urllib.parse.urlencode({"version": version}, quote_via=urllib.parse.quote)
    url = f"{guest.url}cgi-bin/install?{query}"
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        said = answer.read().decode().strip()
    if said != f"installed pw-app {version}":
        raise LabError(f"{guest.id}: install of pw-app {version} answered {said!r}")


@contextlib.contextmanager
def shared_snapshot_lab(config: LibvirtLabConfig = SNAPSHOT_LAB) -> Iterator[LibvirtLab]:
    """The disk guests' lab, up for the block (down when its last user leaves)."""
    with _shared_libvirt_lab(config) as lab:
        yield lab


SNAPSHOT_CAMPAIGN = """\
name: vm snapshots
applications: [{{app: pw-app, version: "{version}"}}]
groups:
  vms: {{select: {{kind: vm}}, strategy: all_at_once, rollback: snapshot, snapshot_soak_s: {soak}}}
rate: {{max_errors: 2}}
"""
"""A campaign installing ``pw-app`` ``version`` on every lab VM, snapshots as the way back."""


def write_snapshot_inventory(lab: LibvirtLab, path: Path) -> Path:
    """The lab's hypervisor (libvirt URI), its guests as VMs and ``pw-app`` on them.

    ``pw-app`` is installed by each guest's own agent (``driver: http_agent``); each VM's
    health check is its ``/healthz``, which reports what its disk holds.
    """
    env = "dev"
    assets: list[dict[str, object]] = [
        {
            "id": hv.id,
            "kind": "hypervisor",
            "env": env,
            "service_model": "on_prem",
            "driver": "libvirt",
            "driver_config": {"uri": hv.uri, "state_dir": str(lab.config.dir / "maintenance")},
            "capacity": {"vcpus": 2, "memory_gb": 2},
        }
        for hv in lab.hypervisors
    ]
    assets += [
        {
            "id": guest.id,
            "kind": "vm",
            "env": env,
            "service_model": "on_prem",
            "hypervisor": guest.hypervisor,
            "connection": {"transport": "ssh", "address": guest.address},
            "health": [{"type": "http", "target": f"{guest.url}healthz", "expect_body": "ok"}],
        }
        for guest in lab.guests
    ]
    assets.append({
        "id": "pw-app",
        "kind": "application",
        "env": env,
        "service_model": "on_prem",
        "driver": "http_agent",
        "driver_config": {"url": "http://{address}/cgi-bin/"},
        "runs_on": [g.id for g in lab.guests],
    })  # fmt: skip
    path.write_text(yaml.safe_dump({"environments": [env], "assets": assets}, sort_keys=False))
    return path


def step_seconds(events: Sequence[Any], suffix: str) -> list[float]:
    """Seconds each step whose id ends with ``suffix`` took (started, then succeeded)."""
    started: dict[str, Any] = {}
    out: list[float] = []
    for event in events:
        if not event.step_id.endswith(suffix):
            continue
        if event.event == "started":
            started[event.step_id] = event.at
        elif event.event == "succeeded" and event.step_id in started:
            out.append((event.at - started.pop(event.step_id)).total_seconds())
    return out
