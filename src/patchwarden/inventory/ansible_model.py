"""Ansible inventories (INI or YAML) read the way Ansible reads them: groups, hosts, variables.

Pure: text in, an :class:`AnsibleInventory` out, or :class:`~patchwarden.errors.ValidationFailed`
naming file, line and what to fix. What Ansible itself does (``ansible-core``'s ``ini`` and
``yaml`` inventory plugins and ``InventoryData.reconcile_inventory``), and so this module:

* Host patterns expand ranges: ``web[01:03]`` is ``web01``, ``web02``, ``web03`` (a leading
  zero pads to the width of the bounds, which must then be equally long); ``[a:c]`` letters;
  ``[1:9:2]`` a step; several ranges in one name multiply. ``host:2222`` sets
  ``ansible_port`` where the host is first defined (a variable given with it wins).
* A group is a child of ``all`` when it has no parent; a host in no group but ``all`` is
  in ``ungrouped``.
* A host's variables: the variables of every group it is in, its groups' ancestors
  included, laid over each other in Ansible's order (shallower first, then
  ``ansible_group_priority``, then name), then the host's own on top. Keys are replaced,
  never merged (Ansible's default ``hash_behaviour``). ``ansible_group_priority`` is the
  group's priority, not a variable. Files in ``group_vars/`` and ``host_vars/`` beside the
  inventory come after the inventory's own group variables (``group_vars/all`` first,
  then each group's in the same order) and after the inventory's host variables.
* INI values (``key=value`` on a host line or in ``[group:vars]``) are Python literals when
  they read as one (``5`` is a number, ``'a'`` a string), else the text as written
  (``yes``, ``FALSE``, ``bar # not a comment``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from patchwarden.errors import Problem

__all__ = [
    "AnsibleHost",
    "AnsibleInventory",
    "InventoryBuilder",
    "Vaulted",
    "expand_host_pattern",
]

_STEP_BOUNDS = re.compile(r"^([0-9]+|[a-zA-Z])?:([0-9]+|[a-zA-Z])(?::([0-9]+))?$")


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """Host names and port of an inventory host pattern, as Ansible expands them.

    Raises:
        ValueError: with a message for a person, for a malformed range or port.

    Example:
        >>> expand_host_pattern("web[01:03].example.com")
        (['web01.example.com', 'web02.example.com', 'web03.example.com'], None)
        >>> expand_host_pattern("db[a:b]-[1:3:2]:2222")
        (['dba-1', 'dba-3', 'dbb-1', 'dbb-3'], 2222)
    """
    name, port = _split_port(pattern)
    if name.endswith(":"):
        raise ValueError(f"host pattern {pattern!r} ends in ':' (a port must follow it)")
    if "[" not in name:
        return [name], port
    return _expand(name, pattern), port


def _split_port(pattern: str) -> tuple[str, int | None]:
    bracketed = re.fullmatch(r"\[([^\]]+)\]:([0-9]+)", pattern)
    if bracketed:  # [2001:db8::1]:22, the only way to give an IPv6 address a port
        return bracketed[1], int(bracketed[2])
    # name:port where the name has no ':' outside its [ranges]
    plain = re.fullmatch(r"((?:[^:\[\]]|\[[^\]]*\])+):([0-9]+)", pattern)
    if plain and ":" not in re.sub(r"\[[^\]]*\]", "", plain[1]):
        return plain[1], int(plain[2])
    return pattern, None


def _expand(name: str, pattern: str) -> list[str]:
    head, bracket, rest = name.partition("[")
    inner, closed, tail = rest.partition("]")
    if not bracket or not closed:
        raise ValueError(f"host pattern {pattern!r} has an unclosed '['")
    bounds = _STEP_BOUNDS.fullmatch(inner)
    if bounds is None:
        raise ValueError(f"host range [{inner}] in {pattern!r} must be begin:end or begin:end:step")
    begin, end, step_text = bounds[1] or "0", bounds[2], bounds[3]
    step = int(step_text) if step_text else 1
    if step < 1:
        raise ValueError(f"host range [{inner}] in {pattern!r} needs a step of 1 or more")
    letters = string.ascii_letters
    if begin.isalpha() and end.isalpha():  # one ASCII letter each, by the pattern
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise ValueError(f"host range [{inner}] in {pattern!r} must have begin <= end")
        items = list(letters[first : last + 1 : step])
    elif begin.isdigit() and end.isdigit():
        width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
        if width and width != len(end):
            raise ValueError(
                f"host range [{inner}] in {pattern!r}: begin and end must have the same"
                " width when begin has a leading zero"
            )
        if int(begin) > int(end):  # Ansible expands this to no host at all, silently
            raise ValueError(f"host range [{inner}] in {pattern!r} must have begin <= end")
        items = [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]
    else:
        raise ValueError(f"host range [{inner}] in {pattern!r} mixes letters and numbers")
    names: list[str] = []
    for item in items:
        expanded = f"{head}{item}{tail}"
        names.extend(_expand(expanded, pattern) if "[" in expanded else [expanded])
    return names


@dataclass(frozen=True)
class Vaulted:
    """A value encrypted with Ansible Vault (``!vault``): kept, never decrypted here."""

    ciphertext: str = field(repr=False)


@dataclass(frozen=True)
class AnsibleHost:
    """One host: where it was first defined, its groups and its variables as Ansible sees them.

    Attributes:
        name: The inventory host name.
        line: The first line that defines it.
        groups: Every group it is in, ancestors included, sorted; without ``all`` and
            ``ungrouped``.
        vars: Its variables: its groups' laid over each other in Ansible's order, then its own.
    """

    name: str
    line: int
    groups: tuple[str, ...]
    vars: Mapping[str, Any]


@dataclass(frozen=True)
class AnsibleInventory:
    """An Ansible inventory as Ansible reads it.

    Attributes:
        file: The file it came from.
        hosts: Every host, in the order first defined.
        group_hosts: Each group's own hosts (not its children's), in the order added.
        group_children: Each group's child groups.
        group_vars: Each group's own variables.
        skipped: Vars files left unread, each with why (encrypted whole with Ansible Vault).
    """

    file: str
    hosts: tuple[AnsibleHost, ...]
    group_hosts: Mapping[str, tuple[str, ...]]
    group_children: Mapping[str, tuple[str, ...]]
    group_vars: Mapping[str, Mapping[str, Any]]
    skipped: tuple[str, ...] = ()


@dataclass
class _Group:
    line: int
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Host:
    line: int
    vars: dict[str, Any] = field(default_factory=dict)


class InventoryBuilder:
    """Collects groups, hosts and variables as a parser meets them, then reconciles them.

    Both the INI and the YAML reader feed one of these, so the rules that follow parsing
    (``all`` and ``ungrouped``, variable precedence) are written once.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._groups: dict[str, _Group] = {"all": _Group(0), "ungrouped": _Group(0)}
        self._hosts: dict[str, _Host] = {}
        self._priorities: dict[str, int] = {}

    def problem(self, line: int, where: str, message: str, hint: str = "") -> None:
        """Record a problem at a line of the file."""
        self.problems.append(Problem(self.file, line, where, message, hint))

    def names(self) -> tuple[frozenset[str], frozenset[str]]:
        """The names of the groups and of the hosts met so far."""
        return frozenset(self._groups), frozenset(self._hosts)

    def has_group(self, name: str) -> bool:
        """Whether the group was declared (or is ``all`` or ``ungrouped``)."""
        return name in self._groups

    def add_group(self, name: str, line: int) -> None:
        """Declare a group (again: no change)."""
        self._groups.setdefault(name, _Group(line))

    def add_child(self, parent: str, child: str, line: int) -> None:
        """Make ``child`` a child group of ``parent``, declaring both as needed."""
        self.add_group(parent, line)
        self.add_group(child, line)
        if child not in self._groups[parent].children:
            self._groups[parent].children.append(child)

    def add_host(
        self, group: str, name: str, line: int, variables: Mapping[str, Any], port: int | None
    ) -> None:
        """Add a host to a group; its variables are laid over any it had.

        A ``host:port`` port counts only where the host is first defined (Ansible's
        ``Host(name, port)``); a variable given with it wins.
        """
        self.add_group(group, line)
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(line)
            if port is not None:
                host.vars["ansible_port"] = port
        if name not in self._groups[group].hosts:
            self._groups[group].hosts.append(name)
        host.vars.update(variables)

    def set_group_var(self, group: str, key: str, value: Any, line: int) -> None:
        """Set one variable of a group; ``ansible_group_priority`` sets its priority instead."""
        if key != "ansible_group_priority":
            self._groups[group].vars[key] = value
            return
        try:
            self._priorities[group] = int(value)
        except (TypeError, ValueError):
            self.problem(
                line,
                f"{group}.ansible_group_priority",
                f"not a whole number (got {value!r})",
                "write a number such as 10",
            )

    def build(
        self,
        group_files: Mapping[str, Mapping[str, Any]] | None = None,
        host_files: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> AnsibleInventory:
        """Reconcile as Ansible does and work out each host's groups and variables.

        Args:
            group_files: Variables from ``group_vars/`` files next to the inventory, by group.
            host_files: Variables from ``host_vars/`` files, by host.
        """
        group_files = group_files or {}
        host_files = host_files or {}
        groups = self._groups
        parents: dict[str, set[str]] = {name: set() for name in groups}
        for name, group in groups.items():
            for child in group.children:
                parents[child].add(name)
        for name in groups:
            if name != "all" and not parents[name]:
                groups["all"].children.append(name)
                parents[name].add("all")
        cycle = self._cycle()
        if cycle:
            line = groups[cycle[0]].line
            self.problem(
                line,
                f"groups.{cycle[0]}",
                f"groups contain each other: {' > '.join(cycle)}",
                "a group may not be its own ancestor",
            )
            return AnsibleInventory(self.file, (), {}, {}, {})
        depth = self._depths()
        member_of: dict[str, set[str]] = {h: set() for h in self._hosts}
        for name, group in groups.items():
            for member in group.hosts:
                member_of[member].add(name)
        for host_name, direct in member_of.items():
            if "ungrouped" in direct and direct - {"all", "ungrouped"}:
                groups["ungrouped"].hosts.remove(host_name)
                direct.discard("ungrouped")
            elif not direct - {"all"}:
                groups["ungrouped"].hosts.append(host_name)
                direct.add("ungrouped")
        hosts = []
        for name, host in self._hosts.items():
            every = self._ancestors(member_of[name], parents) | {"all"}
            ordered = sorted(every, key=lambda g: (depth[g], self._priorities.get(g, 1), g))
            # Ansible's VARIABLE_PRECEDENCE: the inventory's group vars, then group_vars/all,
            # then group_vars/<group> in the same order, then the host's own, host_vars last.
            merged: dict[str, Any] = {}
            for group_name in ordered:
                merged.update(groups[group_name].vars)
            for group_name in ordered:
                merged.update(group_files.get(group_name, {}))
            merged.update(host.vars)
            merged.update(host_files.get(name, {}))
            shown = tuple(sorted(every - {"all", "ungrouped"}))
            hosts.append(AnsibleHost(name, host.line, shown, merged))
        return AnsibleInventory(
            file=self.file,
            hosts=tuple(hosts),
            group_hosts={n: tuple(g.hosts) for n, g in groups.items()},
            group_children={n: tuple(g.children) for n, g in groups.items()},
            group_vars={n: dict(g.vars) for n, g in groups.items()},
        )

    def _ancestors(self, direct: set[str], parents: Mapping[str, set[str]]) -> set[str]:
        found: set[str] = set()
        todo = list(direct)
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo.extend(parents[name])
        return found

    def _depths(self) -> dict[str, int]:
        """Each group's depth: the longest path to it from ``all`` (Ansible's Group.depth)."""
        depth = dict.fromkeys(self._groups, 0)
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for child in self._groups[name].children:
                visit(child)
            order.append(name)

        for name in self._groups:
            visit(name)
        for name in reversed(order):  # parents before children
            for child in self._groups[name].children:
                depth[child] = max(depth[child], depth[name] + 1)
        return depth

    def _cycle(self) -> list[str]:
        """A chain of groups that leads back to its start, or ``[]``."""
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(name: str) -> list[str]:
            state[name] = 1
            path.append(name)
            for child in self._groups[name].children:
                if state.get(child) == 1:
                    return [*path[path.index(child) :], child]
                if child not in state:
                    found = visit(child)
                    if found:
                        return found
            path.pop()
            state[name] = 2
            return []

        for name in self._groups:
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return []
