"""Lab host roots: a cached ``debootstrap --variant=minbase`` tarball, prepared per lab.

The tarball is built once per machine (about 30 s, from the Debian mirror) and slimmed of
what a test host never reads (documentation, translations, the mirror's package lists).
Beside minbase it holds :data:`INCLUDED`: ``needrestart``, which real Debian hosts run to find
daemons still mapping files an update replaced.
From it a template is prepared once per set of lab packages (apt pointed at the lab
repository only, the starting packages installed) and cached too; each host's root is an
overlay of that template (or a copy where overlays are unavailable), so a warm lab comes up
in seconds and ``down`` just unmounts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from patchwarden.errors import PatchwardenError

__all__ = [
    "DEFAULT_CACHE",
    "DEFAULT_MIRROR",
    "LabError",
    "base_tarball",
    "cached_template",
    "mount_root",
    "prepare_template",
    "unmount_root",
    "write_boot_id",
]

DEFAULT_CACHE = Path("/var/cache/patchwarden/lab")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Bump when the way the tarball is made changes, so stale caches are not reused.
_RECIPE = "v2"

INCLUDED: tuple[str, ...] = ("needrestart",)
"""Debian packages the base root holds beyond minbase (debootstrap resolves their needs)."""

_SLIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
)


class LabError(PatchwardenError):
    """The lab could not be built, started or stopped."""


REBOOT_SCRIPT = """#!/bin/sh
# A chroot cannot reboot: ask the lab controller to restart this host's services.
date +%s > /run/lab-reboot-request
"""

SYSTEMCTL_SCRIPT = """#!/bin/sh
# A chroot has no service manager: the lab controller starts, stops and restarts the units
# (ExecStart= of /etc/systemd/system or /lib/systemd/system) in a cgroup named after each
# unit, as systemd would, so tools that read /proc/PID/cgroup (needrestart) find them.
wants=/etc/systemd/system/multi-user.target.wants
verb=$1
[ $# -gt 0 ] && shift
case "$verb" in
enable)
    mkdir -p "$wants"
    for unit in "$@"; do ln -sf "/lib/systemd/system/$unit" "$wants/$unit"; done
    exit 0 ;;
disable)
    for unit in "$@"; do rm -f "$wants/$unit"; done
    exit 0 ;;
is-active)
    for unit in "$@"; do [ -e "/run/lab-systemd/active/$unit" ] || { echo inactive; exit 3; }; done
    echo active
    exit 0 ;;
start|stop|restart|try-restart|reload-or-restart) ;;
*)
    echo "lab systemctl: '$verb' is not supported here" >&2
    exit 1 ;;
esac
[ $# -gt 0 ] || { echo "lab systemctl: $verb needs a unit" >&2; exit 1; }
requests=/run/lab-systemd/requests
mkdir -p "$requests"
ask=$requests/$$
echo "$verb $*" > "$ask.tmp" && mv "$ask.tmp" "$ask.req"
tries=0
while [ ! -e "$ask.done" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ]; then
        rm -f "$ask.req"
        echo "lab systemctl: no answer from the lab controller" >&2
        exit 1
    fi
    sleep 0.1
done
status=$(head -n 1 "$ask.done")
tail -n +2 "$ask.done" >&2
rm -f "$ask.done"
exit "$status"
"""


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or error.stdout or "").strip()[-1500:]
        raise LabError(f"{' '.join(argv[:3])} failed ({error.returncode}): {tail}") from None


def base_tarball(
    cache: Path = DEFAULT_CACHE, suite: str = "bookworm", mirror: str = DEFAULT_MIRROR
) -> Path:
    """The cached minbase root of ``suite`` as a tarball, building it if missing."""
    arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
    tarball = cache / f"{suite}-minbase-{arch}-{_RECIPE}.tar"
    if tarball.exists():
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as scratch:
        root = Path(scratch) / "root"
        include = f"--include={','.join(INCLUDED)}"
        _run(["debootstrap", "--variant=minbase", include, f"--arch={arch}", suite, str(root),
              mirror])  # fmt: skip
        for relative in _SLIM:
            shutil.rmtree(root / relative, ignore_errors=True)
        partial = Path(scratch) / "base.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."])
        partial.rename(tarball)  # atomic: a crash never leaves a half tarball in the cache
    return tarball


def prepare_template(tarball: Path, repo: Path, template: Path, initial: dict[str, str]) -> Path:
    """Unpack ``tarball`` into ``template``; add the repo and reboot hook; install ``initial``."""
    if template.exists():
        shutil.rmtree(template)
    template.mkdir(parents=True)
    template.chmod(0o755)
    _run(["tar", "--numeric-owner", "-C", str(template), "-xf", str(tarball)])
    apt = template / "etc" / "apt"
    shutil.rmtree(apt / "sources.list.d", ignore_errors=True)
    (apt / "sources.list.d").mkdir()
    (apt / "sources.list").write_text("deb [trusted=yes] file:/srv/repo ./\n")
    for relative in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial"):
        (template / relative).mkdir(parents=True, exist_ok=True)
    shutil.copytree(repo, template / "srv" / "repo", dirs_exist_ok=True)
    os.chmod(template / "srv" / "repo", 0o755)
    hook = template / "usr" / "local" / "sbin" / "lab-reboot"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(REBOOT_SCRIPT)
    hook.chmod(0o755)
    # Where Debian's systemctl lives: maintainer scripts run with sshd's PATH, which has no
    # /usr/local.
    systemctl = template / "usr" / "bin" / "systemctl"
    systemctl.parent.mkdir(parents=True, exist_ok=True)
    systemctl.write_text(SYSTEMCTL_SCRIPT)
    systemctl.chmod(0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
    _run(["chroot", str(template), "apt-get", "update", "-q"], env=env)
    targets = [f"{name}={version}" for name, version in initial.items()]
    _run(["chroot", str(template), "apt-get", "install", "-y", "-q", *targets], env=env)
    _run(["chroot", str(template), "apt-get", "clean"], env=env)
    return template


def cached_template(
    tarball: Path, repo: Path, cache: Path, initial: dict[str, str], recipe: str
) -> Path:
    """The prepared root for ``recipe`` (a digest of the repo's packages), built once per machine.

    Hosts are overlays of this directory, so it is never written to once ready.
    """
    # Where each script goes is part of the recipe too (systemctl moved to /usr/bin).
    scripts = REBOOT_SCRIPT + "usr/bin/systemctl" + SYSTEMCTL_SCRIPT
    ingredients = f"{_RECIPE}|{tarball.name}|{recipe}|{sorted(initial.items())}|{scripts}"
    home = cache / "templates" / hashlib.sha256(ingredients.encode()).hexdigest()[:16]
    if (home / "ready").exists():
        return home / "root"
    home.parent.mkdir(parents=True, exist_ok=True)
    # Two labs may build the same template at once: each in its own scratch directory, and
    # the first rename wins.
    partial = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=home.parent))
    try:
        partial.chmod(0o755)
        prepare_template(tarball, repo, partial / "root", initial)
        (partial / "ready").touch()
        with contextlib.suppress(OSError):
            partial.rename(home)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not (home / "ready").exists():
        raise LabError(f"could not prepare the lab template in {home}")
    return home / "root"


def mount_root(template: Path, host_dir: Path, hostname: str, overlay: bool = True) -> str:
    """Give one host its root at ``host_dir/root``; returns the host's first boot id.

    The root is an overlay of ``template``, or a copy if overlays are unavailable or unwanted.
    """
    root = host_dir / "root"
    unmount_root(host_dir)
    shutil.rmtree(host_dir / "upper", ignore_errors=True)
    shutil.rmtree(host_dir / "work", ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    mounted = False
    if overlay:
        (host_dir / "upper").mkdir()
        (host_dir / "work").mkdir()
        options = f"lowerdir={template},upperdir={host_dir / 'upper'},workdir={host_dir / 'work'}"
        done = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(root)],
            capture_output=True,
            check=False,
        )
        mounted = done.returncode == 0
    if not mounted:
        root.rmdir()
        _run(["cp", "-a", str(template), str(root)])
    # sshd refuses a ChrootDirectory that anyone but root could write to.
    os.chown(root, 0, 0)
    root.chmod(0o755)
    (root / "etc" / "hostname").write_text(f"{hostname}\n")
    # The host's /proc: its sshd mounts one of its own PID namespace there (lab_controller).
    (root / "proc").mkdir(exist_ok=True)
    return write_boot_id(root)


def unmount_root(host_dir: Path) -> None:
    """Unmount a host's /proc and overlay root, if mounted (lazily: its processes are gone)."""
    root = str((host_dir / "root").resolve())
    for point in (f"{root}/proc", root):
        with open("/proc/self/mounts") as mounts:
            mounted = any(line.split()[1] == point for line in mounts if len(line.split()) > 1)
        if mounted:
            _run(["umount", "-l", point])


def write_boot_id(root: Path) -> str:
    """Give the host a new boot id (``cat /etc/lab-boot-id`` inside reads it)."""
    boot = str(uuid.uuid4())
    (root / "etc" / "lab-boot-id").write_text(f"{boot}\n")
    return boot
