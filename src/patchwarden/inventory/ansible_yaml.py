"""Ansible's YAML inventory format, as ``ansible-core``'s ``yaml`` plugin reads it.

Top-level keys are groups (usually just ``all``). A group maps ``hosts`` (host pattern →
its variables, or nothing), ``vars`` and ``children`` (group name → a group, recursively);
a section given as one string is that one name. Ansible skips, with a warning, a key it does
not know and a group that is not a mapping; patchwarden refuses them instead, naming the
line, since a misspelt ``host:`` would otherwise drop hosts without a word.
"""

from __future__ import annotations

from typing import Any

import yaml

from patchwarden.inventory.ansible_model import InventoryBuilder, Vaulted, expand_host_pattern
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path

__all__ = ["AnsibleYamlLoader", "looks_like_yaml_inventory", "parse_yaml"]


class AnsibleYamlLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: ``!vault`` values stay encrypted, ``!unsafe`` is plain."""


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Vaulted:
    return Vaulted(str(loader.construct_scalar(node)))  # type: ignore[arg-type]  # a ScalarNode


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]  # a ScalarNode


AnsibleYamlLoader.add_constructor("!vault", _vault)
AnsibleYamlLoader.add_constructor("!unsafe", _unsafe)

_SECTIONS = ("hosts", "vars", "children")


def looks_like_yaml_inventory(doc: LocatedDocument) -> bool:
    """Whether parsed YAML has the shape of an inventory: a mapping of group names."""
    return not doc.problems and isinstance(doc.value, dict)


def parse_yaml(builder: InventoryBuilder, doc: LocatedDocument) -> None:
    """Feed a YAML inventory's groups, hosts and variables into ``builder``."""
    builder.problems.extend(doc.problems)
    if doc.problems:
        return
    data = doc.value
    if not data:
        builder.problem(
            1, "", "the YAML inventory is empty", "define groups, e.g. `all: {hosts: ...}`"
        )
        return
    if not isinstance(data, dict):
        builder.problem(
            1, "", f"a YAML inventory is a mapping of groups, got {type(data).__name__}", ""
        )
        return
    if "plugin" in data:
        builder.problem(
            doc.line_of(("plugin",)),
            "plugin",
            "this is an inventory plugin's configuration, not an inventory",
            "run `ansible-inventory -i FILE --list -y` and import what it prints",
        )
        return
    for name, body in data.items():
        _group(builder, doc, str(name), body, (name,))


def _group(
    builder: InventoryBuilder, doc: LocatedDocument, name: str, body: Any, path: Path
) -> None:
    line = doc.line_of(path)
    if body is not None and not isinstance(body, dict):
        builder.problem(
            line,
            dotted_path(path),
            f"a group is a mapping of hosts, vars and children, got {type(body).__name__}",
            "indent its hosts under `hosts:`",
        )
        return
    builder.add_group(name, line)
    for key, section in (body or {}).items():
        where = (*path, key)
        if key not in _SECTIONS:
            builder.problem(
                doc.line_of(where),
                dotted_path(where),
                "unknown key in a group",
                "a group has only hosts, vars and children",
            )
            continue
        if isinstance(section, str):
            section = {section: None}
        if section is None:
            continue
        if not isinstance(section, dict):
            builder.problem(
                doc.line_of(where),
                dotted_path(where),
                f"must be a mapping, got {type(section).__name__}",
                f"write `{key}:` followed by indented names",
            )
            continue
        if key == "vars":
            for var, value in section.items():
                builder.set_group_var(name, str(var), value, doc.line_of((*where, var)))
        elif key == "children":
            for child, child_body in section.items():
                _group(builder, doc, str(child), child_body, (*where, child))
                builder.add_child(name, str(child), doc.line_of((*where, child)))
        else:
            for pattern, variables in section.items():
                _hosts(builder, doc, name, pattern, variables, (*where, pattern))


def _hosts(
    builder: InventoryBuilder,
    doc: LocatedDocument,
    group: str,
    pattern: Any,
    variables: Any,
    path: Path,
) -> None:
    line = doc.line_of(path)
    if not isinstance(pattern, str):
        builder.problem(
            line,
            dotted_path(path),
            f"host name {pattern!r} is not a string",
            "quote host names that look like numbers",
        )
        return
    if variables is not None and not isinstance(variables, dict):
        builder.problem(
            line,
            dotted_path(path),
            f"host variables must be a mapping, got {type(variables).__name__}",
            "write `name: {var: value}` or just `name:`",
        )
        return
    try:
        names, port = expand_host_pattern(pattern)
    except ValueError as error:
        builder.problem(line, dotted_path(path), str(error), "see Ansible's host pattern rules")
        return
    given = {str(k): v for k, v in (variables or {}).items()}
    for host in names:
        builder.add_host(group, host, line, given, port)
