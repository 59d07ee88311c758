"""Ansible's INI inventory format, line by line as ``ansible-core``'s ``ini`` plugin reads it.

* Lines before the first section belong to ``ungrouped``. ``#`` and ``;`` start a comment
  line; empty lines are skipped.
* ``[group]`` holds host lines: a host pattern, then ``key=value`` pairs split like a shell
  would split them (quotes group, ``#`` starts a comment).
* ``[group:vars]`` holds ``key=value`` lines, split at the first ``=``; the rest of the line
  is the value, comments included. The group must be declared somewhere in the file.
* ``[group:children]`` holds group names; each must be declared somewhere in the file.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

from patchwarden.inventory.ansible_model import InventoryBuilder, expand_host_pattern

__all__ = ["parse_ini", "parse_value"]

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_SECTION_KINDS = ("hosts", "children", "vars")


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the text.

    Example:
        >>> parse_value("5"), parse_value("'5'"), parse_value("yes"), parse_value("[1, 'a']")
        (5, '5', 'yes', [1, 'a'])
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    """What Ansible keeps of a literal: tuples and sets become lists, bytes text."""
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def parse_ini(builder: InventoryBuilder, text: str) -> None:
    """Feed an INI inventory's groups, hosts and variables into ``builder``."""
    group, kind = "ungrouped", "hosts"
    # Declared later or never: [g:vars] needs g declared, [p:children] names its children.
    pending_vars: dict[str, int] = {}
    pending_children: dict[str, tuple[int, str]] = {}
    declared: set[str] = {"all", "ungrouped"}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.match(line)
        if section:
            group, kind = section[1], section[2] or "hosts"
            if kind not in _SECTION_KINDS:
                builder.problem(
                    number,
                    f"[{group}:{kind}]",
                    f"unknown section type {kind!r}",
                    "use [group], [group:vars] or [group:children]",
                )
                kind = "skip"
                continue
            if kind == "vars":
                if group not in declared:
                    pending_vars.setdefault(group, number)
                builder.add_group(group, number)
            else:
                declared.add(group)
                builder.add_group(group, number)
            continue
        if line.startswith("[") and line.endswith("]"):
            builder.problem(
                number, line, "invalid section header", "no spaces or ':' inside the group name"
            )
            kind = "skip"
            continue
        if kind == "hosts":
            _host_line(builder, group, number, line)
        elif kind == "vars":
            key, equals, value = line.partition("=")
            if not equals:
                builder.problem(
                    number,
                    f"[{group}:vars]",
                    f"expected key=value, got {line!r}",
                    "write key=value",
                )
                continue
            builder.set_group_var(group, key.strip(), parse_value(value.strip()), number)
        elif kind == "children":
            child = _GROUP_NAME.match(line)
            if child is None:
                builder.problem(
                    number,
                    f"[{group}:children]",
                    f"expected a group name, got {line!r}",
                    "one group name a line",
                )
                continue
            pending_children.setdefault(child[1], (number, group))
            builder.add_child(group, child[1], number)
    for name, (number, parent) in pending_children.items():
        if name not in declared:
            builder.problem(
                number,
                f"[{parent}:children]",
                f"includes undefined group {name!r}",
                f"declare it with [{name}] or [{name}:children]",
            )
    for name, number in pending_vars.items():
        if name not in declared and name not in pending_children:
            builder.problem(
                number,
                f"[{name}:vars]",
                f"section for undefined group {name!r}",
                f"declare it with [{name}] or list it under some [group:children]",
            )


def _host_line(builder: InventoryBuilder, group: str, number: int, line: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as error:
        builder.problem(number, f"[{group}]", f"cannot split host line: {error}", "close quotes")
        return
    if not tokens:
        return
    try:
        names, port = expand_host_pattern(tokens[0])
    except ValueError as error:
        builder.problem(number, f"[{group}]", str(error), "see Ansible's host pattern rules")
        return
    if "---" in names:
        builder.problem(number, f"[{group}]", "'---' is no host", "is this a YAML file?")
        return
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, equals, value = token.partition("=")
        if not equals:
            builder.problem(
                number,
                f"[{group}] {tokens[0]}",
                f"expected key=value host variable, got {token!r}",
                "write key=value; quote values with spaces",
            )
            return
        variables[key] = parse_value(value)
    for name in names:
        builder.add_host(group, name, number, variables, port)
