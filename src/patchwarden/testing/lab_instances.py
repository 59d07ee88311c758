"""Instances of an image in the lab: a lab host replaced by a new one from a root tree.

``python -m patchwarden.testing.lab_instances LAB_DIR HOST ROOT`` is the launcher the
``rootfs`` image driver runs (its ``launch`` setting) to replace an instance: it asks the
lab controller to take ``HOST`` down and bring it back from ``ROOT`` (a fresh overlay of
that tree, same name, address and SSH host key, a new boot id), and exits 0 once the host's
sshd and service accept connections again, 1 when the replacement failed. A host already
created from ``ROOT`` is not created again: the launcher only waits until it serves.

:func:`make_image_store` starts an image store from the tree the lab's hosts run (version
``1``, every instance recorded on it), as a golden image the hosts were built from.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from patchwarden.drivers.rootfs import parse_dpkg_list
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_image import LabError

__all__ = ["lower_of", "main", "make_image_store", "replace_instance"]


def _serves(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def replace_instance(lab_dir: Path, host: str, root: Path, timeout_s: float = 60.0) -> None:
    """Have the lab controller replace ``host`` from ``root``; wait until it serves.

    Raises:
        LabError: The host is not in the lab, or it did not come back in ``timeout_s``.
    """
    state = json.loads((lab_dir / "lab.json").read_text())
    spec = next((h for h in state["hosts"] if h["id"] == host), None)
    if spec is None:
        raise LabError(f"no lab host {host!r} in {lab_dir}")
    if not (root / "etc").is_dir():
        raise LabError(f"{root} is not a root tree")
    host_dir = Path(spec["dir"])
    ports = (spec["ssh_port"], spec["http_port"])
    current = host_dir / "image"
    if current.exists() and Path(current.read_text().strip()) == root:
        # Check, then act: an instance already created from this tree is not created again
        # (a launch repeated after patchwarden was killed while the first one ran).
        _wait_serving(host, root, spec["address"], ports, time.monotonic() + timeout_s)
        return
    request = host_dir / "replace-root"
    request.write_text(f"{root}\n")
    deadline = time.monotonic() + timeout_s
    while request.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    failed = host_dir / "replace-failed"
    if failed.exists():
        raise LabError(f"{host}: replacement from {root} failed: {failed.read_text().strip()}")
    _wait_serving(host, root, spec["address"], ports, deadline)


def _wait_serving(
    host: str, root: Path, address: str, ports: tuple[int, ...], deadline: float
) -> None:
    while not all(_serves(address, p) for p in ports):
        if time.monotonic() > deadline:
            raise LabError(f"{host} did not come back from {root} in time")
        time.sleep(0.1)


def make_image_store(lab: Lab, store: Path) -> Path:
    """An image store whose version ``1`` is the tree the lab's hosts run; returns it.

    Version ``1`` gets its package list (``packages.json``) as the driver records every
    version's. Every host is recorded as an instance of version ``1``, as hosts built from a golden
    image are.
    """
    first = lab.specs()[0]
    template = lower_of(first.root)
    if store.exists():
        shutil.rmtree(store)
    (store / "instances").mkdir(parents=True)
    store.chmod(0o755)
    version = store / "1"
    version.mkdir()
    subprocess.run(["cp", "-a", str(template), str(version / "root")], check=True)
    listed = subprocess.run(
        ["dpkg-query", f"--admindir={version / 'root' / 'var/lib/dpkg'}", "-W", "-f",
         "${Package} ${Version} ${db:Status-Status}\\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (version / "packages.json").write_text(json.dumps(parse_dpkg_list(listed), sort_keys=True))
    (store / "latest").write_text("1\n")
    for spec in lab.specs():
        (store / "instances" / spec.id).write_text("1\n")
    return store


def lower_of(root: Path) -> Path:
    """The tree a host's overlay root sits on."""
    target = str(root.resolve())
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 3 and fields[1] == target and fields[2] == "overlay":
                for option in fields[3].split(","):
                    if option.startswith("lowerdir="):
                        return Path(option.removeprefix("lowerdir=").split(":")[0])
    raise LabError(f"{root} is not an overlay of a lab template")


def main(argv: list[str] | None = None) -> int:
    """``LAB_DIR HOST ROOT``: replace the lab host from the root tree."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m patchwarden.testing.lab_instances LAB_DIR HOST ROOT",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        replace_instance(Path(args[0]), args[1], Path(args[2]))
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
