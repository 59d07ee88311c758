"""Strategies under load through the command line: ``patchwarden apply --real`` as a user runs it.

Where :mod:`patchwarden.testing.traffic_scenarios` drives the engine from Python, this
module writes what a user writes (the inventory with the lab's HAProxy, a campaign, the
advisories), runs ``patchwarden inventory validate``, ``feeds import``, ``scan`` and
``apply --real`` as processes of their own while the load generator runs, and reads the
outcome back from the store, as ``patchwarden status`` does.

Example (as root, the traffic lab up)::

    run = run_cli_strategy(traffic, Path("/tmp/bench"), "canary", version="1.0-5",
                           canary=1, analysis_s=5)
    print(run.summary())   # {'requests': ..., 'failed': ..., 'rolled_back': True, ...}
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from patchwarden.store import open_store
from patchwarden.testing.traffic import LB_ID, TrafficLab
from patchwarden.testing.traffic_load import LoadProcess, LoadReport

__all__ = [
    "REQUIRE_CHANGE",
    "CliTrafficRun",
    "advisory",
    "apply_approved",
    "cli",
    "cli_env",
    "journal",
    "kill_apply_when",
    "prepare",
    "run_cli_strategy",
    "run_status",
    "submit_and_approve",
    "write_inventory",
]

REQUIRE_CHANGE = "change: {required_for: [dev]}\n"
"""A campaign line that makes the lab's hosts (``dev``) need an approved change, as prod does."""

# Rated critical so the policy patches now.
CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]


def advisory(number: int, package: str, fixed: str = "1.0-2", **specific: Any) -> dict[str, Any]:
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
    """The lab's hosts (as ``lab up`` wrote them) plus its HAProxy, measured if ``metrics``."""
    data: dict[str, Any] = yaml.safe_load(traffic.lab.inventory_path.read_text())
    setup = traffic.setup
    pool_config: dict[str, Any] = {"backend": "web"}
    pool: dict[str, Any] = {"name": "web", "members": traffic.hosts}
    if blue_green:
        blue, green = setup.sides()
        sides = {"blue": list(blue), "green": list(green), "active": "green"}
        pool = {"name": "web", "blue_green": sides}
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


def cli_env(traffic: TrafficLab, work: Path) -> dict[str, str]:
    """The environment a user's shell would have: a store of its own, the lab's SSH key."""
    return traffic.lab.cli_env(f"sqlite:///{work / 'pw.db'}")


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


def submit_and_approve(env: dict[str, str], campaign: Path, inventory: Path) -> str:
    """A change as people make it; returns its label (``CHG-N``).

    ``change submit --as alice``; her own ``change approve`` refused (four eyes);
    ``change approve --as bob``.

    Raises:
        RuntimeError: A command failed, or alice's own approval was not refused.
    """
    submitted = cli(env, "change", "submit", str(campaign), "-i", str(inventory), "--as", "alice")
    found = re.search(r"CHG-(\d+)", submitted.stdout)
    if submitted.returncode != 0 or found is None:
        raise RuntimeError(f"patchwarden change submit: {submitted.stdout}{submitted.stderr}")
    number = found.group(1)
    own = cli(env, "change", "approve", number, "--as", "alice")
    if own.returncode != 2:
        raise RuntimeError(f"the requester approved her own change: {own.stdout}{own.stderr}")
    approved = cli(env, "change", "approve", number, "--as", "bob")
    if approved.returncode != 0:
        raise RuntimeError(f"patchwarden change approve: {approved.stdout}{approved.stderr}")
    return f"CHG-{number}"


def apply_approved(
    env: dict[str, str], campaign: Path, inventory: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """:func:`submit_and_approve`, then ``patchwarden apply CAMPAIGN -i INVENTORY --real``."""
    label = submit_and_approve(env, campaign, inventory)
    applied = cli(env, "apply", str(campaign), "-i", str(inventory), "--real", timeout=timeout)
    if applied.returncode != 2 and f"{label} approved by bob" not in applied.stdout:
        raise RuntimeError(f"apply --real did not run under {label}: {applied.stdout}")
    return applied


def run_status(env: dict[str, str], run_id: str = "") -> dict[str, Any]:
    """``patchwarden status [RUN] --format json``, read.

    Raises:
        RuntimeError: The command failed.
    """
    done = cli(env, "status", *([run_id] if run_id else []), "--format", "json")
    if done.returncode != 0:
        raise RuntimeError(f"patchwarden status: {done.stdout}{done.stderr}")
    status: dict[str, Any] = json.loads(done.stdout)
    return status


def prepare(
    traffic: TrafficLab,
    work: Path,
    campaign: str,
    advisories: list[dict[str, Any]],
    **inventory: Any,
) -> tuple[dict[str, str], Path, Path]:
    """Lab reset; inventory, campaign and advisories written and imported; hosts scanned.

    The campaign needs an approved change (:data:`REQUIRE_CHANGE`), so runs go through
    :func:`apply_approved` as people's do.

    Raises:
        RuntimeError: A command failed (its output says why).
    """
    traffic.reset()
    work.mkdir(parents=True, exist_ok=True)
    inventory_file, campaign_file = work / "inventory.yaml", work / "campaign.yaml"
    feed = work / "dsa.json"
    write_inventory(traffic, inventory_file, **inventory)
    campaign_file.write_text(campaign if "\nchange:" in campaign else campaign + REQUIRE_CHANGE)
    feed.write_text(json.dumps(advisories))
    env = cli_env(traffic, work)
    for argv in (["inventory", "validate", str(inventory_file)], ["feeds", "import", str(feed)],
                 ["scan", "-i", str(inventory_file)]):  # fmt: skip
        done = cli(env, *argv)
        if done.returncode != 0:
            raise RuntimeError(f"patchwarden {' '.join(argv)}: {done.stdout}{done.stderr}")
    return env, inventory_file, campaign_file


def journal(env: dict[str, str], run_id: str = "") -> tuple[str, list[Any]]:
    """The run's state and its journal records (the latest run by default).

    Raises:
        LookupError: No such run (or none yet).
    """
    with open_store(env["PATCHWARDEN_DB"]) as store:
        run = store.get_run(run_id) if run_id else store.latest_run()
        if run is None:
            raise LookupError(f"no run {run_id or 'yet'}")
        return run.state, list(store.events(run.id))


def kill_apply_when(
    env: dict[str, str],
    argv: list[str],
    when: Callable[[list[Any]], bool],
    after_s: float = 0.0,
    timeout_s: float = 240.0,
) -> str:
    """Start ``patchwarden ARGV``; SIGKILL it ``after_s`` after its journal satisfies ``when``.

    Returns the id of the run it left behind, for ``patchwarden resume``.

    Raises:
        RuntimeError: The command ended, or ``when`` never held, before the kill.
    """
    process = subprocess.Popen([sys.executable, "-m", "patchwarden", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(LookupError):  # no run recorded yet
                _, records = journal(env)
            if records and when(records):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"patchwarden {' '.join(argv)} ended or timed out before the kill")
        time.sleep(after_s)
        if process.poll() is not None:
            raise RuntimeError(f"patchwarden {' '.join(argv)} ended before the kill")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    return str(records[0].run_id)


@dataclass(frozen=True)
class CliTrafficRun:
    """One strategy's ``apply --real`` under load, read back from the store."""

    strategy: str
    exit_code: int
    state: str
    records: list[Any]
    load: LoadReport
    seconds: float

    @property
    def rolled_back(self) -> bool:
        """Whether any rollback step ran to success."""
        return any("/rollback/" in r.step_id and r.event == "succeeded" for r in self.records)

    def analyses(self) -> list[dict[str, Any]]:
        """Every canary analysis the journal holds."""
        return [dict(r.payload["analysis"]) for r in self.records
                if r.event == "observed" and "analysis" in (r.payload or {})]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """The bench's row: requests, failed, p99 latency (ms), rollout seconds."""
        rolled_back = self.rolled_back if self.strategy == "canary" else None
        return self.load.bench_row(self.seconds, rolled_back)


def run_cli_strategy(
    traffic: TrafficLab,
    work: Path,
    strategy: str,
    version: str = "1.0-2",
    reboot: bool = True,
    concurrency: int = 40,
    timeout_s: float = 600.0,
    **spec: Any,
) -> CliTrafficRun:
    """Prepare, start the load, ``patchwarden apply --real``, stop the load, read the run.

    ``version`` is the pw-web build the advisory says fixes it (``1.0-2`` good, ``1.0-5``
    fails 30 % of pages); with ``reboot`` pw-kernel is patched too and every host reboots.
    ``spec`` goes into the campaign's group.
    """
    advisories = [advisory(9902, "pw-web", fixed=version)]
    if reboot:
        advisories.append(advisory(9903, "pw-kernel", reboot_required=True))
    group = {"select": {"role": "web"}, "strategy": strategy, **spec}
    campaign = yaml.safe_dump({"name": f"bench {strategy}", "groups": {"web": group}})
    blue_green = strategy == "blue_green"
    env, inventory, campaign_file = prepare(traffic, work, campaign, advisories,
                                            blue_green=blue_green)  # fmt: skip
    port = traffic.setup.bluegreen_port if blue_green else traffic.setup.web_port
    load = LoadProcess(traffic.setup.address, port, concurrency)
    load.start()
    start = time.monotonic()
    try:
        applied = apply_approved(env, campaign_file, inventory, timeout=timeout_s)
    finally:
        seconds = time.monotonic() - start
        report = load.stop()
    state, records = journal(env)
    return CliTrafficRun(strategy, applied.returncode, state, records, report, seconds)
