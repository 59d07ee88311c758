"""The lab: real Debian hosts on this machine, for tests and for trying patchwarden out.

Each host is a ``debootstrap --variant=minbase`` root under ``LAB_DIR/hosts/<id>/root``,
served by its own ``sshd`` (``ChrootDirectory``, its own host key) on its own loopback address
(127.0.0.2, 127.0.0.3, ... port 2222), with real ``apt``/``dpkg`` inside and the lab
repository (:mod:`patchwarden.testing.lab_repo`) at ``/srv/repo``. Log in as ``root`` with
``LAB_DIR/client/id_ed25519``; host keys are in ``LAB_DIR/known_hosts`` so strict checking
stays on. The controller (:mod:`patchwarden.testing.lab_controller`) runs the services and
carries out reboots. Needs root.

Example (as root)::

    lab = Lab(LabConfig())
    lab.up()            # about 10 s with a warm cache, 40 s cold
    print(lab.inventory_path)
    lab.down()
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml

from patchwarden.domain.assets import Connection
from patchwarden.drivers.ssh import SshConfig
from patchwarden.testing.lab_controller import (
    HostSpec,
    kill_if_cmdline_has,
    process_alive,
    processes_rooted_in,
)
from patchwarden.testing.lab_image import (
    DEFAULT_CACHE,
    LabError,
    base_tarball,
    cached_template,
    mount_root,
    unmount_root,
)
from patchwarden.testing.lab_repo import INITIAL, PACKAGES, build_repo

__all__ = ["DEFAULT_LAB_DIR", "Lab", "LabConfig", "LabError"]

DEFAULT_LAB_DIR = Path("/srv/patchwarden-lab")
REBOOT_COMMAND = ("/usr/local/sbin/lab-reboot",)
BOOT_ID_COMMAND = ("cat", "/etc/lab-boot-id")


@dataclass(frozen=True)
class LabConfig:
    """Where the lab lives and how it behaves.

    Attributes:
        dir: Everything of this lab; root-owned, not world-writable (sshd insists).
        cache: Where the debootstrap tarball is kept between labs.
        hosts: How many hosts (ids ``lab-01``, ``lab-02``, ...).
        first_address: Loopback address of the first host; the others follow.
        ssh_port: sshd port on every host's address.
        http_port: The pw-web service port on every host's address.
        reboot_pause_s: How long a rebooting host stays away.
        latency_s: Added to every HTTP answer (so requests are in flight during a drain).
        overlay: Give hosts overlay roots of one cached template (else full copies).
        env: Environment of the hosts in the inventory written by :meth:`Lab.up`.
    """

    dir: Path = DEFAULT_LAB_DIR
    cache: Path = DEFAULT_CACHE
    hosts: int = 4
    first_address: str = "127.0.0.2"
    ssh_port: int = 2222
    http_port: int = 8080
    reboot_pause_s: float = 2.0
    latency_s: float = 0.0
    overlay: bool = True
    env: str = "dev"
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"


@dataclass
class Lab:
    """A lab of real hosts: :meth:`up`, :meth:`down`, :meth:`status`, and per-host helpers."""

    config: LabConfig = field(default_factory=LabConfig)
    # The controller when this process started it: reaped on down(), never left a zombie.
    _controller: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    # -- layout --------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """The lab's directory."""
        return self.config.dir

    @property
    def key_path(self) -> Path:
        """Private key that logs in as root on every host."""
        return self.dir / "client" / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """known_hosts with every host's key."""
        return self.dir / "known_hosts"

    def cli_env(self, db: str | None = None, **more: str) -> dict[str, str]:
        """A user's environment after ``. lab.env``: this process's, with the lab's SSH key.

        ``db`` is the store's URL (``PATCHWARDEN_DB``); ``more`` adds or overrides variables.
        Output is 160 columns wide unless ``more`` says otherwise.
        """
        env = {
            **os.environ,
            "PATCHWARDEN_SSH_KEY": str(self.key_path),
            "PATCHWARDEN_SSH_KNOWN_HOSTS": str(self.known_hosts),
            "COLUMNS": "160",
        }
        if db is not None:
            env["PATCHWARDEN_DB"] = db
        return {**env, **more}

    @property
    def inventory_path(self) -> Path:
        """Inventory YAML of the lab hosts."""
        return self.dir / "inventory.yaml"

    def specs(self) -> list[HostSpec]:
        """The hosts of this configuration."""
        first = IPv4Address(self.config.first_address)
        return [
            HostSpec(
                f"lab-{i + 1:02d}",
                str(first + i),
                self.config.ssh_port,
                self.config.http_port,
                self.dir / "hosts" / f"lab-{i + 1:02d}",
            )
            for i in range(self.config.hosts)
        ]

    def host(self, host_id: str) -> HostSpec:
        """One host by id."""
        for spec in self.specs():
            if spec.id == host_id:
                return spec
        raise LabError(f"no lab host {host_id!r}")

    def connection(self, spec: HostSpec) -> Connection:
        """How patchwarden reaches ``spec``."""
        return Connection(
            transport="ssh",
            address=spec.address,
            port=spec.ssh_port,
            user="root",
            reboot_command=REBOOT_COMMAND,
            boot_id_command=BOOT_ID_COMMAND,
        )

    def ssh_config(self, **overrides: Any) -> SshConfig:
        """SSH settings for the lab: its key, its known_hosts, no agent."""
        base: dict[str, Any] = {
            "known_hosts": self.known_hosts,
            "client_keys": (self.key_path,),
            "use_agent": False,
        }
        return SshConfig(**{**base, **overrides})

    # -- life cycle ----------------------------------------------------------------------

    def up(self) -> list[HostSpec]:
        """Build and start the lab; returns its hosts. Fails if it is already up."""
        if os.geteuid() != 0:
            raise LabError("the lab needs root (chroots, sshd, loopback addresses)")
        if self.controller_pid() is not None:
            raise LabError(f"a lab is already up in {self.dir}; bring it down first")
        self._teardown_files()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, 0, 0)
        self.dir.chmod(0o755)
        tarball = base_tarball(self.config.cache, self.config.suite, self.config.mirror)
        repo = build_repo(self.dir / "repo")
        template = cached_template(tarball, repo, self.config.cache, INITIAL, repr(PACKAGES))
        self._client_key()
        known = []
        for spec in self.specs():
            mount_root(template, spec.dir, spec.id, self.config.overlay)
            known.append(self._host_files(spec))
        self.known_hosts.write_text("".join(known))
        # sshd's privilege-separation directory; systemd makes it on real hosts, not here.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self._write_state(None)
        self._write_inventory()
        self._start_controller()
        return self.specs()

    def down(self) -> None:
        """Stop the controller, every host process, and remove the lab (the cache stays)."""
        pid = self.controller_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self._controller is not None:
            self._controller.wait(15)
            self._controller = None
        self._teardown_files()

    def status(self) -> dict[str, Any]:
        """Controller pid and each host's state (``up``, ``rebooting``, ``down``)."""
        hosts = {}
        for spec in self.specs():
            state_file = spec.dir / "state"
            state = state_file.read_text().strip() if state_file.exists() else "absent"
            hosts[spec.id] = {"address": spec.address, "ssh_port": spec.ssh_port, "state": state}
        return {"dir": str(self.dir), "controller_pid": self.controller_pid(), "hosts": hosts}

    def controller_pid(self) -> int | None:
        """The running controller of this lab, if any."""
        state_file = self.dir / "lab.json"
        if not state_file.exists():
            return None
        pid = json.loads(state_file.read_text()).get("controller_pid")
        if not isinstance(pid, int):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        mine = (
            b"patchwarden.testing.lab_controller" in cmdline and str(self.dir).encode() in cmdline
        )
        return pid if mine else None

    # -- per-host helpers for tests ------------------------------------------------------

    def set_never_returns(self, host_id: str, doomed: bool = True) -> None:
        """Make the host's next reboot one it does not come back from (or not)."""
        flag = self.host(host_id).dir / "never-returns"
        if doomed:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)

    def power_on(self, host_id: str, timeout_s: float = 20.0) -> None:
        """Bring a host that stayed down back up, and wait for its sshd."""
        spec = self.host(host_id)
        (spec.dir / "power-on").touch()
        _wait_ports([(spec.address, spec.ssh_port), (spec.address, spec.http_port)], timeout_s)

    def wait_up(self, timeout_s: float = 20.0) -> None:
        """Wait until every host's sshd and service accept connections."""
        ports = [(s.address, p) for s in self.specs() for p in (s.ssh_port, s.http_port)]
        _wait_ports(ports, timeout_s)

    # -- internals -----------------------------------------------------------------------

    def _client_key(self) -> None:
        client = self.dir / "client"
        client.mkdir(mode=0o700, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "patchwarden-lab",
              "-f", str(self.key_path)])  # fmt: skip
        # sshd checks this path itself, before the chroot: root-owned, not group-writable.
        shutil.copy(self.key_path.with_suffix(".pub"), client / "authorized_keys")
        (client / "authorized_keys").chmod(0o644)
        client.chmod(0o755)
        self.key_path.chmod(0o600)

    def _host_files(self, spec: HostSpec) -> str:
        spec.dir.chmod(0o755)
        key = spec.dir / "ssh_host_ed25519_key"
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.id, "-f", str(key)])
        spec.sshd_config.write_text(
            f"# sshd of lab host {spec.id}\n"
            f"ListenAddress {spec.address}:{spec.ssh_port}\n"
            f"HostKey {key}\n"
            "PidFile none\n"
            f"AuthorizedKeysFile {self.dir / 'client' / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            f"ChrootDirectory {spec.root}\n"
            "MaxSessions 20\n"
            "MaxStartups 50:30:100\n"
            "LogLevel ERROR\n"
        )
        public = key.with_suffix(".pub").read_text().split()
        return f"[{spec.address}]:{spec.ssh_port} {public[0]} {public[1]}\n"

    def _write_state(self, pid: int | None) -> None:
        state = {
            "controller_pid": pid,
            "reboot_pause_s": self.config.reboot_pause_s,
            "latency_s": self.config.latency_s,
            "hosts": [s.to_json() for s in self.specs()],
        }
        (self.dir / "lab.json").write_text(json.dumps(state, indent=2) + "\n")

    def _write_inventory(self) -> None:
        assets = []
        for spec in self.specs():
            base = f"{spec.address}:{spec.http_port}"
            connection = self.connection(spec).model_dump(mode="json")
            assets.append({
                "id": spec.id,
                "kind": "vm",
                "env": self.config.env,
                "roles": ["web"],
                "os": {"family": "debian", "release": "12"},
                "ecosystem": "Debian:12",
                "connection": connection,
                "health": [
                    {"type": "http", "target": f"http://{base}/healthz", "expect_body": "ok"},
                    {"type": "tcp", "target": base},
                    {"type": "command", "target": "grep -q ^ok /usr/share/pw-web/status"},
                ],
            })  # fmt: skip
        header = (
            f"# The patchwarden lab in {self.dir} (written by `patchwarden lab up`).\n"
            f"# SSH: export PATCHWARDEN_SSH_KEY={self.key_path} "
            f"PATCHWARDEN_SSH_KNOWN_HOSTS={self.known_hosts}\n"
        )
        body = yaml.safe_dump(
            {"environments": [self.config.env], "assets": assets}, sort_keys=False
        )
        self.inventory_path.write_text(header + body)
        (self.dir / "lab.env").write_text(
            f"export PATCHWARDEN_SSH_KEY={self.key_path}\n"
            f"export PATCHWARDEN_SSH_KNOWN_HOSTS={self.known_hosts}\n"
        )

    def _start_controller(self) -> None:
        log = open(self.dir / "controller.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [sys.executable, "-m", "patchwarden.testing.lab_controller", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._controller = process
        self._write_state(process.pid)
        try:
            self.wait_up()
        except LabError:
            process.terminate()
            process.wait(15)
            self._controller = None
            tail = (self.dir / "controller.log").read_text()[-2000:]
            raise LabError(f"lab hosts did not come up; controller log:\n{tail}") from None

    def _teardown_files(self) -> None:
        for spec in self.specs():
            pid_file = spec.dir / "sshd.pid"
            if pid_file.exists():
                kill_if_cmdline_has(int(pid_file.read_text()), str(spec.sshd_config))
            if spec.root.exists():
                for pid in processes_rooted_in(spec.root):
                    kill_if_cmdline_has(pid, "")
                unmount_root(spec.dir)
        left = _mounts_under(self.dir)
        if left:
            # Deleting through a mount would reach into whatever is mounted there.
            raise LabError(f"still mounted, not deleting {self.dir}: {', '.join(left)}")
        if (self.dir / "lab.json").exists() or (self.dir / "hosts").exists():
            shutil.rmtree(self.dir)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise LabError(f"{argv[0]} failed: {done.stderr.strip()}")


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    return [p for p in points if p.startswith(prefix)]


def _wait_ports(ports: list[tuple[str, int]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for address, port in ports:
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise LabError(
                        f"{address}:{port} did not open within {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.05)
