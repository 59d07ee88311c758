"""Which package manager patches a host: one table, and the driver that routes by it.

:data:`PACKAGE_MANAGERS` maps an OS family (as inventories declare it) or an os-release
``ID`` / ``ID_LIKE`` (as scans read it) to a package manager's name; a package driver of
that name is looked up in the registry (``packages.apt``, ``packages.dnf``). A family with
no entry, or whose manager has no registered package driver (Alpine's ``apk`` is read by
scans but has no install driver yet), cannot be patched: a real run refuses such a host
before any step runs, instead of trying another distribution's tool on it.

Example:
    >>> package_manager(["rocky"]), package_manager(["linuxmint", "ubuntu"])
    ('dnf', 'apt')
    >>> package_manager(["alpine"]), package_manager(["windows"])
    ('apk', None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.campaign import APP_PIN_PREFIX
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.dnf import DnfDriver
from patchwarden.drivers.protocols import AppInstaller, PackageDriver, ServiceRestarter
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError

__all__ = [
    "APT",
    "DEFAULT_MANAGER",
    "DNF",
    "PACKAGE_MANAGERS",
    "HostPackages",
    "NoPackageSettings",
    "host_manager",
    "package_manager",
]

PACKAGE_MANAGERS: Mapping[str, str] = MappingProxyType(
    {
        "debian": "apt",
        "ubuntu": "apt",
        "rhel": "dnf",
        "alma": "dnf",
        "almalinux": "dnf",
        "rocky": "dnf",
        "centos": "dnf",
        "fedora": "dnf",
        "ol": "dnf",
        "amzn": "dnf",
        "alpine": "apk",
    }
)
"""OS family or os-release id → package manager. The only such table in patchwarden."""

DEFAULT_MANAGER = "apt"
"""The manager of a host whose inventory entry declares no ``os`` (as before ``os`` existed)."""


def package_manager(ids: Iterable[str]) -> str | None:
    """The manager of the first id the table knows (``ID`` first, then ``ID_LIKE``)."""
    for os_id in ids:
        manager = PACKAGE_MANAGERS.get(os_id)
        if manager is not None:
            return manager
    return None


def host_manager(asset: AssetBase) -> str | None:
    """The manager that patches ``asset``: by its declared OS family; ``None`` if unknown."""
    if asset.os is None:
        return DEFAULT_MANAGER
    return package_manager([asset.os.family])


class NoPackageSettings(BaseModel):
    """Package drivers take their settings from the host's connection: nothing here."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _apt(_: NoPackageSettings, context: DriverContext) -> AptDriver:
    return AptDriver(context.transport)


def _dnf(_: NoPackageSettings, context: DriverContext) -> DnfDriver:
    return DnfDriver(context.transport)


APT = DriverSpec(
    DriverKind.PACKAGES, "apt", NoPackageSettings, _apt, "apt and dpkg (Debian family)"
)
"""The entry point ``packages.apt``."""
DNF = DriverSpec(DriverKind.PACKAGES, "dnf", NoPackageSettings, _dnf, "dnf and rpm (RHEL family)")
"""The entry point ``packages.dnf``."""


class HostPackages:
    """A :class:`PackageDriver` sending each host to its own package manager's driver.

    A plan names an application's version as ``app:<application id>`` among a host's
    packages (:data:`~patchwarden.domain.campaign.APP_PIN_PREFIX`): those go to that
    application's installer, the rest to the host's package manager, in the order given.

    Args:
        managers: Host id → package manager name (from :func:`host_manager`).
        drivers: Package manager name → its driver.
        apps: Application id → its installer (applications with a real ``driver``).
    """

    def __init__(
        self,
        managers: Mapping[str, str],
        drivers: Mapping[str, PackageDriver],
        apps: Mapping[str, AppInstaller] | None = None,
    ) -> None:
        self.managers = dict(managers)
        self.drivers = dict(drivers)
        self.apps = dict(apps or {})

    def driver_for(self, host: str) -> PackageDriver:
        """The host's package driver.

        Raises:
            DriverError: The host has no package manager with a driver.
        """
        manager = self.managers.get(host)
        driver = self.drivers.get(manager or "")
        if driver is None:
            raise DriverError(
                f"{host}: no package driver for its package manager ({manager or 'unknown'})"
            )
        return driver

    def installer_for(self, pin: str) -> AppInstaller:
        """The installer of the application an ``app:<id>`` pin names.

        Raises:
            DriverError: The application has no real installer.
        """
        app = pin.removeprefix(APP_PIN_PREFIX)
        installer = self.apps.get(app)
        if installer is None:
            raise DriverError(f"application {app!r} has no installer (set its `driver:`)")
        return installer

    async def installed(self, host: str, names: list[str]) -> dict[str, str]:
        """Installed version of each named package or application (absent ones omitted)."""
        packages = [n for n in names if not n.startswith(APP_PIN_PREFIX)]
        out = await self.driver_for(host).installed(host, packages) if packages else {}
        for name in names:
            if name.startswith(APP_PIN_PREFIX):
                version = await self.installer_for(name).installed(host)
                if version is not None:
                    out[name] = version
        return out

    async def install(self, host: str, targets: Mapping[str, str]) -> None:
        """Install exactly these versions, in the given order.

        Packages go to the host's manager (consecutive ones in one transaction),
        applications to their installers.
        """
        batch: dict[str, str] = {}
        for name, version in targets.items():
            if not name.startswith(APP_PIN_PREFIX):
                batch[name] = version
                continue
            if batch:
                await self.driver_for(host).install(host, batch)
                batch = {}
            await self.installer_for(name).install(host, version)
        if batch:
            await self.driver_for(host).install(host, batch)

    async def services_to_restart(self, host: str) -> tuple[str, ...] | None:
        """Units to restart after an update, by the host's package manager's tool."""
        driver = self.driver_for(host)
        if not isinstance(driver, ServiceRestarter):
            return None
        return await driver.services_to_restart(host)

    async def restart_services(self, host: str, units: Sequence[str]) -> None:
        """Restart ``units`` on ``host``."""
        driver = self.driver_for(host)
        if not isinstance(driver, ServiceRestarter):
            raise DriverError(f"{host}: its package driver cannot restart services")
        await driver.restart_services(host, units)
