"""A Python application in its own virtual environment: ``pip install app==X`` into that venv.

Configuration (an application's ``driver: venv``)::

    driver: venv
    driver_config:
      venv: /srv/shop/venv              # created with `python3 -m venv` when missing
      index: https://pypi.internal/simple/   # the application's pypi channel when omitted
      package: shop                     # the channel's project, else the application's id
      restart: [systemctl, restart, shop]    # after every install (rollbacks too)

Every command is an argument vector run over the host's own connection: the version asked
for is read back with :mod:`importlib.metadata` in the venv's own interpreter, installed with
that interpreter's pip from the one index named (``--index-url``, no other), and read back
again. Rollback installs the version read before the update, from the same index.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from patchwarden.domain.assets import Application
from patchwarden.domain.channels import ChannelUrl, PypiChannel
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.drivers.transport import CommandResult, Transport
from patchwarden.errors import DriverError

__all__ = ["DRIVER", "VenvInstaller", "VenvSettings", "parse_installed_version"]

_READ_VERSION = (
    "import sys, importlib.metadata as m\n"
    "try:\n"
    "    print(m.version(sys.argv[1]))\n"
    "except m.PackageNotFoundError:\n"
    "    sys.exit(3)\n"
)
_NOT_INSTALLED = 3


class VenvSettings(BaseModel):
    """An application's ``driver_config`` for ``driver: venv``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venv: Annotated[str, Field(pattern=r"^/")]
    index: ChannelUrl | None = None
    package: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] | None = None
    python: str = "python3"
    restart: tuple[str, ...] = ()
    timeout_s: Annotated[float, Field(gt=0)] = 600.0

    @model_validator(mode="after")
    def _index_known(self, info: ValidationInfo) -> Self:
        asset = (info.context or {}).get("asset")
        channel = getattr(asset, "channel", None)
        if self.index is None and not isinstance(channel, PypiChannel):
            raise PydanticCustomError(
                "driver_config",
                "venv: needs `index:` (a simple index URL), or a pypi `channel:` to use",
                {"hint": "e.g. index: https://pypi.internal/simple/"},
            )
        return self


def parse_installed_version(result: CommandResult) -> str | None:
    r"""The version the venv's interpreter printed; ``None`` when the package or venv is absent.

    Example:
        >>> ok = CommandResult("h", ("python",), 0, "1.10\n", "")
        >>> parse_installed_version(ok)
        '1.10'
        >>> parse_installed_version(CommandResult("h", ("python",), 127, "", "not found"))
    """
    if result.exit_status == 0 and result.stdout.strip():
        return result.stdout.strip()
    if result.exit_status in (_NOT_INSTALLED, 126, 127):
        return None
    raise DriverError(f"{result.host}: cannot read the installed version: {result.stderr[-300:]}")


class VenvInstaller:
    """Installs exact versions of one package into a venv on each host of an application."""

    def __init__(self, transport: Transport, settings: VenvSettings, index: str, package: str):
        self.transport = transport
        self.settings = settings
        self.index = index
        self.package = package

    @property
    def _python(self) -> str:
        return f"{self.settings.venv.rstrip('/')}/bin/python"

    async def installed(self, host: str) -> str | None:
        """The version of the package in the venv, read by the venv's own interpreter."""
        result = await self.transport.run(
            host, [self._python, "-c", _READ_VERSION, self.package], timeout_s=60
        )
        return parse_installed_version(result)

    async def install(self, host: str, version: str) -> None:
        """Create the venv if it is missing; ``pip install package==version``; restart."""
        s = self.settings
        probe = await self.transport.run(host, [self._python, "-c", "pass"], timeout_s=60)
        if probe.exit_status != 0:
            made = await self.transport.run(host, [s.python, "-m", "venv", s.venv], timeout_s=300)
            made.check()
        pip = [
            self._python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--index-url", self.index, f"{self.package}=={version}",
        ]  # fmt: skip
        (await self.transport.run(host, pip, timeout_s=s.timeout_s)).check()
        if s.restart:
            (await self.transport.run(host, list(s.restart), timeout_s=s.timeout_s)).check()
        now = await self.installed(host)
        if now != version:
            raise DriverError(f"{host}: after pip install, {self.package} is {now}, not {version}")


def build_venv(settings: VenvSettings, context: DriverContext) -> VenvInstaller:
    """The installer of one application asset."""
    app = context.asset
    if not isinstance(app, Application):
        raise DriverError("the venv driver installs application assets")
    channel = app.channel if isinstance(app.channel, PypiChannel) else None
    index = settings.index or (channel.index if channel else "")
    package = settings.package or (channel.package_name(app.id) if channel else app.id)
    return VenvInstaller(context.transport, settings, index, package)


DRIVER = DriverSpec(
    kind=DriverKind.APP_INSTALLER,
    name="venv",
    config=VenvSettings,
    factory=build_venv,
    summary="a Python application in its own venv: pip install app==X from one index",
)
"""The entry point ``app_installer.venv``."""
