r"""The rpm package facts of RHEL-family hosts: a command plus a pure parser each.

Facts (golden-tested in ``tests/golden/rpm``):

- installed packages: :func:`rpm_query` → :func:`parse_rpm_query` → :func:`installed_versions`,
  and the source RPM of each (``%{SOURCERPM}``) → :func:`installed_sources`, for reports:
  the RPM family's advisories name binary packages, so matching stays on binary names
- reboot state: :data:`NEEDS_RESTARTING` (dnf-utils / yum-utils) → :func:`parse_needs_restarting`
- architecture: :data:`ARCH` (``uname -m``)

Versions are written as OSV's RPM ecosystems write them (AlmaLinux, Rocky Linux, Red Hat):
``epoch:version-release`` with the epoch left out when it is 0 or unset.

Example:
    >>> parse_rpm_query("bash\t(none)\t5.1.8\t9.el9\tx86_64\t1700000000\n")[0].evr
    '5.1.8-9.el9'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patchwarden.drivers.apt import RebootState
from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = [
    "ARCH",
    "NEEDS_RESTARTING",
    "NEEDS_RESTARTING_DNF5",
    "QUERY_FORMAT",
    "RpmDriver",
    "RpmRecord",
    "installed_sources",
    "installed_versions",
    "parse_needs_restarting",
    "parse_rpm_query",
    "parse_source_rpm",
    "rpm_query",
]

QUERY_FORMAT = (
    "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{SOURCERPM}\\n"
)
"""One tab-separated line per package; ``%{EPOCH}`` and ``%{SOURCERPM}`` print ``(none)``
when unset (signing keys have no source RPM)."""

NEEDS_RESTARTING: tuple[str, ...] = ("needs-restarting", "-r")
"""Exit 1 and the packages asking for it when a reboot is needed, exit 0 when not."""

NEEDS_RESTARTING_DNF5: tuple[str, ...] = ("dnf", "needs-restarting", "-r")
"""The same question where only dnf's plugin is installed (dnf5 has no separate binary)."""

ARCH: tuple[str, ...] = ("uname", "-m")

# rpm lists imported signing keys as packages; they are not software anyone patches.
_PSEUDO_PACKAGES = frozenset({"gpg-pubkey", "gpg-pubkey-release"})
# "command not found" from a shell (SSH) or from exec (the local transport).
_NOT_FOUND = 127


def rpm_query(root: str | None = None) -> list[str]:
    """The ``rpm -qa`` vector, reading the database of another root when given.

    ``root`` lets one host read a mounted image's packages (offline image scans).

    Example:
        >>> rpm_query("/mnt/image")[:3]
        ['rpm', '--root', '/mnt/image']
    """
    prefix = ["rpm"] if root is None else ["rpm", "--root", root]
    return [*prefix, "-qa", "--queryformat", QUERY_FORMAT]


@dataclass(frozen=True)
class RpmRecord:
    """One line of :func:`rpm_query` output."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str
    installed_at: int
    source_rpm: str = ""
    """The file name of the source RPM it was built from (``openssl-3.0.7-27.el9.src.rpm``)."""

    @property
    def evr(self) -> str:
        """``epoch:version-release`` as OSV writes it; no epoch when it is 0 or unset."""
        vr = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{vr}" if self.epoch not in ("", "0", "(none)") else vr


def parse_rpm_query(text: str) -> list[RpmRecord]:
    r"""Parse :func:`rpm_query` output; lines it cannot read are skipped.

    Example:
        >>> parse_rpm_query("vim-minimal\t2\t8.2.2637\t20.el9_1\tx86_64\t1\n")[0].evr
        '2:8.2.2637-20.el9_1'
    """
    records = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[0] or not parts[2]:
            continue
        installed_at = parts[5].strip() if len(parts) > 5 else ""
        source_rpm = parts[6].strip() if len(parts) > 6 else ""
        records.append(
            RpmRecord(
                name=parts[0],
                epoch=parts[1].strip(),
                version=parts[2],
                release=parts[3],
                arch=parts[4].strip(),
                installed_at=int(installed_at) if installed_at.isdigit() else 0,
                source_rpm="" if source_rpm == "(none)" else source_rpm,
            )
        )
    return records


def installed_versions(records: Sequence[RpmRecord]) -> dict[str, str]:
    """Name → version; ``name.arch`` keys too where multilib copies differ in version.

    Kernels and other install-only packages keep several versions side by side: the one
    installed last is the one that boots next, so it stands for the name. Signing keys
    (``gpg-pubkey``) are left out.

    Example:
        >>> installed_versions([RpmRecord("kernel", "", "5.14.0", "70.el9", "x86_64", 1),
        ...                     RpmRecord("kernel", "", "5.14.0", "362.el9", "x86_64", 2)])
        {'kernel': '5.14.0-362.el9'}
    """
    latest: dict[tuple[str, str], RpmRecord] = {}
    for record in records:
        if record.name in _PSEUDO_PACKAGES:
            continue
        key = (record.name, record.arch)
        # ">=": of two installed at the same second, the later line (rpm lists by db order).
        if key not in latest or record.installed_at >= latest[key].installed_at:
            latest[key] = record
    by_name: dict[str, list[RpmRecord]] = {}
    for record in latest.values():
        by_name.setdefault(record.name, []).append(record)
    versions: dict[str, str] = {}
    for name, copies in sorted(by_name.items()):
        chosen = max(copies, key=lambda r: (r.installed_at, r.arch != "noarch"))
        versions[name] = chosen.evr
        for other in sorted(copies, key=lambda r: r.arch):
            if other.evr != chosen.evr:
                versions[f"{name}.{other.arch}"] = other.evr
    return versions


def parse_source_rpm(file_name: str) -> tuple[str, str] | None:
    """``name-version-release.src.rpm`` → ``(name, "version-release")``; ``None`` if not one.

    Example:
        >>> parse_source_rpm("openssl-3.0.7-27.el9.src.rpm")
        ('openssl', '3.0.7-27.el9')
        >>> parse_source_rpm("(none)") is None
        True
    """
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if file_name.endswith(suffix):
            parts = file_name[: -len(suffix)].rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return parts[0], f"{parts[1]}-{parts[2]}"
    return None


def installed_sources(records: Sequence[RpmRecord]) -> dict[str, tuple[str, str]]:
    """Binary → (source RPM name, its version-release), keyed as :func:`installed_versions`.

    Binaries whose source RPM has their own name and version-release are left out.

    Example:
        >>> installed_sources([RpmRecord("openssl-libs", "1", "3.0.7", "27.el9", "x86_64", 1,
        ...                              "openssl-3.0.7-27.el9.src.rpm")])
        {'openssl-libs': ('openssl', '3.0.7-27.el9')}
    """
    versions = installed_versions(records)
    sources: dict[str, tuple[str, str]] = {}
    for record in records:
        source = parse_source_rpm(record.source_rpm)
        if source is None or record.name in _PSEUDO_PACKAGES:
            continue
        key = record.name if versions.get(record.name) == record.evr else None
        if key is None and versions.get(f"{record.name}.{record.arch}") == record.evr:
            key = f"{record.name}.{record.arch}"
        own = (record.name, f"{record.version}-{record.release}")
        if key is not None and source != own:
            sources[key] = source
    return sources


def parse_needs_restarting(exit_status: int, text: str) -> RebootState | None:
    r"""Parse ``needs-restarting -r``: the reboot state, or ``None`` when it cannot tell.

    dnf-utils lists packages as ``  * kernel``; older yum-utils as ``  kernel -> 3.10...``.
    The exit status decides when the text is not one of the known messages (translated).

    Example:
        >>> parse_needs_restarting(1, "Core libraries ... since boot-up:\n  * kernel\n")
        RebootState(required=True, packages=('kernel',))
    """
    if exit_status == _NOT_FOUND or exit_status < 0 or exit_status > 1:
        return None
    packages: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("* "):
            packages.append(stripped[2:].strip())
        elif " -> " in stripped and line.startswith((" ", "\t")):
            packages.append(stripped.split(" -> ")[0].strip())
    return RebootState(exit_status == 1, tuple(dict.fromkeys(p for p in packages if p)))


@dataclass
class RpmDriver:
    """Reads installed packages and the reboot state of rpm hosts over a transport.

    Attributes:
        transport: Where commands run.
        root: Read the rpm database under this root instead of ``/`` (a mounted image).
    """

    transport: Transport
    root: str | None = None

    async def records(self, host: str) -> list[RpmRecord]:
        """Every package rpm knows on ``host``."""
        result = (await self.transport.run(host, rpm_query(self.root))).check()
        return parse_rpm_query(result.stdout)

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package (absent ones omitted)."""
        versions = installed_versions(await self.records(host))
        return {name: versions[name] for name in names if name in versions}

    async def reboot_required(self, host: str) -> RebootState | None:
        """Whether ``host`` needs a reboot; ``None`` when neither tool is installed."""
        if self.root is not None:
            return None  # an image that is not running has nothing to reboot
        result = await self.transport.run(host, NEEDS_RESTARTING)
        if result.exit_status == _NOT_FOUND:
            result = await self.transport.run(host, NEEDS_RESTARTING_DNF5)
        return parse_needs_restarting(result.exit_status, result.stdout)

    async def arch(self, host: str) -> str:
        """The machine architecture (``x86_64``, ``aarch64``)."""
        result = await self.transport.run(host, ARCH)
        if not result.ok:
            raise DriverError(f"{host}: cannot read the architecture: {result.stderr.strip()}")
        return result.stdout.strip()
