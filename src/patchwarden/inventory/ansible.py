"""Read an Ansible inventory file, INI or YAML, into an :class:`AnsibleInventory`.

The format follows Ansible's choice: a ``.yml``, ``.yaml`` or ``.json`` file is YAML, an
``.ini`` or ``.cfg`` file INI; any other name is YAML when it parses as a YAML mapping, else
INI (Ansible tries its ``yaml`` plugin, then ``ini``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from patchwarden.errors import Problem, ValidationFailed
from patchwarden.inventory.ansible_ini import parse_ini
from patchwarden.inventory.ansible_model import (
    AnsibleHost,
    AnsibleInventory,
    InventoryBuilder,
    Vaulted,
)
from patchwarden.inventory.ansible_yaml import (
    AnsibleYamlLoader,
    looks_like_yaml_inventory,
    parse_yaml,
)
from patchwarden.inventory.yamlmap import load_located

__all__ = ["AnsibleHost", "AnsibleInventory", "VarsFiles", "Vaulted", "parse_ansible_inventory"]

VarsFiles = Mapping[str, Sequence[tuple[str, str]]]
"""Per group (or host) name, its vars files as ``(file name, text)``, in Ansible's order."""
_VAULT_HEADER = "$ANSIBLE_VAULT;"

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_INI_SUFFIXES = (".ini", ".cfg")


def parse_ansible_inventory(
    file: str, text: str, group_vars: VarsFiles | None = None, host_vars: VarsFiles | None = None
) -> AnsibleInventory:
    r"""Parse an Ansible inventory's text; ``file`` names it in problems and picks the format.

    ``group_vars`` and ``host_vars`` are the texts of the files Ansible reads from the
    ``group_vars/`` and ``host_vars/`` folders beside the inventory (YAML or JSON, each a
    mapping; an empty file counts as none). A file encrypted whole with Ansible Vault is
    left unread and listed in ``skipped``; a ``!vault`` value is kept as :class:`Vaulted`.

    Raises:
        ValidationFailed: every problem found, each with file, line and a hint.

    Example:
        >>> inv = parse_ansible_inventory("hosts", "[web]\nweb[1:2] ansible_user=deploy\n")
        >>> [(h.name, h.groups, h.vars["ansible_user"]) for h in inv.hosts]
        [('web1', ('web',), 'deploy'), ('web2', ('web',), 'deploy')]
    """
    builder = InventoryBuilder(file)
    lowered = file.lower()
    if lowered.endswith(_INI_SUFFIXES):
        parse_ini(builder, text)
    else:
        doc = load_located(file, text, AnsibleYamlLoader)
        if lowered.endswith(_YAML_SUFFIXES) or looks_like_yaml_inventory(doc):
            parse_yaml(builder, doc)
        else:
            parse_ini(builder, text)
    skipped: list[str] = []
    # Ansible reads the vars files of the groups and hosts the inventory has, no others.
    groups, hosts = builder.names()
    group_files = _vars_files(builder, group_vars or {}, groups, skipped)
    host_files = _vars_files(builder, host_vars or {}, hosts, skipped)
    if builder.problems:
        raise ValidationFailed(builder.problems)
    inventory = builder.build(group_files, host_files)
    if builder.problems:
        raise ValidationFailed(builder.problems)
    return replace(inventory, skipped=tuple(skipped))


def _vars_files(
    builder: InventoryBuilder, files: VarsFiles, names: frozenset[str], skipped: list[str]
) -> dict[str, dict[str, Any]]:
    """Each name's files read and laid over each other in order (keys replaced, not merged)."""
    merged: dict[str, dict[str, Any]] = {}
    for name, texts in files.items():
        if name not in names:
            continue
        values: dict[str, Any] = {}
        for file_name, text in texts:
            if text.lstrip().startswith(_VAULT_HEADER):
                skipped.append(f"{file_name}: encrypted with Ansible Vault, not read")
                continue
            doc = load_located(file_name, text, AnsibleYamlLoader)
            builder.problems.extend(doc.problems)
            if doc.problems or doc.value is None:
                continue
            if not isinstance(doc.value, dict):
                kind = type(doc.value).__name__
                builder.problems.append(
                    Problem(
                        file_name,
                        1,
                        "",
                        f"a vars file holds a mapping of variables, got {kind}",
                        "write `name: value` lines",
                    )
                )
                continue
            values.update({str(k): v for k, v in doc.value.items()})
        merged[name] = values
    return merged
