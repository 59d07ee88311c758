"""Golden cases of the rpm, apk and CycloneDX facts: raw output in, parsed value out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patchwarden.drivers import apk, rpm, sbom
from patchwarden.errors import InputError

GOLDEN = Path(__file__).parents[1] / "golden"
CASES = sorted(p for d in ("rpm", "apk", "sbom") for p in (GOLDEN / d).glob("*.json"))


def _needs_restarting(data: dict[str, Any]) -> Any:
    state = rpm.parse_needs_restarting(data["exit_status"], data["input"])
    return None if state is None else {"required": state.required, "packages": list(state.packages)}


def _cyclonedx(data: dict[str, Any]) -> Any:
    contents = sbom.parse_cyclonedx(json.dumps(data["input"]))
    return {
        "subject": contents.subject,
        "serial": contents.serial,
        "created": contents.created,
        "by_ecosystem": {
            eco: {name: list(versions) for name, versions in names.items()}
            for eco, names in contents.by_ecosystem().items()
        },
        "skipped": list(contents.skipped),
    }


FACTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "rpm_query": lambda d: rpm.installed_versions(rpm.parse_rpm_query(d["input"])),
    "rpm_query_sources": lambda d: {
        name: list(source)
        for name, source in rpm.installed_sources(rpm.parse_rpm_query(d["input"])).items()
    },
    "needs_restarting": _needs_restarting,
    "apk_info": lambda d: apk.parse_apk_info(d["input"]),
    "cyclonedx": _cyclonedx,
}


def test_there_are_cases_for_every_fact() -> None:
    assert {json.loads(c.read_text())["fact"] for c in CASES} == set(FACTS)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.stem}" for c in CASES])
def test_golden(case: Path) -> None:
    data = json.loads(case.read_text())
    assert FACTS[data["fact"]](data) == data["expected"]


def test_rpm_query_is_an_argument_vector_and_reads_other_roots() -> None:
    assert rpm.rpm_query()[:3] == ["rpm", "-qa", "--queryformat"]
    assert rpm.rpm_query("/mnt/img")[:4] == ["rpm", "--root", "/mnt/img", "-qa"]


@pytest.mark.parametrize(
    "text", ["", "musl", "musl-1.2", "-1.0-r0", "name-v1.0-r1", "busybox-1.36.1-rX"]
)
def test_apk_lines_that_are_not_packages_are_refused(text: str) -> None:
    assert apk.split_apk_package(text) is None


@pytest.mark.parametrize(
    "text,reason",
    [
        ("not json", "not JSON"),
        ('{"bomFormat": "SPDX"}', "not a CycloneDX"),
        ("[]", "not a CycloneDX"),
    ],
)
def test_documents_that_are_not_cyclonedx_are_input_errors(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as caught:
        sbom.parse_cyclonedx(text, "app.cdx.json")
    assert "app.cdx.json" in str(caught.value)


@pytest.mark.parametrize(
    "purl,expected",
    [
        ("pkg:npm/@angular/core@16.2.0", ("npm", "@angular/core", "16.2.0")),
        ("pkg:golang/github.com/gorilla/mux@v1.8.0", ("Go", "github.com/gorilla/mux", "1.8.0")),
        (
            "pkg:rpm/almalinux/bind@9.16.23-14.el9?epoch=32&distro=almalinux-9.3",
            ("AlmaLinux:9", "bind", "32:9.16.23-14.el9"),
        ),
        ("pkg:apk/alpine/musl@1.2.4-r2?distro=3.19.1", ("Alpine:v3.19", "musl", "1.2.4-r2")),
        (
            "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15?distro=ubuntu-22.04",
            ("Ubuntu:22.04", "openssl", "3.0.2-0ubuntu1.15"),
        ),
        ("pkg:cargo/smallvec@1.6.0", ("crates.io", "smallvec", "1.6.0")),
        ("pkg:composer/laravel/framework@8.0.0", ("Packagist", "laravel/framework", "8.0.0")),
    ],
)
def test_purls_map_to_osv_ecosystems_and_names(purl: str, expected: tuple[str, str, str]) -> None:
    assert sbom.purl_package(sbom.parse_purl(purl)) == expected
