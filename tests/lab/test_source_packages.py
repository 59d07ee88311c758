"""A Debian advisory for source ``openssl`` finds and patches the host's ``libssl3``.

The lab repository carries ``libssl3`` and ``openssl``, real ``.deb`` binaries of one
source package ``openssl``; ``libssl3 3.0.11-1~deb12u2+b1`` is a binNMU, so its own
version is not its source's. The record is laid out as osv.dev publishes Debian's: it names
the source only. Everything runs through the command line, as processes of their own:
``feeds import``, ``scan``, ``assess``, ``apply campaign.yaml --real``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchwarden.drivers.real import RealDrivers
from patchwarden.testing.lab import Lab
from patchwarden.testing.lab_session import LoopThread

HOST = "lab-01"
VULNERABLE = {"libssl3": "3.0.11-1~deb12u2+b1", "openssl": "3.0.11-1~deb12u2"}
FIXED = "3.0.15-1~deb12u1"

OPENSSL_DSA = {
    "schema_version": "1.6.0",
    "id": "DSA-9950-1",
    "summary": "openssl - security update",
    "aliases": ["CVE-2026-49950"],
    "modified": "2026-11-20T08:14:11Z",
    "published": "2026-11-19T00:00:00Z",
    # Rated critical, so the default policy patches it in the next run.
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {
                "ecosystem": "Debian:12",
                "name": "openssl",
                "purl": "pkg:deb/debian/openssl?arch=source",
            },
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": FIXED}]}],
        }
    ],
}

CAMPAIGN = """\
name: openssl
groups:
  web: {select: {role: web}, strategy: rolling, max_unavailable: 1}
"""


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def vulnerable(real: RealDrivers, loop: LoopThread, reset: Callable[..., None]) -> Iterator[None]:
    """lab-01 with the vulnerable openssl binaries; removed again afterwards."""
    reset("lab-01", "lab-02", "lab-03", "lab-04")
    loop.run(real.packages.install(HOST, VULNERABLE))
    try:
        yield
    finally:
        purge = loop.run(real.transport.run(HOST, ["dpkg", "--purge", *VULNERABLE]))
        assert purge.ok, purge.stderr


@pytest.mark.timeout(300)
def test_an_advisory_for_source_openssl_finds_and_patches_libssl3(
    lab: Lab, real: RealDrivers, loop: LoopThread, vulnerable: None, tmp_path: Path
) -> None:
    env = lab.cli_env(f"sqlite:///{tmp_path / 'pw.db'}")
    record, campaign = tmp_path / "dsa.json", tmp_path / "campaign.yaml"
    record.write_text(json.dumps(OPENSSL_DSA))
    campaign.write_text(CAMPAIGN)
    inventory = str(lab.inventory_path)
    for argv in (["feeds", "import", str(record)], ["scan", "-i", inventory]):
        done = _cli(env, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)

    assessed = _cli(env, "assess", "-i", inventory, "--format", "json")
    assert assessed.returncode == 0, assessed.stderr
    found = sorted(
        (r["asset_id"], r["package"], r["installed"], r["fixed"], r["source"], r["source_version"])
        for r in json.loads(assessed.stdout)
    )
    # libssl3 has no advisory of its own name: only its source brings it in. Its binNMU
    # version is read from dpkg as installed, its source version from ${source:Version}.
    assert found == [
        (HOST, "libssl3", VULNERABLE["libssl3"], FIXED, "openssl", "3.0.11-1~deb12u2"),
        (HOST, "openssl", VULNERABLE["openssl"], FIXED, "", ""),
    ]

    applied = _cli(env, "apply", str(campaign), "-i", inventory, "--real")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    installed = loop.run(real.packages.installed(HOST, list(VULNERABLE)))
    assert installed == {"libssl3": FIXED, "openssl": FIXED}, "the binaries were upgraded"
    for other in ("lab-02", "lab-03", "lab-04"):
        assert loop.run(real.packages.installed(other, list(VULNERABLE))) == {}, other

    done = _cli(env, "scan", "-i", inventory)
    assert done.returncode == 0, done.stderr
    again = _cli(env, "assess", "-i", inventory, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout) == [], "nothing left exposed"
