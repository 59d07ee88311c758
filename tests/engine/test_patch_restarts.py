"""The patch step restarts (or reports) services still running files the update replaced.

The apt and dnf drivers run over a :class:`MockTransport` that answers as the hosts' tools
do (``needrestart -b``, ``needs-restarting -s`` in their documented formats): the driver
code, the routing by package manager and the step are what is tested here. The campaign
setting reaches the plan, and plans that do not restart keep the hash they had.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from patchwarden.domain.campaign import Campaign
from patchwarden.domain.plan import Step, StepAction
from patchwarden.domain.steps import PatchParams
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.dnf import DnfDriver
from patchwarden.drivers.packages import HostPackages
from patchwarden.drivers.restarts import NEEDRESTART
from patchwarden.engine.drivers import Drivers
from patchwarden.engine.machine import Work
from patchwarden.engine.steps import StepExecutor
from patchwarden.planning.steps import with_restarts
from patchwarden.testing import Command, MockTransport, Reply

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class FakeHost:
    """Installed versions and outdated services of one Debian or RHEL host."""

    family: str
    installed: dict[str, str]
    outdated: list[str] = field(default_factory=list)
    restarted: list[list[str]] = field(default_factory=list)
    has_tool: bool = True

    def answer(self, argv: tuple[str, ...]) -> Reply:
        if argv[0] == "dpkg-query":
            lines = [f"{n}\tamd64\t{v}\tii \t{n}\t{v}" for n, v in self.installed.items()]
            return Reply("\n".join(lines) + "\n")
        if argv[0] == "apt-mark":
            return Reply("")
        if argv[0] == "rpm":
            return Reply("")  # an empty database: nothing to install in these cases
        if argv[:2] == ("apt-get", "install"):
            for pin in argv:
                if "=" in pin and not pin.startswith("-") and "::" not in pin:
                    name, version = pin.split("=", 1)
                    self.installed[name] = version
            self.outdated = ["nginx.service", "ssh.service"]  # they map the old libssl
            return Reply("")
        if argv == NEEDRESTART and self.has_tool:
            svc = "".join(f"NEEDRESTART-SVC: {u}\n" for u in self.outdated)
            return Reply(f"NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 1\n{svc}")
        if argv[:2] == ("needs-restarting", "-s") and self.has_tool:
            return Reply("".join(f"{u}\n" for u in self.outdated))
        if argv[:2] == ("systemctl", "restart"):
            self.restarted.append(list(argv[2:]))
            self.outdated = [u for u in self.outdated if u not in argv[2:]]
            return Reply("")
        return Reply(exit_status=127, stderr=f"{argv[0]}: not found")


def _executor(hosts: dict[str, FakeHost]) -> StepExecutor:
    async def handler(command: Command) -> Reply:
        return hosts[command.host].answer(command.argv)

    transport = MockTransport(handler)
    packages = HostPackages(
        {h: ("apt" if f.family == "debian" else "dnf") for h, f in hosts.items()},
        {"apt": AptDriver(transport), "dnf": DnfDriver(transport)},
    )
    drivers = Drivers(
        clock=None,  # type: ignore[arg-type]  # the patch step reads no clock
        packages=packages,
        power=None,  # type: ignore[arg-type]  # nor powers off
        health=None,  # type: ignore[arg-type]  # nor checks health
        load_balancers={},
    )
    return StepExecutor(drivers)


def _patch(host: str, packages: dict[str, str], restart: str) -> Work:
    # restart is a Literal; the tests pass it as a plain str
    params = PatchParams(packages=tuple(packages.items()), restart=restart)  # type: ignore[arg-type]
    step = Step(id=f"u/{host}/00-patch", target=host, params=params)
    return Work(step=step, unit_id=f"u/{host}")


async def _observe(_: dict[str, Any]) -> None:
    return None


def test_restart_mode_restarts_what_needrestart_lists_then_asks_again() -> None:
    host = FakeHost("debian", {"libssl3": "3.0.11-1~deb12u2"})
    executor = _executor({"web-1": host})
    work = _patch("web-1", {"libssl3": "3.0.15-1~deb12u1"}, "restart")
    result = asyncio.run(executor.run(work, _observe))
    assert host.restarted == [["nginx.service", "ssh.service"]]
    assert result["restarted"] == ["nginx.service", "ssh.service"]
    assert result["services_to_restart"] == [], "none left after the restart"
    assert result["installed"] == {"libssl3": "3.0.15-1~deb12u1"}


def test_report_mode_only_journals_the_services() -> None:
    host = FakeHost("rhel", {})
    host.outdated = ["sshd.service"]
    executor = _executor({"db-1": host})
    result = asyncio.run(executor.run(_patch("db-1", {}, "report"), _observe))
    assert result["services_to_restart"] == ["sshd.service"]
    assert host.restarted == [] and "restarted" not in result


def test_a_host_without_the_tool_is_unknown_not_clean() -> None:
    host = FakeHost("debian", {}, has_tool=False)
    result = asyncio.run(_executor({"h": host}).run(_patch("h", {}, "restart"), _observe))
    assert result["services_to_restart"] == "unknown" and host.restarted == []


def test_the_campaign_setting_reaches_every_patch_step_and_default_plans_keep_their_hash() -> None:
    plain = PatchParams(packages=(("openssl", "3.0.15-1~deb12u1"),))
    assert "restart" not in plain.model_dump(mode="json"), "default left out: same hash"
    campaign = Campaign.model_validate(
        {
            "name": "c",
            "restart_services": "restart",
            "groups": {
                "web": {"select": {"role": "web"}, "strategy": "rolling"},
                "db": {
                    "select": {"role": "db"},
                    "strategy": "rolling",
                    "restart_services": "report",
                },
            },
        }
    )
    assert campaign.restart_services == "restart"
    assert campaign.groups["db"].restart_services == "report"
    with pytest.raises(ValueError, match="restart_services"):
        Campaign.model_validate({"name": "c", "restart_services": "sometimes", "groups": {}})


def test_with_restarts_changes_only_patch_steps() -> None:
    from patchwarden.domain.plan import Batch, Unit
    from patchwarden.planning.steps import host_unit

    unit: Unit = host_unit("prod.web", "web-1", (("openssl", "3.0.15-1~deb12u1"),), True)
    (batch,) = with_restarts([Batch(id="b", units=(unit,))])
    changed = batch.units[0]
    assert [s.id for s in changed.steps] == [s.id for s in unit.steps]
    for before, after in zip(unit.steps, changed.steps, strict=True):
        if before.action is StepAction.PATCH:
            assert isinstance(after.params, PatchParams) and after.params.restart == "restart"
        else:
            assert after == before
    assert changed.rollback == unit.rollback


def test_plan_campaign_sets_restart_by_the_campaign_and_its_groups() -> None:
    from patchwarden.assess.assessment import assess
    from patchwarden.planning.plan import plan_campaign
    from patchwarden.service.sources import demo_advisories, demo_campaign, demo_inventory

    inventory, advisories = demo_inventory().inventory, demo_advisories()
    found = assess(inventory, advisories, NOW)
    by_id = {a.id: a for a in advisories}

    def modes(campaign: Campaign) -> dict[str, set[str]]:
        plan = plan_campaign(inventory, campaign, found.decisions, by_id, found.fixes, NOW)
        out: dict[str, set[str]] = {}
        for wave in plan.waves:
            for unit in (u for b in wave.batches for u in b.units):
                for step in unit.steps:
                    if isinstance(step.params, PatchParams):
                        out.setdefault(wave.group, set()).add(step.params.restart)
        return out

    base = demo_campaign()
    assert set().union(*modes(base).values()) == {"report"}
    some_group = next(iter(modes(base)))
    groups = {
        name: spec.model_copy(update={"restart_services": "report"}) if name == some_group else spec
        for name, spec in base.groups.items()
    }
    restarting = base.model_copy(update={"restart_services": "restart", "groups": groups})
    got = modes(restarting)
    assert got.pop(some_group) == {"report"}, "a group's own choice wins"
    assert got and set().union(*got.values()) == {"restart"}
