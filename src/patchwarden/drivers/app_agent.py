"""An application installed by an agent inside each host, over HTTP.

Some hosts are reached by neither SSH nor a package manager: an appliance or a small VM
runs its own agent. Configuration (an application's ``driver: http_agent``)::

    driver: http_agent
    driver_config:
      url: http://{address}/cgi-bin/     # {address}: the host's connection address
      timeout_s: 30

The agent's protocol, two requests on ``url``:

- ``GET id`` answers lines ``key value``; ``app_version`` is the installed version;
- ``POST install?version=V`` (``V`` percent-encoded: ``+`` is ``%2B``) installs version
  ``V`` inside the host (the agent writes it to the host's own disk) and answers
  ``installed <anything> V``.

The installed version is read back after every install, so an agent that claims success
without changing anything fails the step. The version is checked to be a plain version
string before it becomes part of a URL.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field

from patchwarden.domain.assets import Application
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.registry import DriverContext, DriverKind, DriverSpec
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["DRIVER", "AgentSettings", "HttpAgentInstaller", "parse_agent_id"]

_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+~_-]{0,127}$")


class AgentSettings(BaseModel):
    """An application's ``driver_config`` for ``driver: http_agent``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[str, Field(pattern=r"^https?://[^\s]*\{address\}[^\s]*/$")]
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


def parse_agent_id(text: str) -> dict[str, str]:
    """The agent's ``id`` answer: one ``key value`` per line.

    >>> parse_agent_id(chr(10).join(["name vm-1", "app_version 1.0-2", "", "broken-line"]))
    {'name': 'vm-1', 'app_version': '1.0-2'}
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" ")
        if sep and key:
            out[key] = value.strip()
    return out


class HttpAgentInstaller:
    """Installs an application through each host's agent (an :class:`AppInstaller`).

    Args:
        settings: The application's ``driver_config``.
        inventory: To find each host's address.
        transport: The HTTP client's transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        settings: AgentSettings,
        inventory: Inventory,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.inventory = inventory
        self.transport = transport

    def url(self, host: str) -> str:
        """The agent's base URL on ``host``.

        Raises:
            DriverError: The host is not in the inventory or has no address.
        """
        try:
            asset = self.inventory.get(host)
        except KeyError:
            raise DriverError(f"{host}: not in the inventory") from None
        address = asset.connection.address if asset.connection is not None else ""
        if not address:
            raise DriverError(f"{host}: its connection has no address for the agent")
        return self.settings.url.replace("{address}", address)

    async def _request(self, method: str, url: str) -> str:
        try:
            async with httpx.AsyncClient(
                transport=self.transport, timeout=self.settings.timeout_s
            ) as client:
                answer = await client.request(method, url)
        except httpx.HTTPError as error:
            raise TransientDriverError(f"agent at {url}: {error}") from None
        if answer.status_code != 200:
            raise DriverError(f"agent at {url}: HTTP {answer.status_code}")
        return answer.text

    async def installed(self, host: str) -> str | None:
        """The version the agent reports, ``None`` when it reports none."""
        return parse_agent_id(await self._request("GET", self.url(host) + "id")).get("app_version")

    async def install(self, host: str, version: str) -> None:
        """Ask the agent to install ``version``; checks the answer and reads it back."""
        if not _SAFE_VERSION.match(version):
            raise DriverError(f"{host}: {version!r} is not a plain version string")
        query = urllib.parse.urlencode({"version": version}, quote_via=urllib.parse.quote)
        said = (await self._request("POST", f"{self.url(host)}install?{query}")).strip()
        if not said.startswith("installed ") or not said.endswith(f" {version}"):
            raise DriverError(f"{host}: the agent answered {said[:200]!r} to install {version}")
        now = await self.installed(host)
        if now != version:
            raise DriverError(f"{host}: the agent reports {now!r} after installing {version}")


def build_agent(settings: AgentSettings, context: DriverContext) -> HttpAgentInstaller:
    """The installer of one application asset."""
    if not isinstance(context.asset, Application):
        raise DriverError("the http_agent driver installs application assets")
    return HttpAgentInstaller(settings, context.inventory)


DRIVER = DriverSpec(
    kind=DriverKind.APP_INSTALLER,
    name="http_agent",
    config=AgentSettings,
    factory=build_agent,
    summary="an agent inside each host installs the version over HTTP (GET id, POST install)",
)
"""The entry point ``app_installer.http_agent``."""
