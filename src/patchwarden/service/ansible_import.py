"""An Ansible inventory turned into a patchwarden inventory: one ``vm`` asset per Ansible host.

Rules, per host (``ansible_*`` variables as Ansible resolves them, group and host vars):

* ``id``: the inventory host name in lower case (``name:`` keeps the original when it
  differs); it must be a valid asset id.
* ``env``: from the host's groups through the mapping given (``prod=production``); exactly
  one environment must come out, else the default environment, if one is given.
  ``environments`` (the promotion order) is the one given; else the default order when the
  environments are among dev, qa, staging, prod; else the default environment, then the
  mapped ones in the order given.
* ``roles``: the host's other groups, ancestors included (not ``all`` or ``ungrouped``).
* ``connection``: ``ansible_connection`` ``local`` is the local transport, ``ssh``,
  ``paramiko`` and ``smart`` (or none) SSH; ``address`` is ``ansible_host`` (else the host
  name), ``port`` ``ansible_port``, ``user`` ``ansible_user`` (else patchwarden's
  default); ``ansible_become`` with the ``sudo`` method (Ansible's default) sets ``sudo``.
  The older ``ansible_ssh_host``, ``ansible_ssh_port`` and ``ansible_ssh_user`` count too.

A value patchwarden cannot use (a Jinja template, a port out of range, another become
method, a connection it has no transport for) is a problem naming the file and the line
that defines the host. The result is read back with patchwarden's own inventory reader
before it is returned, so what is printed loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from patchwarden.domain.assets import ID_PATTERN
from patchwarden.domain.inventory import DEFAULT_ENVIRONMENTS
from patchwarden.errors import InputError, Problem, UsageError, ValidationFailed
from patchwarden.inventory import LoadedInventory, parse_inventory
from patchwarden.inventory.ansible import (
    AnsibleHost,
    AnsibleInventory,
    Vaulted,
    parse_ansible_inventory,
)

__all__ = ["ImportedInventory", "import_ansible", "parse_env_mapping", "read_ansible_inventory"]

_TRUE = frozenset({"y", "yes", "on", "1", "true", "t"})
_FALSE = frozenset({"n", "no", "off", "0", "false", "f"})
_SSH = frozenset({"ssh", "paramiko", "smart", "paramiko_ssh"})
_ID = re.compile(ID_PATTERN)
_VARS_SUFFIXES = (".yml", ".yaml", ".json")  # Ansible's YAML_FILENAME_EXTENSIONS
_CONNECTION_VARS = (
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_connection",
    "ansible_become",
    "ansible_become_method",
)


@dataclass(frozen=True)
class ImportedInventory:
    """The patchwarden inventory YAML made from an Ansible inventory, and what it holds.

    ``notes`` says what was left out (vars files encrypted with Ansible Vault).
    """

    text: str
    loaded: LoadedInventory
    notes: tuple[str, ...] = ()


def parse_env_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``GROUP=ENV`` pairs as a mapping, in the order given.

    Raises:
        UsageError: for a pair without ``=`` or with an empty side, or a group given twice.

    Example:
        >>> parse_env_mapping(["staging=staging", "prod=production"])
        {'staging': 'staging', 'prod': 'production'}
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        group, equals, env = (part.strip() for part in pair.partition("="))
        if not equals or not group or not env:
            raise UsageError(f"--env-from-group {pair!r}: write GROUP=ENV, e.g. prod=production")
        if group in mapping:
            raise UsageError(f"--env-from-group: group {group!r} is mapped twice")
        mapping[group] = env
    return mapping


def import_ansible(
    path: Path,
    env_from_group: Mapping[str, str],
    default_env: str | None = None,
    environments: Sequence[str] | None = None,
) -> ImportedInventory:
    """Read an Ansible inventory file and make the patchwarden inventory of its hosts.

    Args:
        path: The Ansible inventory (INI or YAML).
        env_from_group: Ansible group → patchwarden environment.
        default_env: The environment of a host in no mapped group; without it, such a
            host is a problem.
        environments: The promotion order, earliest first; if not given, dev, qa, staging,
            prod when the environments are among those, else the default environment and
            then the mapped ones in the order given.

    Raises:
        InputError: the file cannot be read.
        ValidationFailed: every problem, with file and line; nothing is printed then.
    """
    inventory = read_ansible_inventory(path)
    problems: list[Problem] = []
    assets: list[dict[str, Any]] = []
    ids: dict[str, str] = {}
    for host in inventory.hosts:
        asset = _asset(host, str(path), env_from_group, default_env, problems)
        if asset is None:
            continue
        other = ids.setdefault(asset["id"], host.name)
        if other != host.name:
            problems.append(
                Problem(
                    str(path),
                    host.line,
                    host.name,
                    f"becomes asset id {asset['id']!r}, as {other!r} does",
                    "host names must differ in more than letter case",
                )
            )
            continue
        assets.append(asset)
    if problems:
        raise ValidationFailed(problems)
    used = list(dict.fromkeys([*filter(None, [default_env]), *env_from_group.values()]))
    order = list(environments or ())
    missing = [env for env in used if order and env not in order]
    if missing:
        raise UsageError(
            f"--environments does not list {', '.join(missing)}: add each where it belongs"
            " in the promotion order"
        )
    if not order and not set(used) <= set(DEFAULT_ENVIRONMENTS):
        order = used
    document: dict[str, Any] = {}
    if order:
        document["environments"] = order
    document["assets"] = assets
    header = (
        f"# Imported from the Ansible inventory {path.name} by"
        " `patchwarden inventory import ansible`.\n"
        "# Ansible does not say each host's os, criticality or exposure: add them where known.\n"
    )
    body = yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
    )
    out = header + body
    # What is printed must load: read it back with patchwarden's own reader.
    loaded = parse_inventory([(f"{path.stem}.patchwarden.yaml", out)])
    return ImportedInventory(out, loaded, inventory.skipped)


def read_ansible_inventory(path: Path) -> AnsibleInventory:
    """An Ansible inventory file with the ``group_vars/`` and ``host_vars/`` beside it.

    Raises:
        InputError: a file cannot be read.
        ValidationFailed: every problem, with file and line.
    """
    group_vars = _vars_folder(path.parent / "group_vars")
    host_vars = _vars_folder(path.parent / "host_vars")
    return parse_ansible_inventory(str(path), _read(path), group_vars, host_vars)


def _vars_folder(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """The vars files of ``group_vars/`` or ``host_vars/``, by name, as Ansible finds them.

    For a name, the first of ``name``, ``name.yml``, ``name.yaml``, ``name.json`` that
    exists counts; a folder of that name holds files read in sorted order, recursively,
    skipping hidden files, backups (``~``) and other extensions.
    """
    if not folder.is_dir():
        return {}
    names: set[str] = set()
    for entry in folder.iterdir():
        if not entry.name.startswith("."):
            names.add(entry.name)
            if entry.suffix in _VARS_SUFFIXES:
                names.add(entry.name.removesuffix(entry.suffix))
    found: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(names):
        for candidate in (name, *(name + s for s in _VARS_SUFFIXES)):
            target = folder / candidate
            if target.exists():
                files = _folder_files(target) if target.is_dir() else [target]
                found[name] = [(str(f), _read(f)) for f in files]
                break
    return found


def _folder_files(folder: Path) -> list[Path]:
    files: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            files.extend(_folder_files(entry))
        elif entry.is_file() and (not entry.suffix or entry.suffix in _VARS_SUFFIXES):
            files.append(entry)
    return files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8: {error.reason}") from error


def _asset(
    host: AnsibleHost,
    file: str,
    env_from_group: Mapping[str, str],
    default_env: str | None,
    problems: list[Problem],
) -> dict[str, Any] | None:
    def problem(field: str, message: str, hint: str) -> None:
        problems.append(Problem(file, host.line, f"{host.name}.{field}", message, hint))

    asset_id = host.name.lower()
    if not _ID.fullmatch(asset_id):
        problem(
            "id",
            f"host name {host.name!r} is not a valid asset id",
            "ids are up to 63 lowercase letters, digits, '.', '_' and '-', starting with a"
            " letter or digit: rename the host",
        )
        return None
    envs = {env_from_group[g]: g for g in host.groups if g in env_from_group}
    if len(envs) > 1:
        shown = ", ".join(f"{g}→{e}" for e, g in sorted(envs.items()))
        problem("env", f"its groups map to more than one environment ({shown})", "map one")
        return None
    if not envs and default_env is None:
        groups = ", ".join(host.groups) or "none"
        problem(
            "env",
            f"in no group mapped to an environment (its groups: {groups})",
            "add --env-from-group GROUP=ENV for one of them, or --default-env ENV",
        )
        return None
    env = next(iter(envs), default_env)
    connection = _connection(host, problem)
    if connection is None:
        return None
    asset: dict[str, Any] = {"id": asset_id}
    if asset_id != host.name:
        asset["name"] = host.name
    asset |= {"kind": "vm", "env": env}  # Ansible does not say; a VM is the usual host
    roles = [g for g in host.groups if g not in env_from_group]
    if roles:
        asset["roles"] = roles
    asset["connection"] = connection
    return asset


def _connection(host: AnsibleHost, problem: Any) -> dict[str, Any] | None:
    values = host.vars
    fields: dict[str, Any] = {}
    ok = True
    for name in _CONNECTION_VARS:
        value = values.get(name)
        if isinstance(value, str) and "{{" in value:
            problem(name, f"is a Jinja template ({value!r})", "write the plain value")
            ok = False
        elif isinstance(value, Vaulted):
            problem(name, "is encrypted with Ansible Vault", "patchwarden needs the plain value")
            ok = False
    if not ok:
        return None
    transport = values.get("ansible_connection") or "ssh"
    if transport == "local":
        fields["transport"] = "local"
    elif transport in _SSH:
        fields["transport"] = "ssh"
        fields["address"] = str(
            values.get("ansible_host") or values.get("ansible_ssh_host") or host.name
        )
        port = values.get("ansible_port", values.get("ansible_ssh_port"))
        if port is not None:
            number = _port(port)
            if number is None:
                problem("ansible_port", f"not a port number (got {port!r})", "use 1 to 65535")
                ok = False
            else:
                fields["port"] = number
        user = values.get("ansible_user", values.get("ansible_ssh_user"))
        if user is not None:
            fields["user"] = str(user)
    else:
        problem(
            "ansible_connection",
            f"patchwarden has no transport for {transport!r}",
            "patchwarden reaches hosts over ssh or locally; leave this host out",
        )
        ok = False
    become = _boolean(values.get("ansible_become", False))
    if become is None:
        problem("ansible_become", "not a boolean", "use true or false")
        ok = False
    elif become:
        method = values.get("ansible_become_method") or "sudo"
        if method != "sudo":
            problem(
                "ansible_become_method",
                f"patchwarden becomes root with sudo only (got {method!r})",
                "use sudo, or connect as root",
            )
            ok = False
        fields["sudo"] = True
    return fields if ok else None


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= 65535 else None


def _boolean(value: Any) -> bool | None:
    """Ansible's reading of a boolean (``yes``, ``on``, ``1``, ``true``, ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None
