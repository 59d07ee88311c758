"""Golden cases of the restart facts: raw tool output in, services to restart out (no SSH)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from patchwarden.drivers import restarts
from patchwarden.errors import DriverError

CASES = sorted((Path(__file__).parents[1] / "golden" / "restarts").glob("*.json"))

PARSERS: dict[str, Callable[[int, str], restarts.RestartNeeds | None]] = {
    "needrestart": restarts.parse_needrestart,
    "services": restarts.parse_services,
}


def _value(needs: restarts.RestartNeeds | None) -> Any:
    if needs is None:
        return None
    return {**asdict(needs), "kernel_pending": needs.kernel_pending}


def test_there_are_cases_for_every_fact() -> None:
    assert {json.loads(c.read_text())["fact"] for c in CASES} == set(PARSERS)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    parsed = PARSERS[data["fact"]](data["exit_status"], data["input"])
    assert json.loads(json.dumps(_value(parsed))) == data["expected"]


def test_commands_are_argument_vectors() -> None:
    assert restarts.NEEDRESTART == ("needrestart", "-b")
    assert restarts.NEEDS_RESTARTING_SERVICES == ("needs-restarting", "-s")
    assert restarts.restart_command(["ssh.service"]) == ["systemctl", "restart", "ssh.service"]


@pytest.mark.parametrize("units", [[], ["--now"], ["ssh.service; reboot"], ["ssh service"]])
def test_restart_refuses_what_is_not_a_unit_name(units: list[str]) -> None:
    with pytest.raises(DriverError):
        restarts.restart_command(units)
