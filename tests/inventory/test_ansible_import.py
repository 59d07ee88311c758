"""``inventory import ansible``: Ansible's reading of INI and YAML, problems, output that loads.

The parsing rules are Ansible's (see patchwarden.inventory.ansible_model); the slow tier
checks them against ansible-core itself (test_ansible_differential.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from patchwarden.cli.main import main
from patchwarden.errors import UsageError, ValidationFailed
from patchwarden.inventory.ansible import AnsibleInventory, parse_ansible_inventory
from patchwarden.inventory.ansible_model import expand_host_pattern
from patchwarden.service.ansible_import import (
    import_ansible,
    parse_env_mapping,
    read_ansible_inventory,
)
from patchwarden.service.sources import read_inventory

DATA = Path(__file__).parents[1] / "data" / "ansible"


def by_name(inv: AnsibleInventory) -> dict:
    return {h.name: h for h in inv.hosts}


@pytest.mark.parametrize(
    ("pattern", "names", "port"),
    [
        ("web[01:10]", [f"web{n:02d}" for n in range(1, 11)], None),
        (
            "web[1:3].example.com",
            ["web1.example.com", "web2.example.com", "web3.example.com"],
            None,
        ),
        ("db-[a:c]", ["db-a", "db-b", "db-c"], None),
        ("n[0:6:3]", ["n0", "n3", "n6"], None),
        ("h[:2]", ["h0", "h1", "h2"], None),
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"], None),
        ("host:2222", ["host"], 2222),
        ("10.0.0.1:22", ["10.0.0.1"], 22),
        ("web[1:2]:2200", ["web1", "web2"], 2200),
        ("[2001:db8::1]:2222", ["2001:db8::1"], 2222),
        ("2001:db8::1", ["2001:db8::1"], None),
    ],
)
def test_host_patterns_expand_as_ansible_does(pattern: str, names: list[str], port) -> None:
    assert expand_host_pattern(pattern) == (names, port)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("web[3:1]", "begin <= end"),
        ("web[c:a]", "begin <= end"),
        ("web[01:1]", "same width"),
        ("web[1:x]", "mixes letters and numbers"),
        ("web[1-3]", "begin:end or begin:end:step"),
        ("web[1:3", "unclosed"),
        ("web:", "ends in ':'"),
    ],
)
def test_bad_host_patterns_say_why(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_host_pattern(pattern)


def test_ini_groups_children_and_variables_follow_ansible() -> None:
    inv = parse_ansible_inventory("estate.ini", (DATA / "estate.ini").read_text())
    hosts = by_name(inv)
    assert len(hosts) == 15
    assert [h for h in hosts if h.startswith("stg-")] == ["stg-web1", "stg-web3", "stg-web5"]
    # Before any section: ungrouped; a group without a parent is a child of all.
    assert inv.group_hosts["ungrouped"] == ("bastion.example.com",)
    assert set(inv.group_children["all"]) == {"ungrouped", "prod", "berlin", "stg"}
    web01 = hosts["web01.example.com"]
    assert web01.groups == ("berlin", "prod", "web")
    # prod and berlin are both one level deep: berlin's priority 10 puts it last, so it wins.
    assert web01.vars["ansible_user"] == "berlin-ops"
    assert "ansible_group_priority" not in web01.vars  # a priority, not a variable
    assert hosts["web03.example.com"].vars["ansible_user"] == "patch"
    # A host's own variables win; quotes group words; host:port sets ansible_port.
    canary = hosts["web-canary.example.com"].vars
    assert (canary["ansible_user"], canary["ansible_port"]) == ("deploy user", 2222)
    # INI values are Python literals where they read as one, else text as written.
    api_z = hosts["api-z"].vars
    assert (api_z["weight"], api_z["labels"], api_z["ansible_port"]) == (3, ["blue", "green"], 2200)
    assert (web01.vars["window"], web01.vars["site_note"]) == (5, "FALSE")
    assert web01.vars["comment"] == "nightly # after the backup"  # no comments in :vars lines
    assert hosts["db1"].vars["ansible_become"] == "yes"
    assert hosts["db1"].line == 13


def test_yaml_groups_children_and_variables_follow_ansible() -> None:
    inv = parse_ansible_inventory("estate.yml", (DATA / "estate.yml").read_text())
    hosts = by_name(inv)
    assert len(hosts) == 9
    assert inv.group_hosts["ungrouped"] == ("bastion.example.com",)
    assert inv.group_children["prod"] == ("web", "db")
    assert hosts["web02.example.com"].vars["ansible_user"] == "berlin-ops"
    assert hosts["db2"].vars == {
        "ansible_become": True,
        "ansible_user": "patch",
        "window": 5,
        "backup": ["nightly", "weekly"],
        "ansible_host": "10.0.3.2",
        "ansible_port": 2201,
    }
    assert hosts["stg-web1"].groups == ("stg",)  # `hosts: name` is one host
    assert hosts["db1"].line == 17


def test_a_file_without_suffix_is_yaml_when_it_reads_as_a_mapping() -> None:
    ini = parse_ansible_inventory("hosts", "[web]\nweb1\n")
    assert ini.group_hosts["web"] == ("web1",)
    as_yaml = parse_ansible_inventory("hosts", "web:\n  hosts:\n    web1:\n")
    assert as_yaml.group_hosts["web"] == ("web1",)


def test_child_vars_beat_parent_vars_and_host_vars_beat_both() -> None:
    text = (
        "[web]\nw1\nw2 role=mine\n[web:vars]\nrole=web\n[prod:children]\nweb\n"
        "[prod:vars]\nrole=prod\nsite=x\n[all:vars]\nsite=all\n"
    )
    hosts = by_name(parse_ansible_inventory("h.ini", text))
    assert hosts["w1"].vars == {"site": "x", "role": "web"}
    assert hosts["w2"].vars == {"site": "x", "role": "mine"}


def _problems(file: str, text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_ansible_inventory(file, text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "h.ini",
            "[prod:children]\nweb\n",
            "h.ini:2: [prod:children]: includes undefined group 'web'",
        ),
        (
            "h.ini",
            "[web]\nw1\n[db:vars]\nx=1\n",
            "h.ini:3: [db:vars]: section for undefined group 'db'",
        ),
        (
            "h.ini",
            "[web]\nw1 port\n",
            "h.ini:2: [web] w1: expected key=value host variable, got 'port'",
        ),
        (
            "h.ini",
            "[web]\nw1\nw[3:1]\n",
            "h.ini:3: [web]: host range [3:1] in 'w[3:1]' must have begin <= end",
        ),
        ("h.ini", "[web:hostz]\nw1\n", "h.ini:1: [web:hostz]: unknown section type 'hostz'"),
        ("h.ini", "[web]\nw1 a='b\n", "h.ini:2: [web]: cannot split host line"),
        (
            "h.ini",
            "[web]\nw1\n[web:vars]\njust-a-word\n",
            "h.ini:4: [web:vars]: expected key=value",
        ),
        ("h.ini", "[a:children]\nb\n[b:children]\na\n", "groups contain each other"),
        (
            "h.ini",
            "[web]\nw1\n[web:vars]\nansible_group_priority=high\n",
            "h.ini:4: web.ansible_group_priority: not a whole number",
        ),
        (
            "h.yml",
            "all:\n  children:\n    web:\n      host:\n        w1:\n",
            "h.yml:4: all.children.web.host: unknown key in a group",
        ),
        (
            "h.yml",
            "web:\n  hosts:\n    12:\n",
            "h.yml:3: web.hosts[12]: host name 12 is not a string",
        ),
        (
            "h.yml",
            "web:\n  hosts:\n    w1: 5\n",
            "h.yml:3: web.hosts.w1: host variables must be a mapping",
        ),
        ("h.yml", "web:\n  hosts: [w1, w2]\n", "h.yml:2: web.hosts: must be a mapping, got list"),
        ("h.yml", "web:\n  hosts:\n    w1:\n   bad: [\n", "h.yml:4: YAML syntax error"),
        (
            "h.yml",
            "plugin: aws_ec2\n",
            "h.yml:1: plugin: this is an inventory plugin's configuration",
        ),
        ("h.yml", "", "h.yml:1: the YAML inventory is empty"),
    ],
)
def test_bad_input_names_file_and_line(file: str, text: str, expected: str) -> None:
    problems = _problems(file, text)
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def _import(tmp_path: Path, text: str, name: str = "hosts.ini", **kwargs) -> str:
    path = tmp_path / name
    path.write_text(text)
    return import_ansible(path, **({"env_from_group": {"prod": "prod"}} | kwargs)).text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[prod]\nw1 ansible_port=99999\n", ":2: w1.ansible_port: not a port number (got 99999)"),
        ("[prod]\nw1 ansible_host='{{ ip }}'\n", ":2: w1.ansible_host: is a Jinja template"),
        (
            "[prod]\nw1 ansible_connection=winrm\n",
            ":2: w1.ansible_connection: patchwarden has no transport for 'winrm'",
        ),
        (
            "[prod]\nw1 ansible_become=yes ansible_become_method=su\n",
            ":2: w1.ansible_become_method: patchwarden becomes root with sudo only",
        ),
        ("[prod]\nw1 ansible_become=maybe\n", ":2: w1.ansible_become: not a boolean"),
        ("[prod]\nweb_01!\n", ":2: web_01!.id: host name 'web_01!' is not a valid asset id"),
        ("[prod]\nweb1\nWEB1\n", ":3: WEB1: becomes asset id 'web1', as 'web1' does"),
        (
            "[prod]\nw1\n[dev]\nw1\n",
            ":2: w1.env: its groups map to more than one environment (dev→dev, prod→prod)",
        ),
        (
            "[prod]\nw1\n[other]\nw2\n",
            ":4: w2.env: in no group mapped to an environment (its groups: other)",
        ),
    ],
)
def test_what_patchwarden_cannot_use_is_a_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _import(tmp_path, text, env_from_group={"prod": "prod", "dev": "dev"})
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems
    assert all(str(p).startswith(str(tmp_path / "hosts.ini")) for p in caught.value.problems)


def test_env_mapping_is_checked() -> None:
    assert parse_env_mapping(["prod=production", " stg = staging "]) == {
        "prod": "production",
        "stg": "staging",
    }
    for bad in (["prod"], ["=prod"], ["prod="], ["a=b", "a=c"]):
        with pytest.raises(UsageError):
            parse_env_mapping(bad)


def test_import_makes_assets_our_reader_loads(tmp_path: Path) -> None:
    text = _import(
        tmp_path,
        (DATA / "estate.ini").read_text(),
        env_from_group={"stg": "staging", "prod": "production"},
        default_env="dev",
        environments=["dev", "staging", "production"],
    )
    out = tmp_path / "inventory.yaml"
    out.write_text(text)
    loaded = read_inventory([out])  # patchwarden's own reader, drivers and all
    inv = loaded.inventory
    assert inv.environments == ("dev", "staging", "production")
    assets = inv.by_id
    assert len(assets) == 15
    web = assets["web-canary.example.com"]
    assert (web.env, web.roles, web.kind) == ("production", ("web",), "vm")
    assert web.connection is not None
    assert (web.connection.address, web.connection.port, web.connection.user) == (
        "web-canary.example.com",
        2222,
        "deploy user",
    )
    assert web.connection.sudo
    db1 = assets["db1"]
    assert (db1.roles, db1.connection.address, db1.connection.user) == (
        ("berlin", "db"),
        "10.0.3.1",
        "berlin-ops",
    )
    assert assets["bastion.example.com"].env == "dev"  # in no mapped group: the default
    assert assets["stg-web3"].env == "staging"
    # Every host keeps ssh with strict host keys as patchwarden's default: nothing in the
    # output turns checking off.
    assert "known_hosts" not in text and "StrictHostKeyChecking" not in text


def test_environments_default_to_patchwardens_order_when_they_fit(tmp_path: Path) -> None:
    text = _import(
        tmp_path, "[prod]\nw1\n[dev]\nd1\n", env_from_group={"prod": "prod", "dev": "dev"}
    )
    assert "environments" not in yaml.safe_load(text)
    with pytest.raises(UsageError, match="does not list prod"):
        _import(tmp_path, "[prod]\nw1\n", environments=["dev"])


def test_cli_prints_yaml_that_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = DATA / "estate.yml"
    code = main(
        [
            "inventory",
            "import",
            "ansible",
            str(src),
            "--env-from-group",
            "prod=prod",
            "--env-from-group",
            "stg=staging",
            "--default-env",
            "dev",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "imported 9 host(s)" in captured.err
    out = tmp_path / "imported.yaml"
    out.write_text(captured.out)
    assert main(["inventory", "validate", str(out)]) == 0
    data = yaml.safe_load(captured.out)
    assert [a["id"] for a in data["assets"]][:2] == ["bastion.example.com", "web01.example.com"]


def test_cli_bad_input_exits_2_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "hosts.ini"
    bad.write_text("[prod]\nw1\nw2 port\n")
    code = main(["inventory", "import", "ansible", str(bad), "--env-from-group", "prod=prod"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert f"error: {bad}:3: [prod] w2: expected key=value host variable" in captured.err
    assert main(["inventory", "import", "ansible", str(bad), "--env-from-group", "prod"]) == 2
    assert main(["inventory", "import", "ansible", str(tmp_path / "missing.ini")]) == 2


def test_a_port_counts_where_the_host_is_first_defined() -> None:
    first = by_name(parse_ansible_inventory("h.ini", "[a]\nh1:2222\n[b]\nh1:3333\n"))
    assert first["h1"].vars == {"ansible_port": 2222}
    later = by_name(parse_ansible_inventory("h.ini", "[a]\nh1\n[b]\nh1:2222\n"))
    assert later["h1"].vars == {}
    given = by_name(parse_ansible_inventory("h.ini", "[a]\nh1:2222 ansible_port=2200\n"))
    assert given["h1"].vars == {"ansible_port": 2200}


def test_group_vars_and_host_vars_folders_count_as_ansible_counts_them() -> None:
    inv = read_ansible_inventory(DATA / "with-vars" / "hosts.ini")
    hosts = by_name(inv)
    # group_vars/all.yml beats every group's variables in the inventory file ...
    assert hosts["web1"].vars["site"] == "all-file"
    # ... group_vars/prod.json beats [prod:vars]; web/ files are read in sorted order, and
    # notes.txt and .hidden.yml not at all.
    assert (hosts["web1"].vars["ansible_user"], hosts["web1"].vars["tier"]) == (
        "prod-file",
        "web-2",
    )
    assert "not" not in hosts["web1"].vars
    # The inventory's own host variables beat group_vars; host_vars (no extension too) last.
    assert hosts["web2"].vars["ansible_user"] == "inline"
    assert hosts["web2"].vars["ansible_port"] == 2202
    assert hosts["db1"].vars["ansible_user"] == "dba"
    assert inv.skipped == ()  # host_vars/unknown-host.yml, broken, names no host: not read


def test_vault_files_are_skipped_and_vaulted_connection_values_refused(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.ini").write_text("[prod]\nw1\nw2\n")
    (tmp_path / "group_vars" / "prod.yml").write_text(
        "$ANSIBLE_VAULT;1.1;AES256\n6133326631353238\n"
    )
    (tmp_path / "host_vars" / "w1.yml").write_text(
        "ansible_become_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3866\n"
    )
    imported = import_ansible(tmp_path / "hosts.ini", {"prod": "prod"})
    assert imported.notes == (
        f"{tmp_path / 'group_vars' / 'prod.yml'}: encrypted with Ansible Vault, not read",
    )
    assert len(imported.loaded.inventory.assets) == 2  # a vaulted password is not needed
    (tmp_path / "host_vars" / "w2.yml").write_text("ansible_user: !vault |\n  $ANSIBLE_VAULT;1.1\n")
    with pytest.raises(ValidationFailed, match="w2.ansible_user: is encrypted with Ansible Vault"):
        import_ansible(tmp_path / "hosts.ini", {"prod": "prod"})


def test_a_broken_vars_file_names_its_own_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.ini").write_text("[prod]\nw1\n")
    (tmp_path / "group_vars" / "prod.yml").write_text("a: 1\nb: [\n")
    with pytest.raises(ValidationFailed) as caught:
        import_ansible(tmp_path / "hosts.ini", {"prod": "prod"})
    assert str(caught.value).startswith(f"{tmp_path / 'group_vars' / 'prod.yml'}:")
    (tmp_path / "group_vars" / "prod.yml").write_text("- a\n- b\n")
    with pytest.raises(
        ValidationFailed, match="a vars file holds a mapping of variables, got list"
    ):
        import_ansible(tmp_path / "hosts.ini", {"prod": "prod"})
