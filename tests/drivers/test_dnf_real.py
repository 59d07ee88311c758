"""The dnf driver against real dnf and librpm: test packages built with rpmbuild, served as a
createrepo_c repository, installed into a scratch install root.

Debian's ``dnf`` (4.x), ``rpm`` and ``dnf-plugins-core`` stand in for a RHEL host's: the
transactions, the history database, ``versionlock`` and ``needs-restarting`` are theirs.
Each test gets a fresh root, so no test sees another's history.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from conformance import PackageCase, PackageDriverConformance

from patchwarden.drivers.dnf import DnfConfig, DnfDriver, DnfTransaction
from patchwarden.drivers.transport import LocalTransport
from patchwarden.errors import DriverError, HeldPackageError

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("dnf", "rpm", "rpmbuild", "createrepo_c")),
    reason="needs dnf, rpm, rpmbuild and createrepo_c (scripts/lab-deps installs them)",
)

HOST = "rpm-host"

SPEC = """Name: {name}
Version: {version}
Release: {release}
{extra}Summary: patchwarden test package
License: MIT
BuildArch: noarch
%description
A package with one file, for dnf.
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {version}-{release} > %{{buildroot}}/usr/share/{name}/version
%files
/usr/share/{name}/version
"""

# name, version, release, extra spec lines
PACKAGES = [
    ("pw-tool", "1.0", "1", ""),
    ("pw-tool", "1.0", "2", ""),
    ("pw-tool", "1.1", "1", ""),
    ("pw-epoch", "2.0", "1", "Epoch: 1\n"),
    ("pw-epoch", "1.0", "1", "Epoch: 2\n"),  # a lower version, newer by its epoch
    ("pw-lib", "1.0", "1", ""),
    ("pw-lib", "1.0", "2", ""),
    ("pw-app", "1.0", "1", "Requires: pw-lib\n"),
    ("pw-app", "1.0", "2", "Requires: pw-lib >= 1.0-2\n"),
    ("pw-kernel", "1.0", "1", ""),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("rpmbuild")
    repo = tmp_path_factory.mktemp("dnfrepo")
    for name, version, release, extra in PACKAGES:
        spec = top / f"{name}-{version}-{release}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release, extra=extra))
        subprocess.run(
            ["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)],
            check=True,
            capture_output=True,
        )
    for rpm in (top / "RPMS" / "noarch").glob("*.rpm"):
        shutil.copy(rpm, repo)
    subprocess.run(["createrepo_c", "-q", str(repo)], check=True)
    return repo


def bootstrap_root(root: Path) -> None:
    """An empty rpm root with dnf's configuration of its own (no host repos or plugins)."""
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True)
    plugins = root / "etc" / "dnf" / "plugins"
    (plugins / "needs-restarting.d").mkdir(parents=True)
    (root / "etc" / "dnf" / "dnf.conf").write_text("[main]\ngpgcheck=0\n")
    (plugins / "versionlock.conf").write_text(
        f"[main]\nenabled=1\nlocklist={plugins / 'versionlock.list'}\n"
    )
    (plugins / "versionlock.list").write_text("")
    # needs-restarting reads extra reboot-worthy names from the root's own directory.
    (plugins / "needs-restarting.d" / "pw.conf").write_text("pw-kernel\n")


def root_config(root: Path, repo: Path, **setopt: str) -> DnfConfig:
    return DnfConfig(
        installroot=str(root),
        repos={"pwlab": repo.as_uri()},
        setopt={
            "reposdir": str(root / "etc" / "yum.repos.d"),
            "pluginconfpath": str(root / "etc" / "dnf" / "plugins"),
            "install_weak_deps": "False",
            **setopt,
        },
        releasever="1",
        gpgcheck=False,
        timeout_s=120.0,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    bootstrap_root(root)
    return root


@pytest.fixture
def dnf(root: Path, repo: Path) -> DnfDriver:
    return DnfDriver(LocalTransport(), root_config(root, repo))


@pytest.fixture
def run() -> Any:
    def run_one(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run(coro)

    return run_one


def dnf_cli(driver: DnfDriver, *argv: str) -> str:
    done = subprocess.run(
        ["dnf", "-y", "-q", *driver.config.options(), *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def file_version(root: Path, name: str) -> str:
    return (root / "usr" / "share" / name / "version").read_text().strip()


class TestDnfConformance(PackageDriverConformance):
    @pytest.fixture
    def package_driver(self, dnf: DnfDriver) -> DnfDriver:
        return dnf

    @pytest.fixture
    def package_case(self, dnf: DnfDriver) -> PackageCase:
        asyncio.run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
        return PackageCase(HOST, "pw-tool", "1.0-1", "1.0-2")


def test_install_exact_version_upgrade_then_downgrade_back(
    run: Any, dnf: DnfDriver, root: Path
) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
    assert file_version(root, "pw-tool") == "1.0-1"
    # Skipping 1.0-2: the exact target, not the newest.
    run(dnf.install(HOST, {"pw-tool": "1.0-2"}))
    assert run(dnf.installed(HOST, ["pw-tool"])) == {"pw-tool": "1.0-2"}
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
    assert run(dnf.installed(HOST, ["pw-tool"])) == {"pw-tool": "1.0-1"}
    assert file_version(root, "pw-tool") == "1.0-1"
    assert [t.before for t in dnf.history] == [{}, {"pw-tool": "1.0-1"}, {"pw-tool": "1.0-2"}]


def test_epochs_order_versions_and_a_zero_epoch_is_the_same_version(
    run: Any, dnf: DnfDriver
) -> None:
    run(dnf.install(HOST, {"pw-epoch": "1:2.0-1"}))
    run(dnf.install(HOST, {"pw-epoch": "2:1.0-1"}))  # an upgrade, though 1.0 < 2.0
    assert run(dnf.installed(HOST, ["pw-epoch"])) == {"pw-epoch": "2:1.0-1"}
    run(dnf.install(HOST, {"pw-tool": "1.1-1"}))
    transactions = len(dnf.history)
    run(dnf.install(HOST, {"pw-tool": "0:1.1-1"}))  # OSV leaves 0 out; dnf writes it
    assert len(dnf.history) == transactions, "no second transaction for the same version"


def test_one_transaction_sets_several_packages_up_and_down_and_is_recorded(
    run: Any, dnf: DnfDriver
) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-2", "pw-epoch": "1:2.0-1"}))
    run(dnf.install(HOST, {"pw-tool": "1.0-1", "pw-epoch": "2:1.0-1"}))
    record = dnf.history[-1]
    assert record.before == {"pw-tool": "1.0-2", "pw-epoch": "1:2.0-1"}
    assert record.transaction_id is not None
    info = run(dnf.transaction(HOST, record.transaction_id))
    assert info.succeeded and info.id == record.transaction_id
    assert {(p.action, p.name, p.evr) for p in info.packages} == {
        ("Downgrade", "pw-tool", "1.0-1"),
        ("Downgraded", "pw-tool", "1.0-2"),
        ("Upgrade", "pw-epoch", "2:1.0-1"),
        ("Upgraded", "pw-epoch", "1:2.0-1"),
    }


def test_rollback_undoes_the_transaction_with_its_dependencies(
    run: Any, dnf: DnfDriver, root: Path
) -> None:
    run(dnf.install(HOST, {"pw-app": "1.0-1"}))
    assert run(dnf.installed(HOST, ["pw-lib"])) == {"pw-lib": "1.0-2"}, "dnf takes the newest"
    run(dnf.install(HOST, {"pw-lib": "1.0-1"}))
    run(dnf.install(HOST, {"pw-app": "1.0-2"}))  # pulls pw-lib 1.0-2 in as a dependency
    assert run(dnf.installed(HOST, ["pw-app", "pw-lib"])) == {
        "pw-app": "1.0-2",
        "pw-lib": "1.0-2",
    }
    assert run(dnf.rollback(HOST)) == "undo"
    assert run(dnf.installed(HOST, ["pw-app", "pw-lib"])) == {
        "pw-app": "1.0-1",
        "pw-lib": "1.0-1",
    }
    assert "history undo" in dnf_cli(dnf, "history", "info", "last")
    assert file_version(root, "pw-app") == "1.0-1"


def test_rollback_downgrades_explicitly_when_the_history_is_gone(
    run: Any, dnf: DnfDriver, root: Path
) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
    run(dnf.install(HOST, {"pw-tool": "1.1-1", "pw-epoch": "2:1.0-1"}))
    for path in (root / "var" / "lib" / "dnf").glob("history.sqlite*"):
        path.unlink()
    assert run(dnf.rollback(HOST, dnf.history[-1])) == "downgrade"
    assert run(dnf.installed(HOST, ["pw-tool", "pw-epoch"])) == {"pw-tool": "1.0-1"}


def test_rollback_of_an_unknown_transaction_falls_back_too(run: Any, dnf: DnfDriver) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-2"}))
    bogus = DnfTransaction(HOST, {"pw-tool": "1.0-1"}, {"pw-tool": "1.0-2"}, 99999)
    assert run(dnf.rollback(HOST, bogus)) == "downgrade"
    assert run(dnf.installed(HOST, ["pw-tool"])) == {"pw-tool": "1.0-1"}


def test_rollback_with_nothing_installed_by_the_driver_is_an_error(
    run: Any, dnf: DnfDriver
) -> None:
    with pytest.raises(DriverError, match="no dnf install"):
        run(dnf.rollback(HOST))


def test_versionlock_holds_are_refused_with_the_way_to_release_them(
    run: Any, dnf: DnfDriver
) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
    dnf_cli(dnf, "versionlock", "add", "pw-tool")
    with pytest.raises(HeldPackageError, match="versionlock delete pw-tool") as caught:
        run(dnf.install(HOST, {"pw-tool": "1.0-2"}))
    assert caught.value.packages == ["pw-tool"]
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))  # the held version itself is fine
    dnf_cli(dnf, "versionlock", "delete", "pw-tool")
    run(dnf.install(HOST, {"pw-tool": "1.0-2"}))
    assert run(dnf.installed(HOST, ["pw-tool"])) == {"pw-tool": "1.0-2"}


def test_excludepkgs_holds_are_refused(run: Any, root: Path, repo: Path) -> None:
    free = DnfDriver(LocalTransport(), root_config(root, repo))
    run(free.install(HOST, {"pw-tool": "1.0-1"}))
    held = DnfDriver(LocalTransport(), root_config(root, repo, excludepkgs="pw-too*"))
    with pytest.raises(HeldPackageError, match="excludepkgs"):
        run(held.install(HOST, {"pw-tool": "1.0-2"}))
    assert run(held.installed(HOST, ["pw-tool"])) == {"pw-tool": "1.0-1"}


def test_a_repositorys_excludes_are_holds_too(run: Any, root: Path, repo: Path) -> None:
    driver = DnfDriver(
        LocalTransport(), root_config(root, repo, **{"pwlab.excludepkgs": "pw-tool"})
    )
    with pytest.raises(HeldPackageError, match="pw-tool"):
        run(driver.install(HOST, {"pw-tool": "1.0-2"}))


def test_a_version_no_repository_has_is_a_driver_error(run: Any, dnf: DnfDriver) -> None:
    with pytest.raises(DriverError, match="pw-tool-9.9-9"):
        run(dnf.install(HOST, {"pw-tool": "9.9-9"}))
    assert dnf.history == []


def test_reboot_need_comes_from_the_roots_needs_restarting(run: Any, dnf: DnfDriver) -> None:
    run(dnf.install(HOST, {"pw-tool": "1.0-1"}))
    state = run(dnf.reboot_required(HOST))
    assert state is not None and not state.required
    run(dnf.install(HOST, {"pw-kernel": "1.0-1"}))  # installed after this machine booted
    state = run(dnf.reboot_required(HOST))
    assert state is not None and state.required and state.packages == ("pw-kernel",)
