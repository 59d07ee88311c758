"""``patchwarden lab up`` and ``lab down`` as a person runs them, each its own process.

``lab up`` brings up the whole estate (hosts, HAProxy, the keepalived appliance pair, the
rootfs image of the hosts) and prints the files it wrote; the inventory it printed
validates and its campaigns plan; ``lab down`` leaves no namespace, link, process or file.
The lab here has its own folder, addresses and pair names, apart from the other labs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwarden.testing.lab import LabConfig
from patchwarden.testing.lab_estate import EstateConfig, LabEstate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("keepalived") is None, reason="needs keepalived (scripts/lab-packages.txt)"
    ),
]

LAB_DIR = Path("/srv/patchwarden-lab-up-test")
ARGS = ["--dir", str(LAB_DIR), "--hosts", "2", "--first-address", "127.0.9.2",
        "--pair-prefix", "pwup", "--pair-subnet", "10.231.81"]  # fmt: skip


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "patchwarden", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def _steps(node: Any) -> list[dict[str, Any]]:
    """Every step of a plan's JSON, wherever it sits (a dict with an ``action``)."""
    if isinstance(node, list):
        return [s for item in node for s in _steps(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if isinstance(node.get("action"), str) else []
    return found + [s for value in node.values() for s in _steps(value)]


def _printed(out: str, label: str) -> list[Path]:
    return [Path(m) for m in re.findall(rf"^{label}:\s+(\S+)", out, re.MULTILINE)]


@pytest.mark.timeout(300)
def test_lab_up_brings_up_the_estate_and_lab_down_leaves_nothing(tmp_path: Path) -> None:
    estate = LabEstate(EstateConfig(
        lab=LabConfig(dir=LAB_DIR, hosts=2, first_address="127.0.9.2"),
        pair_prefix="pwup", pair_subnet="10.231.81",
    ))  # fmt: skip
    estate.down()  # left over from a killed run
    env = {**os.environ, "PATCHWARDEN_DB": f"sqlite:///{tmp_path / 'pw.db'}", "COLUMNS": "400"}
    try:
        up = _cli(env, "lab", "up", *ARGS)
        assert up.returncode == 0, up.stdout + up.stderr
        (inventory,) = _printed(up.stdout, "inventory")
        (advisories,) = _printed(up.stdout, "advisories")
        campaigns = {p.stem: p for p in _printed(up.stdout, "campaign")}
        assert set(campaigns) == {"rolling", "canary", "blue-green", "image", "ha-pair"}, up.stdout
        (blue_green,) = _printed(up.stdout, "bg-inventory")

        for written in (inventory, blue_green):
            validated = _cli(env, "inventory", "validate", str(written))
            assert validated.returncode == 0, validated.stdout + validated.stderr
        kinds = {a["kind"] for a in yaml.safe_load(inventory.read_text())["assets"]}
        assert {"vm", "load_balancer", "image", "virtual_appliance"} <= kinds, kinds
        assert _cli(env, "feeds", "import", str(advisories)).returncode == 0
        for name in ("ha-pair", "image"):
            plan = _cli(env, "plan", str(campaigns[name]), "-i", str(inventory))
            assert plan.returncode == 0, plan.stdout + plan.stderr
        # The hosts' packages come from a scan (over SSH, with the key lab up made).
        ssh = estate.lab.cli_env(**env)
        scanned = _cli(ssh, "scan", "-i", str(blue_green))
        assert scanned.returncode == 0, scanned.stdout + scanned.stderr
        plan = _cli(
            ssh, "plan", str(campaigns["blue-green"]), "-i", str(blue_green), "--format", "json"
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr
        switches = [s for s in _steps(json.loads(plan.stdout))
                    if s["action"] == "switch" and not s.get("undo")]  # fmt: skip
        # One atomic switch, to the standby side (green serves when the lab comes up).
        assert [(s["lb"], s["side"]) for s in switches] == [("lb-web", "blue")], switches

        # What it brought up serves: the hosts through HAProxy, the pair on its virtual IP.
        proxy, pair = estate.haproxy, estate.pair
        with urllib.request.urlopen(f"http://{proxy.address}:{proxy.web_port}/", timeout=5) as r:
            assert r.status == 200
        assert pair.holder() == "lb-a"
        assert pair.serving_release(1) == "lb-b release 2.6-1"
        assert (estate.image_store / "1" / "packages.json").exists()
        assert estate.leftovers(), "the estate is up"
    finally:
        down = _cli(env, "lab", "down", "--dir", str(LAB_DIR))
    assert down.returncode == 0, down.stdout + down.stderr
    assert estate.leftovers() == []
