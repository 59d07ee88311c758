"""Read an Ansible inventory file, INI or YAML, into an :class:`AnsibleInventory`.

The format follows Ansible's choice: a ``.yml``, ``.yaml`` or ``.json`` file is YAML, an
``.ini`` or ``.cfg`` file INI; any other name is YAML when it parses as a YAML mapping, else
INI (Ansible tries its ``yaml`` plugin, then ``ini``).
"""

from __future__ import annotations

from patchwarden.errors import ValidationFailed
from patchwarden.inventory.ansible_ini import parse_ini
from patchwarden.inventory.ansible_model import AnsibleHost, AnsibleInventory, InventoryBuilder
from patchwarden.inventory.ansible_yaml import looks_like_yaml_inventory, parse_yaml
from patchwarden.inventory.yamlmap import load_located

__all__ = ["AnsibleHost", "AnsibleInventory", "parse_ansible_inventory"]

_YAML_SUFFIXES = (".yml", ".yaml", ".json")
_INI_SUFFIXES = (".ini", ".cfg")


def parse_ansible_inventory(file: str, text: str) -> AnsibleInventory:
    r"""Parse an Ansible inventory's text; ``file`` names it in problems and picks the format.

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
        doc = load_located(file, text)
        if lowered.endswith(_YAML_SUFFIXES) or looks_like_yaml_inventory(doc):
            parse_yaml(builder, doc)
        else:
            parse_ini(builder, text)
    if builder.problems:
        raise ValidationFailed(builder.problems)
    inventory = builder.build()
    if builder.problems:
        raise ValidationFailed(builder.problems)
    return inventory
