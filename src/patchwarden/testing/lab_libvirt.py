"""Lab hypervisors: three real libvirtd instances on this machine, with small running guests.

Everything comes from Debian packages already on the machine; nothing is downloaded.

- **Network.** One network namespace (``pwlv``) holding a bridge; a veth pair joins it to
  the machine's own namespace, whose end has ``10.231.7.1``. Each hypervisor has its own
  address on the bridge (``10.231.7.11``, ``.12``, ``.13``), each guest its own
  (``10.231.7.101`` ...), so the test process reaches libvirtd and the guests directly.
- **Hypervisors.** Each is its own ``libvirtd --listen`` inside that network namespace and
  its own mount namespace, where its own ``/etc/libvirt``, ``/run/libvirt``,
  ``/var/lib/libvirt``, ``/var/log/libvirt`` and ``/var/cache/libvirt`` are bind-mounted:
  its own configuration, a distinct ``host_uuid``, ``listen_addr`` and
  ``migration_address`` = its bridge address (libvirt refuses a loopback migration host).
  TCP without authentication, on that private bridge only. No systemd: the daemons are
  started here and stopped by PID.
- **Guests.** The machine's Debian kernel (``/boot/vmlinuz-*``, package
  ``linux-image-amd64``) and an initramfs built here from ``busybox-static`` and the kernel's
  own ``e1000.ko``: a static address from the kernel command line and ``busybox httpd``
  answering ``/healthz`` and ``/cgi-bin/id`` (name, boot id, uptime), so a test sees that a
  live-migrated guest kept its boot id and its uptime went on. Guests are transient
  domains, TCG by default (``<domain type='qemu'>``: the ``/dev/kvm`` of nested machines
  can hang a stock kernel); ``PATCHWARDEN_LAB_KVM=1`` asks for KVM.

Example (as root)::

    lab = LibvirtLab(LibvirtLabConfig())
    lab.up()             # about 15 s: daemons start, guests boot
    lab.uri("lab-hv-1")  # 'qemu+tcp://10.231.7.11/system'
    lab.down()

Run ``python -m patchwarden.testing.lab_libvirt up|down`` to do the same by hand.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchwarden.testing.lab_controller import process_alive
from patchwarden.testing.lab_image import LabError
from patchwarden.testing.shared import SharedLabs

__all__ = [
    "APP_BROKEN",
    "APP_INITIAL",
    "DEFAULT_LIBVIRT_LAB_DIR",
    "GuestSpec",
    "HypervisorSpec",
    "LibvirtLab",
    "LibvirtLabConfig",
    "build_guest_disk",
    "build_initramfs",
    "guest_xml",
    "shared_libvirt_lab",
]

DEFAULT_LIBVIRT_LAB_DIR = Path("/srv/patchwarden-libvirt-lab")
_UUID_NS = uuid.UUID("5b0c1c9e-5d0a-4a57-8a53-6c1b0f7d2e10")
_STATE_DIRS = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}

_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /e1000.ko
disk=""
for word in $(cat /proc/cmdline); do
  case "$word" in
    pw.ip=*) ip="${word#pw.ip=}" ;;
    pw.name=*) name="${word#pw.name=}" ;;
    pw.disk=*) disk="${word#pw.disk=}" ;;
  esac
done
ip link set lo up
ip link set eth0 up
ip addr add "$ip/24" dev eth0
mkdir -p /www/cgi-bin
echo ok > /www/healthz
echo "$name" > /etc/guest-name
cat > /www/cgi-bin/id <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "name $(cat /etc/guest-name)"
echo "boot_id $(cat /proc/sys/kernel/random/boot_id)"
echo "uptime $(cut -d' ' -f1 /proc/uptime)"
[ -f /data/app/version ] && echo "app_version $(cat /data/app/version)"
EOF
if [ -n "$disk" ]; then
  for module in $(cat /disk-modules); do insmod "/modules/$module.ko"; done
  mkdir -p /data
  while [ ! -b "$disk" ]; do sleep 0.1; done
  mount -t ext4 -o sync "$disk" /data
  rm /www/healthz
  ln -s /data/app/health /www/healthz
  cp /agent-install /www/cgi-bin/install
fi
chmod 755 /www/cgi-bin/*
httpd -p 80 -h /www
while true; do sleep 3600; done
"""

# The guest's agent: installs a version of its application ``pw-app`` on the guest's own
# disk. A version listed in the disk's ``/app/broken`` leaves the service unhealthy, as a
# bad update would; the write is synchronous (``-o sync`` and ``sync``), so a snapshot
# taken afterwards holds it.
_AGENT_INSTALL = """#!/bin/sh
echo "Content-Type: text/plain"
echo
version="$(echo "${QUERY_STRING#version=}" | sed 's/%2[Bb]/+/g; s/%7[Ee]/~/g')"
case "$version" in
  ""|*[!0-9A-Za-z.+~-]*) echo "error bad version"; exit 0 ;;
esac
echo "$version" > /data/app/version
if grep -qx "$version" /data/app/broken; then echo failing > /data/app/health
else echo ok > /data/app/health; fi
sync
echo "installed pw-app $version"
"""

# Modules for a virtio disk with ext4, in load order (Debian's kernel builds them as modules).
_DISK_MODULES = (
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio_pci_legacy_dev",
    "drivers/virtio/virtio_pci_modern_dev",
    "drivers/virtio/virtio_pci",
    "drivers/block/virtio_blk",
    "lib/crc16",
    "fs/mbcache",
    "fs/jbd2/jbd2",
    "crypto/crc32c_generic",
    "fs/ext4/ext4",
)

APP_INITIAL = "1.0-1"
"""The version of ``pw-app`` on a fresh guest disk."""
APP_BROKEN = "1.0-3"
"""A version of ``pw-app`` that breaks the guest's service (listed on its disk)."""


@dataclass(frozen=True)
class HypervisorSpec:
    """One lab hypervisor: its id, bridge address and state folder."""

    id: str
    address: str
    dir: Path

    @property
    def uri(self) -> str:
        """Its libvirt URI, over TCP on its bridge address."""
        return f"qemu+tcp://{self.address}/system"

    @property
    def host_uuid(self) -> str:
        """Its libvirt host UUID: distinct per hypervisor, stable across labs."""
        return str(uuid.uuid5(_UUID_NS, self.id))

    @property
    def pid_file(self) -> Path:
        """Where its libvirtd writes its PID (outside the bind mounts)."""
        return self.dir / "libvirtd.pid"


@dataclass(frozen=True)
class GuestSpec:
    """One lab guest: its name (the libvirt domain's), address and first hypervisor."""

    id: str
    address: str
    hypervisor: str
    index: int

    @property
    def mac(self) -> str:
        """A fixed MAC address in QEMU's range."""
        return f"52:54:00:e7:07:{self.index:02x}"

    @property
    def url(self) -> str:
        """Its HTTP service."""
        return f"http://{self.address}/"


@dataclass(frozen=True)
class LibvirtLabConfig:
    """Where the libvirt lab lives and what it runs.

    Attributes:
        dir: Its files; root-owned.
        netns: The network namespace holding the bridge, the daemons and the guests.
        subnet: The first three octets of the bridge's /24.
        hypervisors: How many hypervisors (ids ``lab-hv-1`` ...).
        placement: Guests per hypervisor at ``up`` (ids ``lab-vm-1`` ... in order).
        guest_memory_mib: Memory of each guest.
        kvm: Use KVM instead of TCG.
        prefix: Ids are ``<prefix>-hv-N`` and ``<prefix>-vm-N``; two labs need two prefixes.
        disk_mib: Give each guest a qcow2 disk of this size (0: none), holding its
            application ``pw-app`` (see :func:`build_guest_disk`).
    """

    dir: Path = DEFAULT_LIBVIRT_LAB_DIR
    netns: str = "pwlv"
    subnet: str = "10.231.7"
    hypervisors: int = 3
    placement: tuple[int, ...] = (2, 1, 1)
    guest_memory_mib: int = 160
    kvm: bool = field(default_factory=lambda: os.environ.get("PATCHWARDEN_LAB_KVM") == "1")
    prefix: str = "lab"
    disk_mib: int = 0

    @property
    def bridge(self) -> str:
        """The bridge's name inside the namespace."""
        return f"{self.netns}br0"

    @property
    def veth(self) -> tuple[str, str]:
        """The veth pair: the machine's end, the namespace's end."""
        return f"{self.netns}-h", f"{self.netns}-n"

    @property
    def gateway(self) -> str:
        """The machine's own address on the lab's network."""
        return f"{self.subnet}.1"


def build_initramfs(kernel_release: str, out: Path) -> Path:
    """A gzipped newc initramfs: busybox-static, the kernel's modules and ``/init``.

    The modules are ``e1000.ko`` and, for guests with a disk, virtio-blk and ext4.

    Raises:
        LabError: busybox-static or the module is missing.
    """
    busybox = Path("/bin/busybox")
    module = Path(f"/lib/modules/{kernel_release}/kernel/drivers/net/ethernet/intel/e1000/e1000.ko")
    for needed, package in ((busybox, "busybox-static"), (module, "linux-image-amd64")):
        if not needed.exists():
            raise LabError(f"{needed} is missing: apt-get install {package}")
    work = out.parent / "initramfs-root"
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("bin", "proc", "sys", "dev", "etc", "www"):
        (work / sub).mkdir(parents=True)
    shutil.copy2(busybox, work / "bin" / "busybox")
    shutil.copy2(module, work / "e1000.ko")
    (work / "modules").mkdir()
    for name in _DISK_MODULES:
        found = Path(f"/lib/modules/{kernel_release}/kernel/{name}.ko")
        if not found.exists():
            raise LabError(f"{found} is missing: apt-get install linux-image-amd64")
        shutil.copy2(found, work / "modules" / found.name)
    (work / "disk-modules").write_text(" ".join(Path(n).name for n in _DISK_MODULES) + "\n")
    (work / "agent-install").write_text(_AGENT_INSTALL)
    (work / "init").write_text(_INIT)
    (work / "init").chmod(0o755)
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"],
        input=("\n".join(files) + "\n").encode(),
        cwd=work,
        capture_output=True,
        check=True,
    ).stdout
    out.write_bytes(gzip.compress(archive))
    shutil.rmtree(work)
    return out


def build_guest_disk(out: Path, size_mib: int, work: Path) -> Path:
    """A qcow2 disk holding an ext4 file system with the guest's application ``pw-app``.

    ``/app/version`` is :data:`APP_INITIAL`, ``/app/health`` ``ok`` and ``/app/broken`` the
    versions that break the service (:data:`APP_BROKEN`). Built with ``mke2fs -d``
    (e2fsprogs) and converted with ``qemu-img`` (qemu-utils); nothing is mounted here.

    Raises:
        LabError: A tool is missing or failed.
    """
    for tool, package in (("mke2fs", "e2fsprogs"), ("qemu-img", "qemu-utils")):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is missing: apt-get install {package}")
    shutil.rmtree(work, ignore_errors=True)
    (work / "app").mkdir(parents=True)
    (work / "app" / "version").write_text(APP_INITIAL + "\n")
    (work / "app" / "health").write_text("ok\n")
    (work / "app" / "broken").write_text(APP_BROKEN + "\n")
    raw = out.with_suffix(".raw")
    raw.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "pwapp", "-d", str(work), str(raw), f"{size_mib}M"])
    _run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)])
    raw.unlink()
    shutil.rmtree(work)
    return out


def guest_xml(
    guest: GuestSpec,
    kernel: Path,
    initrd: Path,
    bridge: str,
    memory_mib: int,
    kvm: bool,
    disk: Path | None = None,
) -> str:
    """The domain of a lab guest: kernel + initramfs, one e1000 NIC, a qcow2 disk if given.

    >>> xml = guest_xml(GuestSpec("vm-1", "10.0.0.5", "hv-1", 1), Path("/k"), Path("/i"),
    ...                 "br0", 160, False)
    >>> "<domain type='qemu'>" in xml and "pw.ip=10.0.0.5" in xml and "<disk" not in xml
    True
    >>> xml = guest_xml(GuestSpec("vm-1", "10.0.0.5", "hv-1", 1), Path("/k"), Path("/i"),
    ...                 "br0", 160, False, Path("/d/vm-1.qcow2"))
    >>> "type='qcow2'" in xml and "pw.disk=/dev/vda" in xml
    True
    """
    domain_type = "kvm" if kvm else "qemu"
    cmdline = f"console=ttyS0 quiet panic=5 pw.ip={guest.address} pw.name={guest.id}"
    if disk:
        cmdline += " pw.disk=/dev/vda"
    disk_xml = (
        f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        if disk
        else ""
    )
    return f"""<domain type='{domain_type}'>
  <name>{guest.id}</name>
  <uuid>{uuid.uuid5(_UUID_NS, guest.id)}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
{disk_xml}    <interface type='bridge'>
      <source bridge='{bridge}'/>
      <mac address='{guest.mac}'/>
      <model type='e1000'/>
    </interface>
    <serial type='pty'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


class LibvirtLab:
    """Bring the lab hypervisors and their guests up and down (needs root)."""

    def __init__(self, config: LibvirtLabConfig | None = None) -> None:
        self.config = config or LibvirtLabConfig()

    # -- what it is -----------------------------------------------------------------

    @property
    def hypervisors(self) -> list[HypervisorSpec]:
        """The hypervisors, in id order."""
        c = self.config
        return [
            HypervisorSpec(
                f"{c.prefix}-hv-{n}", f"{c.subnet}.{10 + n}", c.dir / "hv" / f"{c.prefix}-hv-{n}"
            )
            for n in range(1, c.hypervisors + 1)
        ]

    @property
    def guests(self) -> list[GuestSpec]:
        """The guests and the hypervisor each starts on."""
        out: list[GuestSpec] = []
        for hv, count in zip(self.hypervisors, self.config.placement, strict=False):
            for _ in range(count):
                n = len(out) + 1
                address = f"{self.config.subnet}.{100 + n}"
                out.append(GuestSpec(f"{self.config.prefix}-vm-{n}", address, hv.id, n))
        return out

    def hypervisor(self, hv_id: str) -> HypervisorSpec:
        """One hypervisor by id."""
        for hv in self.hypervisors:
            if hv.id == hv_id:
                return hv
        raise LabError(f"no lab hypervisor {hv_id!r}")

    def uri(self, hv_id: str) -> str:
        """A hypervisor's libvirt URI."""
        return self.hypervisor(hv_id).uri

    @property
    def kernel(self) -> Path:
        """The guests' kernel (a copy of the machine's Debian kernel)."""
        return self.config.dir / "guest" / "vmlinuz"

    @property
    def initrd(self) -> Path:
        """The guests' initramfs, named by what goes into it: a changed ``/init`` rebuilds it."""
        recipe = "\0".join((_INIT, _AGENT_INSTALL, *_DISK_MODULES)).encode()
        return self.config.dir / "guest" / f"initrd-{hashlib.sha256(recipe).hexdigest()[:12]}.img"

    # -- up and down ----------------------------------------------------------------

    def up(self, timeout_s: float = 90.0) -> None:
        """Network, daemons and guests; waits until every guest's service answers.

        Raises:
            LabError: Not root, a package is missing, or something did not come up.
        """
        if os.geteuid() != 0:
            raise LabError("the libvirt lab needs root")
        self.down()
        self.config.dir.mkdir(parents=True, exist_ok=True)
        self.config.dir.chmod(0o755)
        self._guest_files()
        self._network()
        for hv in self.hypervisors:
            self._configure(hv)
            self.start_daemon(hv.id)
        for guest in self.guests:
            self._virsh(self.uri(guest.hypervisor), "create", str(self._guest_file(guest)))
        deadline = time.monotonic() + timeout_s
        for guest in self.guests:
            self.wait_guest(guest, max(1.0, deadline - time.monotonic()))
        (self.config.dir / "lab.json").write_text(json.dumps(self.describe(), indent=2))

    def down(self) -> None:
        """Stop guests and daemons, remove the network; safe to call when nothing runs."""
        for hv in self.hypervisors:
            self._kill_guests(hv)
            self.stop_daemon(hv.id)
        c = self.config
        subprocess.run(["ip", "link", "del", c.veth[0]], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", c.netns], capture_output=True, check=False)

    def describe(self) -> dict[str, Any]:
        """What runs: hypervisors (id, URI, address) and guests (id, address, first host)."""
        return {
            "hypervisors": [
                {"id": h.id, "uri": h.uri, "address": h.address, "host_uuid": h.host_uuid}
                for h in self.hypervisors
            ],
            "guests": [
                {"id": g.id, "address": g.address, "hypervisor": g.hypervisor} for g in self.guests
            ],
        }

    # -- daemons --------------------------------------------------------------------

    def start_daemon(self, hv_id: str, timeout_s: float = 20.0) -> int:
        """Start a hypervisor's libvirtd in its own mount namespace; returns its PID."""
        hv = self.hypervisor(hv_id)
        hv.pid_file.unlink(missing_ok=True)
        log = (hv.dir / "daemon.out").open("ab")
        # setsid -f forks the daemon off and returns at once: it is nobody's child here.
        subprocess.run(
            [
                "setsid",
                "-f",
                "ip",
                "netns",
                "exec",
                self.config.netns,
                "unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
                "--",
                sys.executable,
                "-m",
                "patchwarden.testing.lab_libvirt",
                "_exec-libvirtd",
                str(hv.dir),
                hv.id,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            check=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.daemon_pid(hv_id)
            if pid is not None and self._answers(hv.uri):
                return pid
            time.sleep(0.2)
        tail = (hv.dir / "daemon.out").read_text(errors="replace")[-2000:]
        raise LabError(f"{hv_id}: libvirtd did not answer on {hv.uri} within {timeout_s} s\n{tail}")

    def daemon_pid(self, hv_id: str) -> int | None:
        """The PID of a hypervisor's libvirtd, if it runs."""
        hv = self.hypervisor(hv_id)
        with contextlib.suppress(OSError, ValueError):
            pid = int(hv.pid_file.read_text().strip())
            if process_alive(pid):
                return pid
        return None

    def stop_daemon(self, hv_id: str, timeout_s: float = 15.0) -> None:
        """Stop a hypervisor's libvirtd (SIGTERM, then SIGKILL); its guests keep running."""
        pid = self.daemon_pid(hv_id)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)

    def restart_daemon(self, hv_id: str) -> int:
        """What the lab does for a hypervisor's restart: its libvirtd stops and starts."""
        self.stop_daemon(hv_id)
        return self.start_daemon(hv_id)

    # -- guests ---------------------------------------------------------------------

    def guest(self, guest_id: str) -> GuestSpec:
        """One guest by id."""
        for guest in self.guests:
            if guest.id == guest_id:
                return guest
        raise LabError(f"no lab guest {guest_id!r}")

    def guest_identity(self, guest: GuestSpec, timeout_s: float = 2.0) -> dict[str, str]:
        """The guest's ``/cgi-bin/id``: name, boot id, uptime."""
        with urllib.request.urlopen(f"{guest.url}cgi-bin/id", timeout=timeout_s) as answer:
            text = answer.read().decode()
        return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)

    def where(self, guest_id: str) -> str:
        """The hypervisor on which a guest runs now (asked with ``virsh list``)."""
        for hv in self.hypervisors:
            if guest_id in self._virsh(hv.uri, "list", "--name").split():
                return hv.id
        raise LabError(f"{guest_id} runs nowhere")

    def move(self, guest_id: str, hv_id: str) -> None:
        """Live-migrate a guest to ``hv_id`` with ``virsh`` unless it is there already."""
        source = self.where(guest_id)
        if source != hv_id:
            self._virsh(self.uri(source), "migrate", "--live", "--p2p", guest_id, self.uri(hv_id))

    def power_cycle(self, guest_id: str, timeout_s: float = 90.0) -> None:
        """Stop a guest hard (``virsh destroy``), start it again, wait for its service.

        Its memory is gone and its boot id new; what it wrote to its disk stays.
        """
        guest = self.guest(guest_id)
        uri = self.uri(self.where(guest_id))
        self._virsh(uri, "destroy", guest_id)
        self._virsh(uri, "create", str(self._guest_file(guest)))
        self.wait_guest(guest, timeout_s)

    def wait_guest(self, guest: GuestSpec, timeout_s: float) -> None:
        """Wait until the guest's service answers."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if self.guest_identity(guest).get("name") == guest.id:
                    return
            except OSError as error:
                last = error
            time.sleep(0.5)
        raise LabError(f"{guest.id} did not answer on {guest.url} in {timeout_s:.0f} s: {last}")

    # -- internals ------------------------------------------------------------------

    def _guest_file(self, guest: GuestSpec) -> Path:
        return self.config.dir / "guest" / f"{guest.id}.xml"

    def disk(self, guest_id: str) -> Path | None:
        """A guest's qcow2 disk, if the lab gives guests disks."""
        if not self.config.disk_mib:
            return None
        return self.config.dir / "disks" / f"{self.guest(guest_id).id}.qcow2"

    def _guest_files(self) -> None:
        folder = self.config.dir / "guest"
        folder.mkdir(parents=True, exist_ok=True)
        release = os.uname().release
        kernel = Path(f"/boot/vmlinuz-{release}")
        if not kernel.exists():
            found = sorted(Path("/boot").glob("vmlinuz-*"))
            if not found:
                raise LabError("no kernel in /boot: apt-get install linux-image-amd64")
            kernel = found[-1]
            release = kernel.name.removeprefix("vmlinuz-")
        if not self.kernel.exists():
            shutil.copy2(kernel, self.kernel)
        if not self.initrd.exists():
            build_initramfs(release, self.initrd)
        c = self.config
        for guest in self.guests:
            disk = self.disk(guest.id)
            if disk is not None:
                # A fresh disk on every ``up``: what a previous run installed is gone.
                disk.parent.mkdir(parents=True, exist_ok=True)
                build_guest_disk(disk, c.disk_mib, disk.parent / f"{guest.id}-root")
            xml = guest_xml(
                guest, self.kernel, self.initrd, c.bridge, c.guest_memory_mib, c.kvm, disk
            )
            self._guest_file(guest).write_text(xml)

    def _network(self) -> None:
        c = self.config
        host_end, ns_end = c.veth
        commands = [
            ["ip", "netns", "add", c.netns],
            ["ip", "-n", c.netns, "link", "set", "lo", "up"],
            ["ip", "-n", c.netns, "link", "add", c.bridge, "type", "bridge", "forward_delay", "0"],
            ["ip", "-n", c.netns, "link", "set", c.bridge, "up"],
            ["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end],
            ["ip", "link", "set", ns_end, "netns", c.netns],
            ["ip", "-n", c.netns, "link", "set", ns_end, "master", c.bridge, "up"],
            ["ip", "addr", "add", f"{c.gateway}/24", "dev", host_end],
            ["ip", "link", "set", host_end, "up"],
        ]
        commands += [
            ["ip", "-n", c.netns, "addr", "add", f"{hv.address}/24", "dev", c.bridge]
            for hv in self.hypervisors
        ]
        for argv in commands:
            _run(argv)

    def _configure(self, hv: HypervisorSpec) -> None:
        shutil.rmtree(hv.dir, ignore_errors=True)
        for sub in _STATE_DIRS:
            (hv.dir / sub).mkdir(parents=True)
        etc = hv.dir / "etc"
        shutil.rmtree(etc)
        shutil.copytree("/etc/libvirt", etc, symlinks=True)
        # Debian's default network would start one virbr0 per daemon in the same namespace.
        for autostart in etc.glob("qemu/networks/autostart/*"):
            autostart.unlink()
        (etc / "libvirtd.conf").write_text(
            "listen_tls = 0\n"
            "listen_tcp = 1\n"
            f'listen_addr = "{hv.address}"\n'
            'auth_tcp = "none"\n'
            f'host_uuid = "{hv.host_uuid}"\n'
            'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'
        )
        (etc / "qemu.conf").write_text(
            'security_driver = "none"\n'
            "namespaces = []\n"
            "cgroup_controllers = []\n"
            'user = "root"\n'
            'group = "root"\n'
            "dynamic_ownership = 0\n"
            "remember_owner = 0\n"
            'stdio_handler = "file"\n'
            f'migration_address = "{hv.address}"\n'
            f'migration_host = "{hv.address}"\n'
        )

    def _kill_guests(self, hv: HypervisorSpec) -> None:
        # Guests are QEMU processes named after the domain; they outlive their libvirtd.
        for guest in self.guests:
            pattern = f"guest={guest.id},"
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                    if (
                        cmdline
                        and cmdline[0].endswith(b"qemu-system-x86_64")
                        and any(a.decode(errors="replace").startswith(pattern) for a in cmdline)
                    ):
                        os.kill(int(entry.name), signal.SIGKILL)

    def _answers(self, uri: str) -> bool:
        result = subprocess.run(
            ["virsh", "-c", uri, "uri"], capture_output=True, check=False, timeout=10
        )
        return result.returncode == 0

    def _virsh(self, uri: str, *args: str) -> str:
        result = subprocess.run(
            ["virsh", "-c", uri, *args], capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            raise LabError(f"virsh -c {uri} {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


def _start_libvirt_lab(config: LibvirtLabConfig) -> LibvirtLab:
    lab = LibvirtLab(config)
    try:
        lab.up()
    except BaseException:
        lab.down()
        raise
    return lab


_labs: SharedLabs[LibvirtLab] = SharedLabs("patchwarden-libvirt", stop=LibvirtLab.down)


@contextlib.contextmanager
def shared_libvirt_lab(config: LibvirtLabConfig | None = None) -> Iterator[LibvirtLab]:
    """Bring the libvirt lab up on first use and down when its last user leaves.

    A lock file keeps two test processes from running the same lab at once; a lab left over
    from a killed run is taken down first (:meth:`LibvirtLab.up` does).
    """
    config = config or LibvirtLabConfig()
    with _labs.use(config.dir, lambda: _start_libvirt_lab(config)) as lab:
        yield lab


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {result.stderr.strip()}")


def _exec_libvirtd(state: Path, hv_id: str) -> None:
    """In a fresh mount namespace: bind this hypervisor's folders, then become libvirtd."""
    for sub, target in _STATE_DIRS.items():
        Path(target).mkdir(parents=True, exist_ok=True)
        _run(["mount", "--bind", str(state / sub), target])
    _run(["hostname", hv_id])
    pid_file = str(state / "libvirtd.pid")
    os.execv("/usr/sbin/libvirtd", ["libvirtd", "--listen", "--pid-file", pid_file])


def main(argv: list[str]) -> int:
    """``up`` / ``down`` by hand; ``_exec-libvirtd DIR ID`` is the daemons' own entry."""
    if argv[:1] == ["_exec-libvirtd"] and len(argv) == 3:
        _exec_libvirtd(Path(argv[1]), argv[2])
        return 0
    lab = LibvirtLab()
    if argv == ["up"]:
        lab.up()
        print(json.dumps(lab.describe(), indent=2))
        return 0
    if argv == ["down"]:
        lab.down()
        return 0
    print("usage: python -m patchwarden.testing.lab_libvirt up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
