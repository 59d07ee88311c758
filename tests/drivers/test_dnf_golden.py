"""Golden cases of the dnf facts: raw dnf output in, parsed value out (no dnf needed)."""

from __future__ import annotations

import dataclasses
import doctest
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patchwarden.domain.assets import Connection, OsInfo, Vm
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers import dnf as dnf_module
from patchwarden.drivers import dnf_facts, dnf_holds
from patchwarden.drivers.apt import AptDriver
from patchwarden.drivers.dnf import DnfConfig, DnfDriver
from patchwarden.drivers.real import real_drivers
from patchwarden.errors import DriverError

CASES = sorted((Path(__file__).parents[1] / "golden" / "dnf").glob("*.json"))


def _history_info(text: str) -> dict[str, Any]:
    try:
        info = dnf_facts.parse_history_info(text)
    except DriverError:
        return {"error": True}
    return {
        "id": info.id,
        "return_code": info.return_code,
        "comment": info.comment,
        "succeeded": info.succeeded,
        "packages": [dataclasses.asdict(p) for p in info.packages],
    }


FACTS: dict[str, Callable[[str], Any]] = {
    "history_list": lambda text: [
        dataclasses.asdict(e) for e in dnf_facts.parse_history_list(text)
    ],
    "history_info": _history_info,
    "versionlock_list": lambda text: [
        dataclasses.asdict(lock) for lock in dnf_holds.parse_versionlock_list(text)
    ],
    "config_excludes": lambda text: list(dnf_holds.parse_config_excludes(text)),
    "install_failure": lambda text: list(dnf_facts.classify_install_failure(text)),
}


COMMANDS: dict[str, Callable[[list[str]], list[str]]] = {
    "history_list": dnf_facts.history_list_command,
    "history_info": dnf_facts.history_info_command,
    "versionlock_list": dnf_holds.versionlock_list_command,
    "config_excludes": dnf_holds.config_dump_command,
    "install_failure": lambda options: dnf_facts.install_command(
        options, "patchwarden 1", ["pw-tool-1.0-2.noarch"]
    ),
}
"""The command whose output each fact's parser reads, built beside it in dnf_facts."""


def test_every_fact_is_a_command_and_a_parser_with_the_configs_options() -> None:
    assert set(COMMANDS) == set(FACTS)
    options = DnfConfig(installroot="/srv/r", repos={"lab": "file:///srv/repo"}).options()
    for fact, command in COMMANDS.items():
        argv = command(options)
        assert argv[:2] == ["dnf", "-y"], fact
        assert argv[argv.index("--installroot=/srv/r") :][: len(options)] == options, fact


def test_command_builders_refuse_what_would_turn_into_an_option() -> None:
    with pytest.raises(DriverError):
        dnf_facts.history_info_command([], "1 --setopt=x")
    with pytest.raises(DriverError):
        dnf_facts.install_command([], "c", ["--nogpgcheck"])
    with pytest.raises(DriverError):
        dnf_facts.remove_command([], ["pw-tool", "-y"])
    assert dnf_facts.remove_command([], ["pw-tool"])[-2:] == ["remove", "pw-tool"]
    assert dnf_facts.history_undo_command([], 12)[-3:] == ["history", "undo", "12"]


def test_there_are_cases_for_every_fact() -> None:
    assert {json.loads(c.read_text())["fact"] for c in CASES} == set(FACTS)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert FACTS[data["fact"]](data["input"]) == data["expected"]


@pytest.mark.parametrize(
    "text,name,evr,arch",
    [
        ("pw-tool-1.0-1.noarch", "pw-tool", "1.0-1", "noarch"),
        ("openssl-1:3.0.7-24.el9.x86_64", "openssl", "1:3.0.7-24.el9", "x86_64"),
        ("bash-0:5.1.8-9.el9.x86_64", "bash", "5.1.8-9.el9", "x86_64"),
        ("python3.11-libs-3.11.5-1.el9_3.i686", "python3.11-libs", "3.11.5-1.el9_3", "i686"),
    ],
)
def test_parse_nevra(text: str, name: str, evr: str, arch: str) -> None:
    assert dnf_facts.parse_nevra(text) == dnf_facts.Nevra(name, evr, arch)


@pytest.mark.parametrize("text", ["pw-tool", "pw-tool-1.0", "-1.0-1.noarch", "pw-tool-1.0-1"])
def test_parse_nevra_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(DriverError):
        dnf_facts.parse_nevra(text)


def test_nevra_spec_round_trips_and_pins_the_arch() -> None:
    spec = dnf_facts.nevra_spec("openssl", "1:3.0.7-24.el9", "x86_64")
    assert spec == "openssl-1:3.0.7-24.el9.x86_64"
    assert dnf_facts.parse_nevra(spec).evr == "1:3.0.7-24.el9"
    assert dnf_facts.nevra_spec("pw-tool", "1.0-1") == "pw-tool-1.0-1"


@pytest.mark.parametrize(
    "name,evr,arch",
    [
        ("--setopt=x", "1", None),
        ("pw-tool", "--nogpgcheck", None),
        ("pw-*", "1.0-1", None),
        ("pw-tool", "1.0-*", None),
        ("pw-tool", "1.0 -1", None),
        ("pw-tool", "1.0-1", "x86_64 --x"),
        ("", "1.0-1", None),
    ],
)
def test_nevra_spec_refuses_options_globs_and_spaces(name: str, evr: str, arch: str | None) -> None:
    with pytest.raises(DriverError):
        dnf_facts.nevra_spec(name, evr, arch)


def test_holds_from_locks_and_excludes() -> None:
    locks = dnf_holds.parse_versionlock_list("pw-tool-0:1.0-1.*\n!pw-web-0:1.0-3.*\n")
    assert dnf_holds.held_by_locks(locks, "pw-tool", "1.0-2")
    assert not dnf_holds.held_by_locks(locks, "pw-tool", "1.0-1")
    assert not dnf_holds.held_by_locks(locks, "pw-tool", "0:1.0-1")
    assert dnf_holds.held_by_locks(locks, "pw-web", "1.0-3"), "an excluded version"
    assert not dnf_holds.held_by_locks(locks, "pw-web", "1.0-2")
    assert not dnf_holds.held_by_locks(locks, "pw-other", "9-9")
    excludes = ("kernel*", "pw-tool-1.0-2")
    assert dnf_holds.held_by_excludes(excludes, "kernel-core", "5.14.0-362.el9", "x86_64")
    assert dnf_holds.held_by_excludes(excludes, "pw-tool", "1.0-2")
    assert not dnf_holds.held_by_excludes(excludes, "pw-tool", "1.0-1")


def test_config_options_are_argument_vectors_and_names_are_checked() -> None:
    config = DnfConfig(
        installroot="/srv/root",
        repos={"lab": "file:///srv/repo"},
        setopt={"install_weak_deps": "False"},
        releasever="9",
        gpgcheck=False,
    )
    assert config.options() == [
        "--installroot=/srv/root",
        "--disablerepo=*",
        "--repofrompath=lab,file:///srv/repo",
        "--enablerepo=lab",
        "--setopt=install_weak_deps=False",
        "--releasever=9",
        "--nogpgcheck",
    ]
    assert DnfConfig().options() == []
    for bad in ("-x", "a b", "a=b", ""):
        with pytest.raises(DriverError):
            DnfConfig(setopt={bad: "1"})


def test_real_drivers_route_rhel_family_hosts_to_dnf() -> None:
    local = Connection(transport="local")
    inventory = Inventory(
        assets=(
            Vm(id="rocky-1", kind="vm", env="dev", os=OsInfo(family="rocky"), connection=local),
            Vm(id="deb-1", kind="vm", env="dev", os=OsInfo(family="debian"), connection=local),
            Vm(id="bare-1", kind="vm", env="dev", connection=local),
        )
    )
    real = real_drivers(inventory)
    assert isinstance(real.packages_for("rocky-1"), DnfDriver)
    assert isinstance(real.packages_for("deb-1"), AptDriver)
    assert isinstance(real.packages_for("bare-1"), AptDriver), "no os: apt, as before"


@pytest.mark.parametrize(
    "module", [dnf_facts, dnf_holds, dnf_module], ids=["dnf_facts", "dnf_holds", "dnf"]
)
def test_docstring_examples_run(module: Any) -> None:
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
