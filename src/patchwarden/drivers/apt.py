"""The apt package driver: facts are a command plus a pure parser; actions are argv lists.

Facts (golden-tested in ``tests/golden/apt``):

- installed packages: :data:`DPKG_QUERY` → :func:`parse_dpkg_query` → :func:`installed_versions`
  and, for each binary built from a differently named or versioned source,
  :func:`installed_sources` (Debian's and Ubuntu's advisories name source packages)
- holds: :data:`SHOWHOLD` → :func:`parse_holds`
- reboot state: :data:`REBOOT_REQUIRED` → :func:`parse_reboot_required`
- OS release: :data:`OS_RELEASE` → :func:`parse_os_release`
- architecture: :data:`DPKG_ARCH`
- services to restart: ``needrestart -b`` (:mod:`patchwarden.drivers.restarts`)

Installing sets exact versions (upgrade or downgrade) with
``apt-get install -y --allow-downgrades pkg=version ...``, keeping changed config files
(``--force-confold``), with ``DEBIAN_FRONTEND=noninteractive`` and ``NEEDRESTART_SUSPEND=1``
(the patch step, not needrestart's apt hook, decides on restarts) in the environment. Held
packages are never changed: :class:`~patchwarden.errors.HeldPackageError` says which and how
to release them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from patchwarden.drivers.restarts import NEEDRESTART, parse_needrestart, restart_command
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError, HeldPackageError, TransientDriverError

__all__ = [
    "DPKG_ARCH",
    "DPKG_QUERY",
    "OS_RELEASE",
    "REBOOT_REQUIRED",
    "SHOWHOLD",
    "AptDriver",
    "DpkgRecord",
    "HostFacts",
    "InstallRecord",
    "RebootState",
    "install_command",
    "installed_sources",
    "installed_versions",
    "parse_dpkg_query",
    "parse_holds",
    "parse_os_release",
    "parse_reboot_required",
]

DPKG_QUERY: tuple[str, ...] = (
    "dpkg-query",
    "-W",
    "-f=${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}"
    "\\t${source:Package}\\t${source:Version}\\n",
)
"""Every package dpkg knows, one tab-separated line each.

``${source:Package}`` and ``${source:Version}`` name the source package a binary was built
from; dpkg prints the binary's own name and version when its control data names no other.
They differ after a binNMU (binary ``5.2.15-2+b8`` of source ``5.2.15-2``), when the binary
carries its own epoch (``1:2.38.1-5`` of ``2.38.1-5``) or its own version altogether.
"""

SHOWHOLD: tuple[str, ...] = ("apt-mark", "showhold")
"""Held packages, one per line."""

# A constant script, no data in it: the one place a shell is simpler than two round trips.
REBOOT_REQUIRED: tuple[str, ...] = (
    "sh",
    "-c",
    "if [ -e /run/reboot-required ]; then echo required; "
    "cat /run/reboot-required.pkgs 2>/dev/null; fi; exit 0",
)
"""Prints ``required`` then the packages asking for it, or nothing."""

OS_RELEASE: tuple[str, ...] = ("cat", "/etc/os-release")

DPKG_ARCH: tuple[str, ...] = ("dpkg", "--print-architecture")
"""dpkg's architecture (``amd64``, ``arm64``), read as it is with surrounding space stripped."""

# needrestart's apt hook would otherwise act on the services itself after each install;
# the patch step asks ``needrestart -b`` and restarts (or reports) as the campaign says.
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_SUSPEND": "1"}
DPKG_CONFIGURE_PENDING: tuple[str, ...] = ("dpkg", "--configure", "-a")


@dataclass(frozen=True)
class DpkgRecord:
    """One line of :data:`DPKG_QUERY`."""

    name: str
    arch: str
    version: str
    status: str
    source: str
    source_version: str = ""
    """The source package's version; the binary's own when dpkg did not print one."""

    @property
    def installed(self) -> bool:
        """Configured (``ii``, ``hi`` when held), maybe awaiting triggers (``iW``, ``it``).

        A package left unpacked or half-configured by a failed install does not count, so
        a failed patch never looks done.
        """
        return len(self.status) >= 2 and self.status[1] in "iWt"


@dataclass(frozen=True)
class RebootState:
    """Whether the host asks for a reboot, and which packages asked."""

    required: bool
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostFacts:
    """What a scan reads from a Debian-family host."""

    packages: dict[str, str]
    os_release: dict[str, str]
    arch: str
    reboot: RebootState
    holds: frozenset[str]
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Binary → (source package, source version), where either differs from the binary's."""


@dataclass(frozen=True)
class InstallRecord:
    """One install on one host: the versions before and the targets asked for."""

    host: str
    before: dict[str, str]
    targets: dict[str, str]


def parse_dpkg_query(text: str) -> list[DpkgRecord]:
    r"""Parse :data:`DPKG_QUERY` output; lines it cannot read are skipped.

    A missing source name or version (output of the older five-field format, or an empty
    field) stands for the binary's own.

    Example:
        >>> record = parse_dpkg_query("bash\tamd64\t5.2.15-2+b2\tii \tbash\t5.2.15-2\n")[0]
        >>> record.version, record.source, record.source_version
        ('5.2.15-2+b2', 'bash', '5.2.15-2')
    """
    records = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[0] or not parts[2]:
            continue
        name, arch, version, status = parts[0], parts[1], parts[2], parts[3].strip()
        source = parts[4].strip() if len(parts) > 4 and parts[4].strip() else name
        source_version = parts[5].strip() if len(parts) > 5 and parts[5].strip() else version
        records.append(DpkgRecord(name, arch, version, status, source, source_version))
    return records


def installed_versions(records: list[DpkgRecord]) -> dict[str, str]:
    """Name → version of installed packages; ``name:arch`` keys too where arches differ.

    Example:
        >>> installed_versions([DpkgRecord("a", "all", "1", "ii", "a"),
        ...                     DpkgRecord("b", "amd64", "2", "rc", "b")])
        {'a': '1'}
    """
    versions: dict[str, str] = {}
    for record in records:
        if not record.installed:
            continue
        if record.name in versions and versions[record.name] != record.version:
            versions[f"{record.name}:{record.arch}"] = record.version
        else:
            versions.setdefault(record.name, record.version)
    return versions


def installed_sources(records: list[DpkgRecord]) -> dict[str, tuple[str, str]]:
    """Binary → (source, source version) of installed packages whose source is not themselves.

    Keys are those of :func:`installed_versions` (``name:arch`` where arches differ in
    version); a binary built from a source of its own name and version is left out, so a
    missing key means "its own source".

    Example:
        >>> installed_sources([DpkgRecord("libssl3", "amd64", "3.0.15-1", "ii", "openssl",
        ...                               "3.0.15-1"),
        ...                    DpkgRecord("curl", "amd64", "7.88.1-10", "ii", "curl", "7.88.1-10")])
        {'libssl3': ('openssl', '3.0.15-1')}
    """
    versions = installed_versions(records)
    sources: dict[str, tuple[str, str]] = {}
    for record in records:
        if not record.installed:
            continue
        key = record.name if versions.get(record.name) == record.version else None
        if key is None and versions.get(f"{record.name}:{record.arch}") == record.version:
            key = f"{record.name}:{record.arch}"
        if key is None or key in sources:
            continue
        source_version = record.source_version or record.version
        if (record.source, source_version) != (record.name, record.version):
            sources[key] = (record.source, source_version)
    return sources


def parse_holds(text: str) -> frozenset[str]:
    """Parse ``apt-mark showhold``: one package per line (``:arch`` dropped)."""
    return frozenset(line.strip().split(":")[0] for line in text.splitlines() if line.strip())


def parse_reboot_required(text: str) -> RebootState:
    r"""Parse :data:`REBOOT_REQUIRED` output: packages deduplicated, in first-seen order.

    Example:
        >>> parse_reboot_required("required\nlinux-image-amd64\nlinux-image-amd64\n")
        RebootState(required=True, packages=('linux-image-amd64',))
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "required":
        return RebootState(False)
    return RebootState(True, tuple(dict.fromkeys(lines[1:])))


def parse_os_release(text: str) -> dict[str, str]:
    """Parse ``/etc/os-release`` (shell-style ``KEY=value``, values maybe quoted)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        fields[key.strip()] = value
    return fields


def install_command(targets: Mapping[str, str]) -> list[str]:
    """The apt-get vector installing exactly ``targets``.

    Example:
        >>> install_command({"openssl": "3.0.15-1~deb12u1"})[-1]
        'openssl=3.0.15-1~deb12u1'
    """
    for name, version in targets.items():
        if not name or not version or name.startswith("-") or "=" in name or " " in version:
            raise DriverError(f"invalid package target {name!r}={version!r}")
    return [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--allow-downgrades",
        "--no-install-recommends",
        "-o",
        "Dpkg::Options::=--force-confold",
        # Wait for another apt (unattended-upgrades, say) instead of failing at once.
        "-o",
        "DPkg::Lock::Timeout=120",
        *(f"{name}={version}" for name, version in targets.items()),
    ]


@dataclass
class AptDriver:
    """:class:`~patchwarden.drivers.protocols.PackageDriver` for apt hosts over a transport.

    Attributes:
        transport: Where commands run.
        update_on_missing: Run ``apt-get update`` and retry once when apt does not know a
            target version (the package lists are older than the plan).
        history: Every install, with the versions it replaced: the pre-patch record.
    """

    transport: Transport
    update_on_missing: bool = True
    install_timeout_s: float = 1800.0
    history: list[InstallRecord] = field(default_factory=list)

    async def records(self, host: str) -> list[DpkgRecord]:
        """Every package dpkg knows on ``host``."""
        result = (await self.transport.run(host, DPKG_QUERY)).check()
        return parse_dpkg_query(result.stdout)

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        versions = installed_versions(await self.records(host))
        return {name: versions[name] for name in names if name in versions}

    async def holds(self, host: str) -> frozenset[str]:
        """Packages held on ``host``."""
        return parse_holds((await self.transport.run(host, SHOWHOLD)).check().stdout)

    async def reboot_required(self, host: str) -> RebootState:
        """Whether ``host`` asks for a reboot (``/run/reboot-required``) and why."""
        result = await self.transport.run(host, REBOOT_REQUIRED)
        return parse_reboot_required(result.check().stdout)

    async def services_to_restart(self, host: str) -> tuple[str, ...] | None:
        """Units running files an update replaced (``needrestart -b``); ``None`` if unknown."""
        result = await self.transport.run(host, NEEDRESTART)
        needs = parse_needrestart(result.exit_status, result.stdout)
        return None if needs is None else needs.services

    async def restart_services(self, host: str, units: Sequence[str]) -> None:
        """Restart ``units`` with ``systemctl restart``; DriverError names a failure."""
        result = await self.transport.run(host, restart_command(units))
        result.check()

    async def scan(self, host: str) -> HostFacts:
        """Packages, OS release, architecture, reboot state and holds of ``host``."""
        arch = (await self.transport.run(host, DPKG_ARCH)).check()
        release = await self.transport.run(host, OS_RELEASE)
        records = await self.records(host)
        return HostFacts(
            packages=installed_versions(records),
            os_release=parse_os_release(release.stdout) if release.ok else {},
            arch=arch.stdout.strip(),
            reboot=await self.reboot_required(host),
            holds=await self.holds(host),
            sources=installed_sources(records),
        )

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions; refuse to change held packages.

        Raises:
            HeldPackageError: a target is held at another version.
            DriverError: apt failed; its last words are in the message.
        """
        if not targets:
            return
        before = await self.installed(host, list(targets))
        held = sorted(
            n for n in (await self.holds(host)) & set(targets) if before.get(n) != targets[n]
        )
        if held:
            raise HeldPackageError(
                host, held, "apt-mark hold", f"`apt-mark unhold {' '.join(held)}`"
            )
        self.history.append(InstallRecord(host, before, dict(targets)))
        result = await self._apt_install(host, targets)
        if not result.ok and "dpkg was interrupted" in result.stderr:
            # An install killed half-way (a runner killed with its SSH session) leaves
            # packages unpacked but not configured, and apt refuses everything until they
            # are. Finish it, then install again: dpkg finds the target done, installs once.
            pending = await self.transport.run(
                host, DPKG_CONFIGURE_PENDING, env=APT_ENV, timeout_s=self.install_timeout_s
            )
            pending.check()
            result = await self._apt_install(host, targets)
        if not result.ok and self.update_on_missing and _unknown_version(result.stderr):
            update = await self.transport.run(
                host, ("apt-get", "update", "-q"), env=APT_ENV, timeout_s=self.install_timeout_s
            )
            update.check()
            result = await self._apt_install(host, targets)
        if not result.ok:
            if "Could not get lock" in result.stderr:
                raise TransientDriverError(f"{host}: apt is busy: {_last_error(result.stderr)}")
            raise DriverError(f"{host}: apt-get install failed: {_last_error(result.stderr)}")

    async def _apt_install(self, host: str, targets: Mapping[str, str]) -> CommandResult:
        return await self.transport.run(
            host, install_command(targets), env=APT_ENV, timeout_s=self.install_timeout_s
        )


def _unknown_version(stderr: str) -> bool:
    return "was not found" in stderr or "Unable to locate package" in stderr


def _last_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("E:")]
    return " ".join(errors[-3:]) if errors else stderr.strip()[-500:]
