"""The rpm facts against real librpm: packages built with rpmbuild, installed in a scratch root.

Debian's ``rpm`` and ``rpmbuild`` stand in for a RHEL host's: the database, the query format
and epoch handling are librpm's own. ``needs-restarting`` is not packaged for Debian, so the
reboot state is covered by golden cases and by a fake tool on PATH below.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from patchwarden.drivers.rpm import (
    RpmDriver,
    installed_sources,
    installed_versions,
    parse_rpm_query,
    rpm_query,
)
from patchwarden.drivers.transport import LocalTransport

pytestmark = pytest.mark.skipif(
    not (shutil.which("rpm") and shutil.which("rpmbuild")), reason="needs rpm and rpmbuild"
)

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: patchwarden test package
License: MIT
BuildArch: noarch
%description
A package with no files, for rpm -qa.
%files
"""

# One source RPM, two binaries: the main package and a library subpackage of another name.
SPEC_WITH_LIBS = """Name: pw-ssl
Version: 3.0.7
Release: 27.el9
Epoch: 1
Summary: patchwarden test source package
License: MIT
BuildArch: noarch
%description
A source building two binaries.
%package -n pw-ssl-libs
Summary: its library
%description -n pw-ssl-libs
The library.
%files
%files -n pw-ssl-libs
"""


def _build(top: Path, name: str, version: str, release: str, epoch: int | None) -> Path:
    spec = top / "SPECS" / f"{name}-{version}.spec"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        SPEC.format(
            name=name,
            version=version,
            release=release,
            epoch=f"Epoch: {epoch}\n" if epoch is not None else "",
        )
    )
    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)],
        check=True,
        capture_output=True,
    )
    return top / "RPMS" / "noarch" / f"{name}-{version}-{release}.noarch.rpm"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("rpmbuild")
    root = tmp_path_factory.mktemp("rpmroot")
    packages = [
        _build(top, "pw-plain", "1.2.3", "4.el9", None),
        _build(top, "pw-epoch", "8.0.1763", "16.el8_5.13", 2),
        _build(top, "pw-zero-epoch", "0.69.0", "8.el9", 0),
        _build(top, "pw-tilde", "0.9~rc2", "1.el10_0.1", None),
    ]
    spec = top / "SPECS" / "pw-ssl.spec"
    spec.write_text(SPEC_WITH_LIBS)
    subprocess.run(
        ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)],
        check=True,
        capture_output=True,
    )
    packages += sorted((top / "RPMS" / "noarch").glob("pw-ssl*.rpm"))
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    subprocess.run(
        ["rpm", "--root", str(root), "-i", "--nodeps", "--ignoreos", *map(str, packages)],
        check=True,
        capture_output=True,
    )
    return root


def test_parser_reads_real_rpm_query_output(root: Path) -> None:
    done = subprocess.run(rpm_query(str(root)), check=True, capture_output=True, text=True)
    records = parse_rpm_query(done.stdout)
    names = {"pw-plain", "pw-epoch", "pw-zero-epoch", "pw-tilde", "pw-ssl", "pw-ssl-libs"}
    assert {r.name for r in records} == names
    assert all(r.installed_at > 1_600_000_000 for r in records), "INSTALLTIME is read"
    assert installed_versions(records) == {
        "pw-plain": "1.2.3-4.el9",
        "pw-epoch": "2:8.0.1763-16.el8_5.13",
        "pw-zero-epoch": "0.69.0-8.el9",  # OSV leaves a zero epoch out
        "pw-tilde": "0.9~rc2-1.el10_0.1",
        "pw-ssl": "1:3.0.7-27.el9",
        "pw-ssl-libs": "1:3.0.7-27.el9",
    }
    # SOURCERPM, recorded for reports: only the subpackage names another source.
    assert installed_sources(records) == {"pw-ssl-libs": ("pw-ssl", "3.0.7-27.el9")}


def test_driver_reads_a_mounted_root_through_the_local_transport(root: Path) -> None:
    driver = RpmDriver(LocalTransport(), root=str(root))
    found = asyncio.run(driver.installed("img", ["pw-epoch", "absent"]))
    assert found == {"pw-epoch": "2:8.0.1763-16.el8_5.13"}
    assert asyncio.run(driver.reboot_required("img")) is None, "an image has nothing to reboot"


def test_reboot_state_comes_from_needs_restarting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in printing what dnf-plugins-core prints, exit 1: the real tool is RHEL-only.
    tool = tmp_path / "needs-restarting"
    tool.write_text(
        "#!/bin/sh\necho 'Core libraries or services have been updated since boot-up:'\n"
        "echo '  * kernel'\necho\necho 'Reboot is required to fully utilize these updates.'\n"
        "exit 1\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    state = asyncio.run(RpmDriver(LocalTransport()).reboot_required("here"))
    assert state is not None and state.required and state.packages == ("kernel",)


def test_reboot_state_is_unknown_without_either_tool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither needs-restarting nor dnf
    assert asyncio.run(RpmDriver(LocalTransport()).reboot_required("here")) is None
