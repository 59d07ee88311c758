"""An application packaged for Debian: its exact version installed with the host's apt driver.

Configuration (an application's ``driver: apt``)::

    driver: apt
    driver_config:
      package: ledger        # the apt channel's package, else the application's id

The same :class:`~patchwarden.drivers.apt.AptDriver` that patches the host's packages
installs ``package=version`` (held packages are refused, as for any package), and reads
the installed version back from dpkg; rollback installs the version read before.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from patchwarden.domain.assets import Application
from patchwarden.domain.channels import AptChannel
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError

__all__ = ["DRIVER", "AptAppInstaller", "AptAppSettings"]


class AptAppSettings(BaseModel):
    """An application's ``driver_config`` for ``driver: apt``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    package: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")] | None = None


class AptAppInstaller:
    """Installs exact versions of one Debian package on the hosts of an application."""

    def __init__(self, apt: AptDriver, package: str) -> None:
        self.apt = apt
        self.package = package

    async def installed(self, host: str) -> str | None:
        """The package's installed version, from dpkg."""
        return (await self.apt.installed(host, [self.package])).get(self.package)

    async def install(self, host: str, version: str) -> None:
        """``apt-get install package=version`` (an upgrade or a downgrade)."""
        await self.apt.install(host, {self.package: version})


def build_apt_app(settings: AptAppSettings, context: DriverContext) -> AptAppInstaller:
    """The installer of one application asset."""
    app = context.asset
    if not isinstance(app, Application):
        raise DriverError("the apt application driver installs application assets")
    channel = app.channel if isinstance(app.channel, AptChannel) else None
    package = settings.package or (channel.package_name(app.id) if channel else app.id)
    return AptAppInstaller(AptDriver(context.transport), package)


DRIVER = DriverSpec(
    kind=DriverKind.APP_INSTALLER,
    name="apt",
    config=AptAppSettings,
    factory=build_apt_app,
    summary="a Debian package of the application, installed at an exact version with apt",
)
"""The entry point ``app_installer.apt``."""
