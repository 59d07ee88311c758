"""What the CLI-level traffic tests share: advisories, the inventory, running patchwarden.

Each test writes an inventory (the lab's hosts as ``lab up`` wrote them, plus the HAProxy in
front of them), a campaign and Debian-style advisories, then runs ``patchwarden`` as its own
process, as a person would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from patchwarden.store import open_store
from patchwarden.testing.traffic import LB_ID, TrafficLab

# Rated critical so the policy patches now.
CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def dsa(number: int, package: str, fixed: str = "1.0-2", **specific: Any) -> dict[str, Any]:
    """One advisory in Debian's OSV layout: ``package`` fixed in ``fixed``."""
    return {
        "id": f"DSA-{number}-1",
        "summary": f"{package} - security update",
        "aliases": [f"CVE-2026-{number + 40000}"],
        "modified": "2026-11-20T08:14:11Z",
        "published": "2026-11-19T00:00:00Z",
        "severity": CRITICAL,
        "database_specific": specific,
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


def write_inventory(
    traffic: TrafficLab, path: Path, *, blue_green: bool = False, metrics: bool = True
) -> None:
    """The lab's hosts plus the HAProxy, its pool measured by the request log if ``metrics``."""
    data: dict[str, Any] = yaml.safe_load(traffic.lab.inventory_path.read_text())
    setup = traffic.setup
    pool_config: dict[str, Any] = {"backend": "web"}
    pool: dict[str, Any] = {"name": "web", "members": traffic.hosts}
    if blue_green:
        blue, green = setup.sides()
        pool = {"name": "web", "blue_green": {"blue": list(blue), "green": list(green),
                                              "active": "green"}}  # fmt: skip
        pool_config = {"map": str(setup.map_file)}
    if metrics:
        pool_config["metrics"] = {"log": setup.run_log}
    data["assets"].append(
        {
            "id": LB_ID,
            "kind": "load_balancer",
            "env": traffic.lab.config.env,
            "driver": "haproxy",
            "driver_config": {"socket": str(setup.socket), "pools": {"web": pool_config}},
            "pools": [pool],
        }
    )
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``patchwarden ARGS`` as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "patchwarden", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def prepare(
    traffic: TrafficLab,
    tmp_path: Path,
    campaign: str,
    advisories: list[dict[str, Any]],
    **inventory: Any,
) -> tuple[dict[str, str], Path, Path]:
    """Lab reset; inventory, campaign and advisories written and imported; hosts scanned."""
    traffic.reset()
    inventory_file, campaign_file = tmp_path / "inventory.yaml", tmp_path / "campaign.yaml"
    feed = tmp_path / "dsa.json"
    write_inventory(traffic, inventory_file, **inventory)
    campaign_file.write_text(campaign)
    feed.write_text(json.dumps(advisories))
    env = {
        **os.environ,
        "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}",
        "PATCHWARDEN_SSH_KEY": str(traffic.lab.key_path),
        "PATCHWARDEN_SSH_KNOWN_HOSTS": str(traffic.lab.known_hosts),
        "COLUMNS": "160",
    }
    for argv in (["inventory", "validate", str(inventory_file)], ["feeds", "import", str(feed)],
                 ["scan", "-i", str(inventory_file)]):  # fmt: skip
        done = cli(env, *argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return env, inventory_file, campaign_file


def journal(env: dict[str, str], run_id: str = "") -> tuple[str, list[Any]]:
    """The run's state and its journal records (the latest run by default)."""
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.get_run(run_id) if run_id else store.latest_run()
        assert run is not None
        return run.state, list(store.events(run.id))
