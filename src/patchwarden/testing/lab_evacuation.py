"""Lab hypervisors patched for real: each libvirtd paired with a Debian root reached by SSH.

A real hypervisor is a Debian host running libvirtd. The lab builds that from two parts:

- the libvirt lab (:mod:`patchwarden.testing.lab_libvirt`): three libvirtd and four running
  guests, each guest serving HTTP;
- a lab of three Debian roots (:mod:`patchwarden.testing.lab`, ``/srv/patchwarden-lab-hv``,
  ``127.0.4.2``-``.4``), one per hypervisor: its "operating system", reached over SSH, with
  real ``apt``/``dpkg`` and the lab repository's test packages (``pw-web``, ``pw-kernel``).

Patching a hypervisor installs packages in its root over SSH; its reboot is the lab's
reboot of that root (its sshd and service go away and come back with a new boot id), and
this lab's watcher then restarts the paired libvirtd, as a real reboot restarts it. The
inventory written by :meth:`HypervisorLab.write_inventory` names each hypervisor's libvirt
URI (``driver: libvirt``), its capacity, and the guests as VMs (two in one anti-affinity
group), so ``patchwarden apply --real`` evacuates, patches, restarts and health-checks each
hypervisor in turn while :class:`GuestLoad` keeps requesting every guest's service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from patchwarden.testing.lab import Lab, LabConfig
from patchwarden.testing.lab_libvirt import LibvirtLab, LibvirtLabConfig, shared_libvirt_lab
from patchwarden.testing.lab_repo import INITIAL
from patchwarden.testing.lab_session import lab_real_drivers, shared_lab

__all__ = [
    "CAMPAIGN",
    "DSAS",
    "HV_ROOTS",
    "GuestLoad",
    "HypervisorLab",
    "LoadReport",
    "cli",
    "migration_seconds",
    "shared_hypervisor_lab",
]

HV_ROOTS = LabConfig(
    dir=Path("/srv/patchwarden-lab-hv"), hosts=3, first_address="127.0.4.2", reboot_pause_s=1.0
)
"""The hypervisors' Debian roots: three lab hosts on 127.0.4.2-4."""

CAMPAIGN = """\
name: hypervisors
groups:
  hypervisors: {select: {kind: hypervisor}, strategy: evacuate, max_parallel: 1}
"""
"""Every lab hypervisor, one at a time, evacuated first."""

_CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def _dsa(number: int, package: str, **specific: Any) -> dict[str, Any]:
    return {
        "id": f"DSA-{number}-1",
        "summary": f"{package} - security update",
        "modified": "2026-11-20T08:14:11Z",
        "published": "2026-11-19T00:00:00Z",
        "severity": _CRITICAL,
        "database_specific": specific,
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
        }],
    }  # fmt: skip


DSAS = [_dsa(9952, "pw-web"), _dsa(9953, "pw-kernel", reboot_required=True)]
"""Advisories in Debian's OSV layout: pw-web, and pw-kernel that needs a reboot."""


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``patchwarden ARGS`` as a process of its own, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def migration_seconds(events: Sequence[Any]) -> list[float]:
    """Seconds each migrate step took, from its journal events (started, then succeeded)."""
    started: dict[str, Any] = {}
    out: list[float] = []
    for event in events:
        if not event.step_id.endswith("-migrate"):
            continue
        if event.event == "started":
            started[event.step_id] = event.at
        elif event.event == "succeeded" and event.step_id in started:
            out.append((event.at - started.pop(event.step_id)).total_seconds())
    return out


@dataclass(frozen=True)
class LoadReport:
    """What a load generator saw."""

    sent: int
    failed: int
    errors: tuple[str, ...] = ()


@dataclass
class GuestLoad:
    """Requests every guest's ``/healthz`` in turn, one thread per guest, and counts.

    Attributes:
        urls: One URL per guest.
        interval_s: Pause between two requests of one thread.
        timeout_s: A request without an answer by then counts as failed.
    """

    urls: list[str]
    interval_s: float = 0.05
    timeout_s: float = 3.0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _poll(self, url: str) -> None:
        while not self._stop.is_set():
            ok, error = True, ""
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:
                    ok = answer.status == 200 and answer.read().strip() == b"ok"
            except OSError as failure:
                ok, error = False, f"{url}: {failure}"
            with self._lock:
                self.sent += 1
                if not ok:
                    self.failed += 1
                    if len(self.errors) < 20:
                        self.errors.append(error or f"{url}: unexpected answer")
            time.sleep(self.interval_s)

    def start(self) -> None:
        """Start one polling thread per URL."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._poll, args=(url,), daemon=True) for url in self.urls
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> LoadReport:
        """Stop and report."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return LoadReport(self.sent, self.failed, tuple(self.errors))


class HypervisorLab:
    """The libvirt lab plus one Debian root per hypervisor, and a watcher for reboots.

    Args:
        virt: The running libvirt lab.
        roots: The running lab of the hypervisors' roots (as many hosts as hypervisors).
    """

    def __init__(self, virt: LibvirtLab, roots: Lab) -> None:
        self.virt = virt
        self.roots = roots
        self.pairs = dict(
            zip((h.id for h in virt.hypervisors), (s.id for s in roots.specs()), strict=True)
        )
        self.restarts: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    @property
    def state_dir(self) -> Path:
        """Where the libvirt driver records maintenance."""
        return self.virt.config.dir / "maintenance"

    def _boot_id(self, root_id: str) -> str:
        path = self.roots.host(root_id).root / "etc" / "lab-boot-id"
        with contextlib.suppress(OSError):
            return path.read_text().strip()
        return ""

    def _watch(self) -> None:
        seen = {hv: self._boot_id(root) for hv, root in self.pairs.items()}
        while not self._stop.wait(0.2):
            for hv, root in self.pairs.items():
                now = self._boot_id(root)
                if now and now != seen[hv]:
                    seen[hv] = now
                    self.virt.restart_daemon(hv)
                    self.restarts.append((hv, time.time()))

    def start(self) -> None:
        """Start watching the roots' boot ids (a changed one restarts that libvirtd)."""
        self._watcher.start()

    def stop(self) -> None:
        """Stop the watcher."""
        self._stop.set()
        self._watcher.join()

    def write_inventory(self, path: Path, *, memory_gb: int = 2, vcpus: int = 2) -> Path:
        """The hypervisors (libvirt URI, SSH to their root) and the guests as VMs.

        Capacity is what the campaign may plan with: by default two 1-GB guests per host.
        Every asset is in the environment ``dev``.
        ``lab-vm-1`` and ``lab-vm-2`` share the anti-affinity group ``web``.
        """
        env = "dev"
        assets: list[dict[str, Any]] = []
        for hv in self.virt.hypervisors:
            spec = self.roots.host(self.pairs[hv.id])
            web = f"{spec.address}:{spec.http_port}"
            assets.append({
                "id": hv.id,
                "kind": "hypervisor",
                "env": env,
                "service_model": "on_prem",
                "os": {"family": "debian", "release": "12"},
                "ecosystem": "Debian:12",
                "connection": self.roots.connection(spec).model_dump(mode="json"),
                "driver": "libvirt",
                "driver_config": {"uri": hv.uri, "state_dir": str(self.state_dir),
                                  "migration_timeout_s": 120},
                "capacity": {"vcpus": vcpus, "memory_gb": memory_gb},
                "health": [
                    {"type": "tcp", "target": f"{hv.address}:16509"},
                    {"type": "http", "target": f"http://{web}/healthz", "expect_body": "ok"},
                ],
            })  # fmt: skip
        for guest in self.virt.guests:
            assets.append({
                "id": guest.id,
                "kind": "vm",
                "env": env,
                "service_model": "on_prem",
                "hypervisor": guest.hypervisor,
                "vcpus": 1,
                "memory_gb": 1,
                "anti_affinity": "web" if guest.id in ("lab-vm-1", "lab-vm-2") else "",
                "health": [{"type": "http", "target": f"{guest.url}healthz", "expect_body": "ok"}],
            })  # fmt: skip
        path.write_text(yaml.safe_dump({"environments": [env], "assets": assets}, sort_keys=False))
        return path

    def prepare(self, folder: Path, **capacity: int) -> tuple[dict[str, str], Path, Path]:
        """Lab put back; inventory, campaign and advisories written, imported and scanned.

        Returns the environment to run ``patchwarden`` in, the inventory and the campaign.
        """
        self.put_back()
        inventory = self.write_inventory(folder / "inventory.yaml", **capacity)
        campaign = folder / "campaign.yaml"
        campaign.write_text(CAMPAIGN)
        feed = folder / "dsa.json"
        feed.write_text(json.dumps(DSAS))
        env = {
            **os.environ,
            "PATCHWARDEN_DB": f"sqlite:///{folder / 'pw.db'}",
            "PATCHWARDEN_SSH_KEY": str(self.roots.key_path),
            "PATCHWARDEN_SSH_KNOWN_HOSTS": str(self.roots.known_hosts),
            "COLUMNS": "160",
        }
        for argv in (["inventory", "validate", str(inventory)], ["feeds", "import", str(feed)],
                     ["scan", "-i", str(inventory)]):  # fmt: skip
            done = cli(env, *argv)
            if done.returncode != 0:
                raise RuntimeError(f"patchwarden {' '.join(argv)}: {done.stdout}{done.stderr}")
        return env, inventory, campaign

    def placements(self) -> dict[str, str]:
        """Where each guest runs now."""
        return {g.id: self.virt.where(g.id) for g in self.virt.guests}

    def guest_urls(self) -> list[str]:
        """Every guest's ``/healthz``."""
        return [f"{g.url}healthz" for g in self.virt.guests]

    def put_back(self) -> None:
        """Guests on their first hypervisors, no host in maintenance, roots at INITIAL."""
        for path in self.state_dir.glob("*.json"):
            path.unlink()
        for guest in self.virt.guests:
            self.virt.move(guest.id, guest.hypervisor)
        for root in self.pairs.values():
            self._packages("install", root, INITIAL)

    def installed(self, root_id: str, names: list[str]) -> dict[str, str]:
        """Installed versions in a hypervisor's root (ids ``lab-01`` ...), read over SSH."""
        found: dict[str, str] = self._packages("installed", root_id, names)
        return found

    def _packages(self, verb: str, host: str, arg: Any) -> Any:
        async def act() -> Any:
            real = lab_real_drivers(self.roots)
            try:
                return await getattr(real.packages, verb)(host, arg)
            finally:
                await real.close()

        return asyncio.run(act())


@contextlib.contextmanager
def shared_hypervisor_lab(
    virt_config: LibvirtLabConfig | None = None, roots_config: LabConfig = HV_ROOTS
) -> Iterator[HypervisorLab]:
    """The libvirt lab and the hypervisors' roots, up for the block; the watcher running."""
    with shared_libvirt_lab(virt_config) as virt, shared_lab(roots_config) as roots:
        lab = HypervisorLab(virt, roots)
        lab.start()
        try:
            yield lab
        finally:
            lab.stop()
