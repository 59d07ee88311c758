"""The lab's apt repository: small real ``.deb`` packages built with ``dpkg-deb``.

``pw-web`` is the service each lab host runs (the lab controller serves it, and its health
reads ``/usr/share/pw-web/status`` from the host's root, so health follows what is installed):

- ``pw-web 1.0-1``: installed at first, healthy.
- ``pw-web 1.0-2``: a clean security fix, healthy.
- ``pw-web 1.0-3``: a bad update: the service fails its health check.
- ``pw-kernel 1.0-1`` → ``1.0-2``: its postinst asks for a reboot (``/run/reboot-required``).
- ``pw-tool 1.0-1`` → ``1.0-2``: a plain tool, for holds and scans.
- ``libssl3`` and ``openssl``, binaries of one source package ``openssl``, as Debian's
  advisories name it: ``libssl3 3.0.11-1~deb12u2+b1`` (a binNMU of source
  ``3.0.11-1~deb12u2``) and ``openssl 3.0.11-1~deb12u2``, then both ``3.0.15-1~deb12u1``.
  Not installed at first; their files stay under ``usr/share/pw-openssl``.
- ``libpwlib1 1.0-1`` → ``1.0-2``: a real shared library (``/usr/lib/libpwlib.so.1``, compiled
  here with ``gcc``), and ``pw-daemon 1.0-1``, a long-running service linked against it
  (unit ``pw-daemon.service``; its postinst enables and starts it). Upgrading the library
  leaves the running daemon mapping the deleted old file: what ``needrestart`` finds. Not
  installed at first.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

__all__ = ["INITIAL", "PACKAGES", "LabPackage", "build_repo"]


@dataclass(frozen=True)
class LabPackage:
    """One test package: its control fields, files and maintainer scripts."""

    name: str
    version: str
    summary: str
    files: dict[str, str] = field(default_factory=dict)
    postinst: str = ""
    source: str = ""
    """The control file's ``Source:`` field (``openssl (3.0.11-1)``); none when its own."""
    compiled: dict[str, str] = field(default_factory=dict)
    """Files compiled from C with ``gcc`` (path → source); a library when the path has ``.so``."""
    depends: str = ""
    """The control file's ``Depends:`` field."""
    prerm: str = ""

    @property
    def architecture(self) -> str:
        """``all``, or this machine's architecture for a package with compiled files."""
        return _native_architecture() if self.compiled else "all"

    @property
    def filename(self) -> str:
        """The ``.deb`` file name, as Debian names them."""
        return f"{self.name}_{self.version}_{self.architecture}.deb"


@cache
def _native_architecture() -> str:
    done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return done.stdout.strip() or "amd64"


_REBOOT_POSTINST = """#!/bin/sh
set -e
# What update-notifier's notify-reboot-required does on Debian and Ubuntu.
if [ "$1" = configure ]; then
    echo "*** System restart required ***" > /run/reboot-required
    echo pw-kernel >> /run/reboot-required.pkgs
fi
"""


def _web(version: str, status: str, summary: str) -> LabPackage:
    return LabPackage(
        "pw-web", version, summary, {"usr/share/pw-web/status": f"{status} pw-web {version}\n"}
    )


def _tool(version: str) -> LabPackage:
    script = f"#!/bin/sh\necho pw-tool {version}\n"
    return LabPackage("pw-tool", version, "lab tool", {"usr/bin/pw-tool": script})


def _openssl(name: str, version: str, source: str = "openssl") -> LabPackage:
    files = {f"usr/share/pw-openssl/{name}": f"{name} {version}\n"}
    return LabPackage(name, version, f"lab {name} of source openssl", files, source=source)


_LIBPWLIB_C = """\
const char *pwlib_version(void) { return "libpwlib %s"; }
"""

_DAEMON_C = """\
#include <stdio.h>
#include <unistd.h>
const char *pwlib_version(void);
int main(void) {
    for (;;) {
        FILE *out = fopen("/run/pw-daemon.status", "w");
        if (out) { fprintf(out, "%s\\n", pwlib_version()); fclose(out); }
        sleep(1);
    }
}
"""

_DAEMON_UNIT = """\
[Unit]
Description=patchwarden lab daemon (uses libpwlib)

[Service]
ExecStart=/usr/sbin/pw-daemon

[Install]
WantedBy=multi-user.target
"""

_DAEMON_POSTINST = """#!/bin/sh
set -e
# What deb-systemd-helper and deb-systemd-invoke do for a packaged service.
if [ "$1" = configure ]; then
    systemctl enable pw-daemon.service
    systemctl restart pw-daemon.service
fi
"""


_DAEMON_PRERM = """#!/bin/sh
set -e
if [ "$1" = remove ]; then
    systemctl stop pw-daemon.service
    systemctl disable pw-daemon.service
fi
"""


def _libpwlib(version: str) -> LabPackage:
    source = _LIBPWLIB_C % version
    return LabPackage(
        "libpwlib1", version, "lab shared library", compiled={"usr/lib/libpwlib.so.1": source}
    )


PACKAGES: tuple[LabPackage, ...] = (
    _web("1.0-1", "ok", "lab web service"),
    _web("1.0-2", "ok", "lab web service (security fix)"),
    _web("1.0-3", "broken", "lab web service (bad update: fails to start)"),
    LabPackage("pw-kernel", "1.0-1", "lab kernel", {"boot/pw-kernel-1.0-1": "kernel\n"}),
    LabPackage(
        "pw-kernel",
        "1.0-2",
        "lab kernel (needs a reboot)",
        {"boot/pw-kernel-1.0-2": "kernel\n"},
        _REBOOT_POSTINST,
    ),
    _tool("1.0-1"),
    _tool("1.0-2"),
    _openssl("libssl3", "3.0.11-1~deb12u2+b1", "openssl (3.0.11-1~deb12u2)"),
    _openssl("openssl", "3.0.11-1~deb12u2", ""),
    _openssl("libssl3", "3.0.15-1~deb12u1"),
    _openssl("openssl", "3.0.15-1~deb12u1", ""),
    _libpwlib("1.0-1"),
    _libpwlib("1.0-2"),
    LabPackage(
        "pw-daemon",
        "1.0-1",
        "lab daemon linked against libpwlib",
        {"lib/systemd/system/pw-daemon.service": _DAEMON_UNIT},
        _DAEMON_POSTINST,
        compiled={"usr/sbin/pw-daemon": _DAEMON_C},
        depends="libpwlib1",
        prerm=_DAEMON_PRERM,
    ),
)
"""Every package in the lab repository."""

INITIAL: dict[str, str] = {"pw-web": "1.0-1", "pw-kernel": "1.0-1", "pw-tool": "1.0-1"}
"""What every lab host has installed when the lab comes up."""


def _build_one(package: LabPackage, work: Path, out: Path) -> None:
    tree = work / f"{package.name}-{package.version}"
    (tree / "DEBIAN").mkdir(parents=True)
    control = (
        f"Package: {package.name}\nVersion: {package.version}\n"
        f"Architecture: {package.architecture}\n"
        + (f"Source: {package.source}\n" if package.source else "")
        + (f"Depends: {package.depends}\n" if package.depends else "")
        + "Maintainer: patchwarden lab <lab@patchwarden.invalid>\nSection: misc\n"
        f"Priority: optional\nDescription: {package.summary}\n"
        " A small package of the patchwarden lab.\n"
    )
    (tree / "DEBIAN" / "control").write_text(control)
    for name, text in (("postinst", package.postinst), ("prerm", package.prerm)):
        if text:
            script = tree / "DEBIAN" / name
            script.write_text(text)
            script.chmod(0o755)
    for relative, content in package.files.items():
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755 if relative.startswith("usr/bin/") else 0o644)
    for relative, c_source in package.compiled.items():
        _compile(c_source, tree / relative, work)
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            "-Zgzip",
            "--build",
            str(tree),
            str(out / package.filename),
        ],
        check=True,
        capture_output=True,
    )


def _compile(c_source: str, out: Path, work: Path) -> None:
    """Compile ``c_source`` into ``out``: a shared library if its name has ``.so``.

    A program is linked against the lab's ``libpwlib.so.1``, built beside it first.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    source = work / f"{out.name}.c"
    source.write_text(c_source)
    if ".so" in out.name:
        argv = ["gcc", "-shared", "-fPIC", f"-Wl,-soname,{out.name}", "-o", str(out), str(source)]
    else:
        lib = work / "link" / "libpwlib.so.1"
        if not lib.exists():
            _compile(_LIBPWLIB_C % "link", lib, work)
        argv = ["gcc", "-o", str(out), str(source), f"-L{lib.parent}", "-l:libpwlib.so.1"]
    subprocess.run(argv, check=True, capture_output=True)
    out.chmod(0o755)


def build_repo(dest: Path, packages: tuple[LabPackage, ...] = PACKAGES) -> Path:
    """Build ``packages`` into a flat apt repository at ``dest`` (``deb file:DEST ./``).

    Returns ``dest``. Everything is world-readable: apt reads it as its ``_apt`` user.
    """
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o755)
    with tempfile.TemporaryDirectory(prefix="pw-lab-debs-") as scratch:
        for package in packages:
            _build_one(package, Path(scratch), dest)
    index = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", ".", "/dev/null"],
        cwd=dest,
        check=True,
        capture_output=True,
        text=True,
    )
    (dest / "Packages").write_text(index.stdout)
    for path in dest.iterdir():
        path.chmod(0o644)
    return dest
