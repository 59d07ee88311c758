"""Our reading of Ansible inventories against ansible-core's own ``ansible-inventory --list``.

ansible-core is a dev dependency (requirements.lock); each run of its command line takes a
second or two, so this is the slow tier. For every inventory: the same hosts, each group's
own hosts and child groups, and each host's variables exactly as Ansible resolves them.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwarden.inventory.ansible import AnsibleInventory, parse_ansible_inventory
from patchwarden.service.ansible_import import read_ansible_inventory

pytestmark = pytest.mark.slow

DATA = Path(__file__).parents[1] / "data" / "ansible"
ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


@pytest.fixture(scope="module")
def ansible_list(tmp_path_factory: pytest.TempPathFactory):
    if not ANSIBLE_INVENTORY.exists():
        pytest.fail("ansible-inventory is missing: install the dev extras (requirements.lock)")
    home = tmp_path_factory.mktemp("ansible-home")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_CONFIG": str(home / "none.cfg"),  # no ansible.cfg of the machine applies
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # a file it cannot read is an error
        "ANSIBLE_NOCOLOR": "1",
        "LC_ALL": "C.UTF-8",
    }

    def run(path: Path) -> dict[str, Any]:
        done = subprocess.run(
            [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Unable to parse" not in done.stderr, done.stderr
        return json.loads(done.stdout)

    return run


def _compare(ours: AnsibleInventory, theirs: dict[str, Any]) -> None:
    hostvars = theirs.pop("_meta")["hostvars"]
    their_hosts = {h for group in theirs.values() for h in group.get("hosts", [])}
    assert {h.name for h in ours.hosts} == their_hosts
    for name, group in theirs.items():
        if name != "all":  # its hosts are every host; Ansible's listing leaves them out
            assert list(ours.group_hosts.get(name, ())) == group.get("hosts", []), name
        assert sorted(ours.group_children.get(name, ())) == sorted(group.get("children", [])), name
    for name in ours.group_hosts:  # a group they leave out has nothing in it
        if name not in theirs and name != "all":
            assert not ours.group_hosts[name] and not ours.group_children[name], name
    for host in ours.hosts:
        assert dict(host.vars) == hostvars.get(host.name, {}), host.name


@pytest.mark.parametrize("name", ["estate.ini", "estate.yml", "with-vars/hosts.ini"])
def test_shipped_examples_read_as_ansible_reads_them(ansible_list, name: str) -> None:
    path = DATA / name  # with-vars/ has group_vars/ and host_vars/ folders beside it
    _compare(read_ansible_inventory(path), ansible_list(path))


def _random_ini(rng: random.Random) -> str:
    """An INI inventory with nested groups, ranges, ports, literals and priorities."""
    groups = [f"g{i}" for i in range(rng.randint(3, 6))]
    values = ["1", "'1'", "yes", "FALSE", "[1, 'a']", "{'k': 2}", "a b", "x#y", "None", "1.5"]
    lines = ["# generated", f"loose{rng.randint(1, 9)} v=0"]
    for group in groups:
        lines.append(f"[{group}]")
        for _ in range(rng.randint(0, 3)):
            name = rng.choice(["h1", "h2", "h3", "web[01:03]", "db-[a:b]", "n[0:4:2]", "x9"])
            if rng.random() < 0.3:
                name += f":{rng.randint(1, 65535)}"
            pairs = [
                f"v{rng.randint(1, 4)}={rng.choice(values).replace(' ', '_')}"
                for _ in range(rng.randint(0, 2))
            ]
            lines.append(" ".join([name, *pairs]))
    for parent_index, parent in enumerate(groups):
        children = [g for g in groups[parent_index + 1 :] if rng.random() < 0.4]
        if children:
            lines.append(f"[{parent}:children]")
            lines.extend(children)
    for group in [*rng.sample(groups, k=min(3, len(groups))), "all"]:
        lines.append(f"[{group}:vars]")
        for _ in range(rng.randint(1, 3)):
            lines.append(f"v{rng.randint(1, 4)}={rng.choice(values)}")
        if group != "all" and rng.random() < 0.5:
            lines.append(f"ansible_group_priority={rng.randint(0, 20)}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_generated_inventories_read_as_ansible_reads_them(
    ansible_list, tmp_path: Path, seed: int
) -> None:
    text = _random_ini(random.Random(seed))
    path = tmp_path / f"generated-{seed}.ini"
    path.write_text(text)
    _compare(parse_ansible_inventory(path.name, text), ansible_list(path))


def _random_yaml(rng: random.Random) -> str:
    """A YAML inventory: nested children, hosts with and without variables, ranges, ports."""
    values: list[Any] = [1, "1", "yes", True, None, [1, "a"], {"k": 2}, "a b", 1.5]
    names = ["h1", "h2", "web[01:03]", "db-[a:b]", "n[0:4:2]", "x9:2222"]

    def group(depth: int) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if rng.random() < 0.8:
            body["hosts"] = {
                rng.choice(names): (
                    {f"v{rng.randint(1, 4)}": rng.choice(values)} if rng.random() < 0.5 else None
                )
                for _ in range(rng.randint(1, 3))
            }
        if rng.random() < 0.7:
            body["vars"] = {f"v{rng.randint(1, 4)}": rng.choice(values) for _ in range(2)}
            if rng.random() < 0.4:
                body["vars"]["ansible_group_priority"] = rng.randint(0, 20)
        if depth < 3 and rng.random() < 0.6:
            body["children"] = {f"g{depth}{i}": group(depth + 1) for i in range(rng.randint(1, 2))}
        return body

    return yaml.safe_dump({"all": group(0), f"top{rng.randint(1, 3)}": group(1)})


@pytest.mark.parametrize("seed", range(4))
def test_generated_yaml_inventories_read_as_ansible_reads_them(
    ansible_list, tmp_path: Path, seed: int
) -> None:
    text = _random_yaml(random.Random(seed))
    path = tmp_path / f"generated-{seed}.yml"
    path.write_text(text)
    _compare(parse_ansible_inventory(path.name, text), ansible_list(path))
