"""A test instance of an image in the lab: a lab host booted from a root tree, on a network.

``python -m patchwarden.testing.lab_boot up DIR NETNS SUBNET ROOT`` is what the ``rootfs``
driver's ``boot.launch`` runs in the lab: it gives the tree ``ROOT`` a lab host of its own
in the network namespace ``NETNS`` (a veth pair, ``SUBNET.1`` outside, ``SUBNET.2``
inside): a fresh overlay of the tree as its root, its own sshd (``ChrootDirectory``, its
own host key) and the pw-web HTTP service, whose health follows what the tree has
installed, both run by a lab controller inside the namespace. It exits 0 once the sshd and
the service accept connections from outside the namespace: whether the service is healthy
is for the driver's health checks to say, over the network. ``down DIR NETNS SUBNET``
stops every process of it (by pid, checked against its command line), unmounts the root
and removes the namespace, the link and ``DIR``.

Example (as root)::

    boot = BootInstance(Path("/srv/patchwarden-lab-boot"), "pwboot", "10.231.90")
    boot.up(Path("/srv/images/web/2/root"))
    # GET http://10.231.90.2:8080/healthz
    boot.down()
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchwarden.testing.lab import Lab, LabConfig
from patchwarden.testing.lab_image import LabError, mount_root

__all__ = ["BootInstance", "boot_settings", "main"]


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and done.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass(frozen=True)
class BootInstance:
    """One booted test instance: its folder, its network namespace and its /24."""

    dir: Path
    netns: str
    subnet: str

    @property
    def address(self) -> str:
        """The instance's address, inside its namespace."""
        return f"{self.subnet}.2"

    @property
    def lab(self) -> Lab:
        """The one-host lab the instance is."""
        return Lab(LabConfig(dir=self.dir, hosts=1, first_address=self.address))

    def up(self, tree: Path, timeout_s: float = 30.0) -> None:
        """Boot an instance of ``tree``; returns once its sshd and service accept connections.

        Raises:
            LabError: ``tree`` is not a root tree, or the instance did not come up.
        """
        if not (tree / "etc").is_dir():
            raise LabError(f"{tree} is not a root tree")
        self.down()
        _ip("netns", "add", self.netns)
        _ip("link", "add", f"{self.netns}-h", "type", "veth", "peer", "name", "eth0",
            "netns", self.netns)  # fmt: skip
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", f"{self.netns}-h")
        _ip("link", "set", f"{self.netns}-h", "up")
        _ip("-n", self.netns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _ip("-n", self.netns, "link", "set", "eth0", "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        lab = self.lab
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        lab._client_key()
        (spec,) = lab.specs()
        mount_root(tree, spec.dir, "boot-test")
        lab.known_hosts.write_text(lab._host_files(spec))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(self.dir / "controller.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns,
             sys.executable, "-m", "patchwarden.testing.lab_controller", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        lab._write_state(process.pid)
        try:
            lab.wait_up(timeout_s)
        except LabError:
            tail = (self.dir / "controller.log").read_text(errors="replace")[-1500:]
            self.down()
            raise LabError(f"the test instance of {tree} did not come up:\n{tail}") from None

    def down(self) -> None:
        """Stop the instance's processes, unmount its root, remove its network and folder."""
        self.lab.down()
        _ip("link", "del", f"{self.netns}-h", check=False)
        _ip("netns", "del", self.netns, check=False)


def boot_settings(instance: BootInstance) -> dict[str, Any]:
    """The ``boot`` of a rootfs image's ``driver_config`` that boots test instances here.

    Example:
        >>> boot = boot_settings(BootInstance(Path("/srv/boot"), "pwboot", "10.231.90"))
        >>> boot["health"][0]["target"], boot["launch"][-1]
        ('http://10.231.90.2:8080/healthz', '{root}')
    """
    me = [sys.executable, "-m", "patchwarden.testing.lab_boot"]
    where = [str(instance.dir), instance.netns, instance.subnet]
    (spec,) = instance.lab.specs()
    return {
        "launch": [*me, "up", *where, "{root}"],
        "stop": [*me, "down", *where],
        "health": [
            {"type": "http", "target": f"http://{spec.address}:{spec.http_port}/healthz",
             "expect_body": "ok"},
            {"type": "tcp", "target": f"{spec.address}:{spec.ssh_port}"},
        ],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``up DIR NETNS SUBNET ROOT`` or ``down DIR NETNS SUBNET``."""
    args = sys.argv[1:] if argv is None else argv
    usage = "usage: python -m patchwarden.testing.lab_boot up|down DIR NETNS SUBNET [ROOT]"
    if (
        len(args) not in (4, 5)
        or args[0] not in ("up", "down")
        or (args[0] == "up") != (len(args) == 5)
    ):
        print(usage, file=sys.stderr)
        return 2
    instance = BootInstance(Path(args[1]), args[2], args[3])
    try:
        if args[0] == "up":
            instance.up(Path(args[4]))
        else:
            instance.down()
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
