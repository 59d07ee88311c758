"""The http_agent application installer against an in-memory agent (httpx.MockTransport).

The agent here keeps its version in a dict, as the lab guest's agent keeps it on its disk;
the lab test (``tests/lab/test_snapshots_real.py``) runs the real one inside a VM.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.app_agent import AgentSettings, HttpAgentInstaller
from patchwarden.drivers.registry import REGISTRY, DriverKind
from patchwarden.errors import DriverError

INVENTORY = Inventory.model_validate({
    "assets": [
        {"id": "vm-1", "kind": "vm", "env": "dev", "connection": {"address": "10.0.0.5"}},
        {"id": "vm-2", "kind": "vm", "env": "dev"},
    ]
})  # fmt: skip


def agent(lying: bool = False) -> tuple[dict[str, str], httpx.MockTransport]:
    state = {"version": "1.0-1"}

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "10.0.0.5"
        if request.url.path == "/cgi-bin/id" and request.method == "GET":
            return httpx.Response(200, text=f"name vm-1\napp_version {state['version']}\n")
        if request.url.path == "/cgi-bin/install" and request.method == "POST":
            version = request.url.params["version"]
            if not lying:
                state["version"] = version
            return httpx.Response(200, text=f"installed pw-app {version}\n")
        return httpx.Response(404)

    return state, httpx.MockTransport(handle)


def installer(transport: httpx.MockTransport) -> HttpAgentInstaller:
    settings = AgentSettings(url="http://{address}/cgi-bin/")
    return HttpAgentInstaller(settings, INVENTORY, transport)


def test_installs_through_the_agent_and_reads_the_version_back() -> None:
    state, transport = agent()
    driver = installer(transport)
    assert asyncio.run(driver.installed("vm-1")) == "1.0-1"
    asyncio.run(driver.install("vm-1", "1.0-2+b1"))
    assert state["version"] == "1.0-2+b1"
    assert asyncio.run(driver.installed("vm-1")) == "1.0-2+b1"


def test_an_agent_that_says_installed_but_did_not_fails_the_install() -> None:
    _, transport = agent(lying=True)
    with pytest.raises(DriverError, match="reports '1.0-1' after installing 1.0-2"):
        asyncio.run(installer(transport).install("vm-1", "1.0-2"))


def test_unsafe_versions_and_hosts_without_an_address_are_refused() -> None:
    state, transport = agent()
    with pytest.raises(DriverError, match="not a plain version"):
        asyncio.run(installer(transport).install("vm-1", "1.0&x=1"))
    assert state["version"] == "1.0-1"
    with pytest.raises(DriverError, match="vm-2: its connection has no address"):
        asyncio.run(installer(transport).installed("vm-2"))


def test_registered_with_a_validated_url() -> None:
    spec = REGISTRY.spec(DriverKind.APP_INSTALLER, "http_agent")
    assert spec.config is AgentSettings
    with pytest.raises(ValueError, match="url"):
        AgentSettings.model_validate({"url": "http://10.0.0.5/cgi-bin/"})
