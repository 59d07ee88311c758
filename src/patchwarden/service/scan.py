"""Scanning assets: what is installed, read from the hosts themselves or from SBOMs.

Sources, one stored scan each (:mod:`patchwarden.store.scans`, append-only):

- ``ssh`` / ``local``: the host as its inventory ``connection`` says. ``/etc/os-release``
  picks the package manager (dpkg, rpm or apk); the scan reads packages, OS release,
  architecture and reboot state (``/run/reboot-required``, ``needs-restarting -r``), and
  the source package of each binary built from another source (dpkg's
  ``${source:Package}``/``${source:Version}``, rpm's ``%{SOURCERPM}``).
- ``sbom``: a CycloneDX JSON file per application asset, from ``--sbom ASSET=FILE`` or the
  asset's ``sbom`` tag (``tags: {sbom: path}``, relative to the working directory).

An asset with both a connection and an SBOM gets both scans, stored side by side: neither
overwrites the other. **Precedence** when the assessment picks one (:func:`effective_scan`):
the newest successful scan of each source is a candidate if its ecosystem is the asset's
declared one (or either is unknown); among candidates ``ssh`` beats ``local`` beats
``sbom``, because a live reading of a host shows what is installed now, while an SBOM shows
what a build declared. Failed scans never hide the last good data; every scan shows its
age, and data older than :data:`STALE_AFTER` is flagged stale.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from patchwarden.assess.match import split_ecosystem
from patchwarden.domain.assets import AssetBase, OsInfo
from patchwarden.domain.ecosystems import asset_ecosystem
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.apk import ApkDriver
from patchwarden.drivers.apt import OS_RELEASE, AptDriver, parse_os_release
from patchwarden.drivers.packages import package_manager
from patchwarden.drivers.real import HostRouter, host_connections
from patchwarden.drivers.rpm import RpmDriver, installed_sources, installed_versions
from patchwarden.drivers.sbom import parse_cyclonedx
from patchwarden.drivers.ssh import SshConfig, SshTransport
from patchwarden.drivers.transport import LocalTransport, Transport
from patchwarden.errors import DriverError, InputError
from patchwarden.service.audit import Actor, local_actor
from patchwarden.service.audit import note as audit_note
from patchwarden.store import Store
from patchwarden.store.scans import ScanInput, ScanRecord
from patchwarden.versions import compare

__all__ = [
    "PRECEDENCE",
    "STALE_AFTER",
    "HostScan",
    "age_text",
    "effective_scan",
    "host_transport",
    "latest_scans",
    "read_sbom",
    "record_scans",
    "sbom_paths",
    "scan_assets",
    "scan_host",
    "scanned_inventory",
    "stale",
]

PRECEDENCE: tuple[str, ...] = ("ssh", "local", "sbom")
"""Which source's newest scan the assessment uses when several qualify, first wins."""

STALE_AFTER = timedelta(hours=24)
"""Scanned data older than this is flagged stale (fleets are usually scanned daily)."""

# os-release ID → (OsInfo family, OSV ecosystem name, release digits OSV keeps).
_DISTROS: dict[str, tuple[str, str, int]] = {
    "debian": ("debian", "Debian", 1),
    "ubuntu": ("ubuntu", "Ubuntu", 2),
    "almalinux": ("alma", "AlmaLinux", 1),
    "rocky": ("rocky", "Rocky Linux", 1),
    "rhel": ("rhel", "Red Hat", 1),
    "alpine": ("alpine", "Alpine", 2),
}


@dataclass(frozen=True)
class HostScan:
    """One scan of one asset: what was read, from where, when, or why it failed."""

    asset_id: str
    source: str
    at: datetime
    ok: bool = True
    ecosystem: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Binary → (source package, source version), for binaries of another source."""
    os_release: Mapping[str, str] = field(default_factory=dict)
    arch: str = ""
    reboot_required: bool | None = None
    reboot_packages: tuple[str, ...] = ()
    origin: str = ""
    notes: tuple[str, ...] = ()
    error: str = ""

    @property
    def os_name(self) -> str:
        """``ID VERSION_ID`` of the OS (``debian 12``), else ``PRETTY_NAME``; ``""`` for SBOMs."""
        release = self.os_release
        short = " ".join(filter(None, (release.get("ID"), release.get("VERSION_ID"))))
        return short or release.get("PRETTY_NAME", "")

    def age(self, now: datetime) -> timedelta:
        """How old the data is at ``now``."""
        return max(now - self.at, timedelta(0))

    def to_input(self) -> ScanInput:
        """The row the store keeps."""
        data = {
            k: v
            for k, v in {
                "ecosystem": self.ecosystem,
                "packages": dict(self.packages),
                "sources": {name: list(source) for name, source in self.sources.items()},
                "os_release": dict(self.os_release),
                "arch": self.arch,
                "reboot_required": self.reboot_required,
                "reboot_packages": list(self.reboot_packages),
                "origin": self.origin,
                "notes": list(self.notes),
                "error": self.error,
            }.items()
            if v not in ("", [], {})
        }
        return ScanInput(self.asset_id, self.source, self.at, self.ok, data)

    @classmethod
    def from_record(cls, record: ScanRecord, strings: dict[str, str] | None = None) -> HostScan:
        """Rebuild a stored scan; ``strings``: names and versions already met (shared)."""
        data: dict[str, Any] = record.data
        return cls(
            asset_id=record.asset_id,
            source=record.source,
            at=record.scanned_at,
            ok=record.ok,
            ecosystem=str(data.get("ecosystem", "")),
            packages=_interned(data.get("packages", {}), strings),
            sources={
                str(name): (str(source[0]), str(source[1]))
                for name, source in dict(data.get("sources", {})).items()
            },
            os_release=dict(data.get("os_release", {})),
            arch=str(data.get("arch", "")),
            reboot_required=data.get("reboot_required"),
            reboot_packages=tuple(data.get("reboot_packages", ())),
            origin=str(data.get("origin", "")),
            notes=tuple(data.get("notes", ())),
            error=str(data.get("error", "")),
        )


def _interned(packages: Mapping[str, str], strings: dict[str, str] | None = None) -> dict[str, str]:
    """``packages`` with its names and versions interned (in ``strings`` when given).

    A fleet's hosts share most names and versions: one string each, rather than one per
    host, keeps a fleet's stored scans a fraction of their size in memory. A table kept
    for one read of many scans does it in half the time of ``sys.intern``.

    >>> a, b = _interned({"openssl": "3.0.15"}), _interned({"openssl": "3.0.15"})
    >>> next(iter(a.values())) is next(iter(b.values()))
    True
    >>> table = {}
    >>> a, b = _interned({"zlib": "1.3"}, table), _interned({"zlib": str(1.3)}, table)
    >>> next(iter(a.values())) is next(iter(b.values())), table
    (True, {'zlib': 'zlib', '1.3': '1.3'})
    """
    if strings is not None:
        same = strings.setdefault
        names = list(map(str, packages.keys()))
        versions = list(map(str, packages.values()))
        return dict(zip(map(same, names, names), map(same, versions, versions), strict=True))
    intern = sys.intern
    # Loops in C (``str`` of a str is itself): a fleet's scans hold millions of these.
    keys = map(intern, map(str, packages.keys()))
    return dict(zip(keys, map(intern, map(str, packages.values())), strict=True))


def age_text(age: timedelta) -> str:
    """A short age for people: ``42s``, ``5m``, ``3h``, ``2d``.

    Example:
        >>> age_text(timedelta(hours=50))
        '2d'
    """
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- choosing assets and SBOMs -----------------------------------------------------------


def sbom_paths(assets: Iterable[AssetBase], options: Mapping[str, Path]) -> dict[str, Path]:
    """The SBOM of each asset that has one: ``--sbom`` options first, else its ``sbom`` tag."""
    paths = {a.id: Path(a.tags["sbom"]) for a in assets if a.tags.get("sbom")}
    return {**paths, **options}


# -- reading hosts and SBOMs -------------------------------------------------------------


def _ecosystem_of(os_release: Mapping[str, str]) -> str:
    known = _DISTROS.get(os_release.get("ID", ""))
    version = os_release.get("VERSION_ID", "")
    if known is None or not version:
        return ""
    _, name, keep = known
    release = ".".join(version.split(".")[:keep])
    return f"{name}:v{release}" if name == "Alpine" else f"{name}:{release}"


def _manager_of(os_release: Mapping[str, str], asset: AssetBase) -> str:
    """The host's package manager: by what it reports, else by what the inventory says."""
    ids = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
    declared = [asset.os.family] if asset.os else []
    return package_manager(ids) or package_manager(declared) or ""


async def scan_host(
    asset: AssetBase, transport: Transport, now: Callable[[], datetime]
) -> HostScan:
    """Read one host: OS release, then packages, arch and reboot state by its manager.

    Raises:
        DriverError: the host could not be read (the caller records the failure).
    """
    host = asset.id
    release_result = await transport.run(host, OS_RELEASE)
    os_release = parse_os_release(release_result.stdout) if release_result.ok else {}
    family = _manager_of(os_release, asset)
    reboot: tuple[bool | None, tuple[str, ...]]
    sources: dict[str, tuple[str, str]] = {}
    if family == "apt":
        facts = await AptDriver(transport).scan(host)
        packages, arch, sources = facts.packages, facts.arch, facts.sources
        reboot = (facts.reboot.required, facts.reboot.packages)
    elif family == "dnf":  # rpm reads what dnf installed
        rpm = RpmDriver(transport)
        records = await rpm.records(host)
        packages, sources = installed_versions(records), installed_sources(records)
        arch = await rpm.arch(host)
        state = await rpm.reboot_required(host)
        reboot = (None, ()) if state is None else (state.required, state.packages)
    elif family == "apk":
        apk = ApkDriver(transport)
        packages, arch, reboot = await apk.packages(host), await apk.arch(host), (None, ())
    else:
        raise DriverError(f"{host}: cannot tell its package manager from /etc/os-release")
    return HostScan(
        asset_id=host,
        source=asset.connection.transport if asset.connection else "local",
        at=now(),
        ecosystem=_ecosystem_of(os_release),
        packages=packages,
        sources=sources,
        os_release={
            k: os_release[k] for k in ("ID", "VERSION_ID", "PRETTY_NAME") if k in os_release
        },
        arch=arch,
        reboot_required=reboot[0],
        reboot_packages=reboot[1],
        origin=asset.connection.address if asset.connection else "",
    )


def _oldest(ecosystem: str, versions: Sequence[str]) -> str:
    try:
        ordered = sorted(versions, key=lambda v: [compare(ecosystem, v, w) for w in versions])
    except InputError:  # an ecosystem or a version patchwarden cannot order: first seen
        return versions[0]
    return ordered[0]


def read_sbom(asset: AssetBase, path: Path, at: datetime) -> HostScan:
    """One SBOM scan; a missing or malformed file is a failed scan naming the reason.

    An asset carries one ecosystem: the SBOM's packages of the asset's declared ecosystem
    are used (else those of its largest ecosystem); other ecosystems are listed in
    ``notes``. Bundled copies of one package at several versions are assessed at the
    oldest, the copy most likely to be exposed, and noted.
    """
    try:
        contents = parse_cyclonedx(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, InputError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        return HostScan(asset.id, "sbom", at, ok=False, origin=str(path), error=str(reason))
    groups = contents.by_ecosystem()
    declared = split_ecosystem(asset_ecosystem(asset))[0] if asset_ecosystem(asset) else ""
    matching = [e for e in groups if split_ecosystem(e)[0] == declared]
    chosen = (matching or sorted(groups, key=lambda e: (-len(groups[e]), e)) or [""])[0]
    notes = [f"not assessed: {len(groups[e])} {e} package(s)" for e in groups if e != chosen]
    if declared and not matching:
        notes.insert(0, f"no {asset_ecosystem(asset)} package in the SBOM: not assessed")
    packages: dict[str, str] = {}
    for name, versions in groups.get(chosen, {}).items():
        packages[name] = _oldest(chosen, versions)
        if len(versions) > 1:
            notes.append(f"{name}: {len(versions)} versions; assessed {packages[name]}")
    notes += [f"skipped {line}" for line in contents.skipped]
    origin = f"{path} {contents.subject} {contents.serial}".strip()
    return HostScan(asset.id, "sbom", at, ecosystem=chosen, packages=packages, origin=origin,
                    notes=tuple(notes))  # fmt: skip


async def scan_assets(
    assets: Sequence[AssetBase],
    transport: Transport,
    sboms: Mapping[str, Path],
    *,
    max_parallel: int = 10,
    timeout_s: float = 120.0,
    now: Callable[[], datetime] | None = None,
    on_done: Callable[[HostScan], None] | None = None,
) -> list[HostScan]:
    """Scan hosts (at most ``max_parallel`` at once, each within ``timeout_s``) and SBOMs.

    A host that fails or times out yields a failed :class:`HostScan`, never an exception:
    one unreachable host must not cost the others' results. Returned in asset order.
    """
    clock = now or (lambda: datetime.now(UTC))
    gate = asyncio.Semaphore(max_parallel)

    async def one_host(asset: AssetBase) -> HostScan:
        async with gate:
            try:
                result = await asyncio.wait_for(scan_host(asset, transport, clock), timeout_s)
            except (DriverError, TimeoutError) as error:
                why = str(error) or f"timed out after {timeout_s:g} s"
                await transport.disconnect(asset.id)  # a timed-out channel may linger
                source = asset.connection.transport if asset.connection else "local"
                result = HostScan(asset.id, source, clock(), ok=False, error=why)
        if on_done is not None:
            on_done(result)
        return result

    async def one_sbom(asset: AssetBase) -> HostScan:
        result = read_sbom(asset, sboms[asset.id], clock())
        if on_done is not None:
            on_done(result)
        return result

    jobs = []
    for asset in assets:
        if asset.connection is not None and asset.connection.transport in ("ssh", "local"):
            jobs.append(one_host(asset))
        if asset.id in sboms:
            jobs.append(one_sbom(asset))
    return list(await asyncio.gather(*jobs))


def host_transport(inventory: Inventory, ssh: SshConfig | None = None) -> HostRouter:
    """One router over SSH (pooled, strict host keys) and local runs for the inventory.

    ``ssh`` defaults to the settings of the environment (:meth:`SshConfig.from_env`).
    """
    ssh = SshConfig.from_env() if ssh is None else ssh
    connections = host_connections(inventory)
    ssh_hosts = {k: c for k, c in connections.items() if c.transport == "ssh"}
    transports: dict[str, Transport] = {
        "ssh": SshTransport(ssh_hosts, ssh),
        "local": LocalTransport(),
    }
    return HostRouter(connections, transports)


# -- storing and using scans -------------------------------------------------------------


def record_scans(
    store: Store,
    scans: Iterable[HostScan],
    *,
    actor: Actor | None = None,
    details: Mapping[str, Any] | None = None,
) -> list[int]:
    """Store every scan, failed ones too (they say when a host stopped answering).

    Audited as one entry per call, as ``actor`` (the local user when not given), with
    ``details`` added to the entry's (a scheduled scan names its job's occurrence).
    """
    inputs = [scan.to_input() for scan in scans]
    failed = sorted({s.asset_id for s in inputs if not s.ok})
    entry = audit_note(
        actor or local_actor(), "scan.record", "scans", "",
        details={"scans": len(inputs), "assets": len({s.asset_id for s in inputs}),
                 "failed": failed[:50], **(details or {})},
    )  # fmt: skip
    # The scans and their entry commit together: a crash leaves both or neither.
    ids = store.record_scans(inputs, audit=entry)
    return ids


def latest_scans(store: Store, *, ok_only: bool = True) -> dict[str, dict[str, HostScan]]:
    """Asset → source → the newest stored scan of that source."""
    out: dict[str, dict[str, HostScan]] = {}
    strings: dict[str, str] = {}
    for record in store.iter_latest_scans(ok_only=ok_only):
        scan = HostScan.from_record(record, strings)
        out.setdefault(record.asset_id, {})[record.source] = scan
    return out


def effective_scan(asset: AssetBase, by_source: Mapping[str, HostScan]) -> HostScan | None:
    """The scan the assessment uses for ``asset``, by :data:`PRECEDENCE`; ``None`` if none."""
    declared = asset_ecosystem(asset)
    base = split_ecosystem(declared)[0] if declared else ""
    for source in PRECEDENCE:
        scan = by_source.get(source)
        if scan is None or not scan.ok:
            continue
        if not base or not scan.ecosystem or split_ecosystem(scan.ecosystem)[0] == base:
            return scan
    return None


def scanned_inventory(
    inventory: Inventory, latest: Mapping[str, Mapping[str, HostScan]]
) -> tuple[Inventory, dict[str, HostScan]]:
    """The inventory with scanned packages in place of declared ones, and the scans used.

    Host scans also set the asset's OS and ecosystem from ``/etc/os-release`` (the host is
    the authority on what it runs); assets without a usable scan keep what they declare.
    """
    used: dict[str, HostScan] = {}
    assets = []
    for asset in inventory.assets:
        scan = effective_scan(asset, latest.get(asset.id, {}))
        if scan is None:
            assets.append(asset)
            continue
        used[asset.id] = scan
        update: dict[str, Any] = {
            # The scan's own map, not a copy: neither is changed, and a fleet's is large.
            "packages": scan.packages,
            "package_sources": dict(scan.sources),
        }
        if scan.ecosystem:
            update["ecosystem"] = scan.ecosystem
        if scan.source != "sbom":
            update["pending_reboot"] = bool(scan.reboot_required)
            update["pending_reboot_packages"] = tuple(scan.reboot_packages)
        known = _DISTROS.get(scan.os_release.get("ID", ""))
        if scan.source != "sbom" and known is not None:
            update["os"] = OsInfo.model_validate(
                {"family": known[0], "release": scan.os_release.get("VERSION_ID", "")}
            )
        assets.append(asset.model_copy(update=update))
    # Built anew rather than copied: a copy would keep the cached ``by_id`` of the old assets.
    rebuilt = Inventory(environments=inventory.environments, assets=tuple(assets))
    return rebuilt, used


def stale(scan: HostScan, now: datetime) -> bool:
    """Whether the scan's data is older than :data:`STALE_AFTER`."""
    return scan.age(now) > STALE_AFTER
