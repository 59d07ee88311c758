"""Golden cases of the apt facts: raw command output in, parsed value out (no SSH)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patchwarden.drivers import apt

CASES = sorted((Path(__file__).parents[1] / "golden" / "apt").glob("*.json"))


def _reboot(text: str) -> dict[str, Any]:
    state = apt.parse_reboot_required(text)
    return {"required": state.required, "packages": list(state.packages)}


FACTS: dict[str, Callable[[str], Any]] = {
    "dpkg_query": lambda text: apt.installed_versions(apt.parse_dpkg_query(text)),
    # Real dpkg-query output on Debian 12: binNMUs (+b8), epochs only the binary carries
    # (bsdutils 1:...), a binary versioned apart from its source (cpp of gcc-defaults).
    "dpkg_query_sources": lambda text: {
        name: list(source)
        for name, source in apt.installed_sources(apt.parse_dpkg_query(text)).items()
    },
    "reboot_required": _reboot,
    "holds": lambda text: sorted(apt.parse_holds(text)),
    "os_release": apt.parse_os_release,
}


def test_there_are_cases_for_every_fact() -> None:
    assert {json.loads(c.read_text())["fact"] for c in CASES} == set(FACTS)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert FACTS[data["fact"]](data["input"]) == data["expected"]


def test_install_command_is_an_exact_argument_vector() -> None:
    argv = apt.install_command({"openssl": "3.0.15-1~deb12u1", "libssl3": "3.0.15-1~deb12u1"})
    assert argv[:5] == ["apt-get", "install", "-y", "-q", "--allow-downgrades"]
    assert "Dpkg::Options::=--force-confold" in argv
    assert argv[-2:] == ["openssl=3.0.15-1~deb12u1", "libssl3=3.0.15-1~deb12u1"]


@pytest.mark.parametrize(
    "name,version", [("-oAPT::x=1", "1"), ("a=b", "1"), ("", "1"), ("openssl", ""), ("x", "1 2")]
)
def test_install_command_refuses_targets_apt_would_read_as_options(name: str, version: str) -> None:
    with pytest.raises(apt.DriverError):
        apt.install_command({name: version})
