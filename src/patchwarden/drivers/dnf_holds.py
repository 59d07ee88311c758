r"""dnf holds: version locks and excludes, each a command next to its pure parser.

A hold keeps a package where it is: a ``dnf versionlock`` entry
(:func:`versionlock_list_command` → :func:`parse_versionlock_list`) or an ``excludepkgs``
pattern in the main or a repository section (:func:`config_dump_command` →
:func:`parse_config_excludes`). :func:`held_by_locks` and :func:`held_by_excludes` tell
whether a target version is held, matching every spelling a dnf pattern may use.

Example:
    >>> locks = parse_versionlock_list("pw-tool-0:1.0-1.*\n")
    >>> held_by_locks(locks, "pw-tool", "1.0-2"), held_by_locks(locks, "pw-tool", "1.0-1")
    (True, False)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from patchwarden.drivers.dnf_facts import dnf_command

__all__ = [
    "VersionLock",
    "config_dump_command",
    "held_by_excludes",
    "held_by_locks",
    "parse_config_excludes",
    "parse_versionlock_list",
    "versionlock_list_command",
]


@dataclass(frozen=True)
class VersionLock:
    """One ``dnf versionlock`` entry: a package spec pattern, locked to or excluded."""

    pattern: str
    name: str
    excluded: bool


def versionlock_list_command(options: Sequence[str]) -> list[str]:
    """The version locks (plugin ``versionlock``): read by :func:`parse_versionlock_list`."""
    return dnf_command(options, "versionlock", "list")


def parse_versionlock_list(text: str) -> list[VersionLock]:
    r"""Parse ``dnf versionlock list``: one pattern a line, ``!`` before excluded versions.

    Example:
        >>> parse_versionlock_list("pw-tool-0:1.0-1.*\n!pw-web-0:1.0-3.*\n")[1]
        VersionLock(pattern='pw-web-0:1.0-3.*', name='pw-web', excluded=True)
    """
    locks = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or " " in line:
            continue  # comments and dnf's chatter ("Last metadata expiration check: ...")
        excluded = line.startswith("!")
        pattern = line.lstrip("!")
        locks.append(VersionLock(pattern, _lock_name(pattern), excluded))
    return locks


def _lock_name(pattern: str) -> str:
    # "name-epoch:version-release.arch": the name is what comes before the last two dashes.
    head = pattern.rsplit(".", 1)[0] if pattern.count("-") >= 2 else pattern
    parts = head.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else head


def config_dump_command(options: Sequence[str]) -> list[str]:
    """The main and repository configuration: read by :func:`parse_config_excludes`."""
    return dnf_command(options, "config-manager", "--dump")


def parse_config_excludes(text: str) -> tuple[str, ...]:
    r"""The ``excludepkgs`` patterns of ``dnf config-manager --dump`` (deduplicated).

    The main section's and every enabled repository's patterns together: a package a
    repository excludes cannot be installed from it either.

    Example:
        >>> parse_config_excludes("excludepkgs = kernel*, pw-tool, pw-tool\n")
        ('kernel*', 'pw-tool')
    """
    patterns: list[str] = []
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals and key.strip() in ("excludepkgs", "exclude"):
            patterns.extend(p for p in re.split(r"[,\s]+", value) if p)
    return tuple(dict.fromkeys(patterns))


def _spellings(name: str, evr: str, arch: str) -> list[str]:
    # The forms a dnf pattern can be written against: N, N.A, N-V-R, N-V-R.A, N-E:V-R.A.
    epoch, colon, vr = evr.partition(":")
    if not colon:
        epoch, vr = "0", evr
    return [
        name,
        f"{name}.{arch}",
        f"{name}-{vr}",
        f"{name}-{vr}.{arch}",
        f"{name}-{epoch}:{vr}",
        f"{name}-{epoch}:{vr}.{arch}",
    ]


def held_by_locks(locks: list[VersionLock], name: str, evr: str, arch: str = "noarch") -> bool:
    r"""Whether version locks keep ``name`` from being set to ``evr``.

    A package with lock entries may only take a version one of them names; an excluded
    (``!``) entry forbids the versions it matches.

    Example:
        >>> locks = parse_versionlock_list("pw-tool-0:1.0-1.*\n")
        >>> held_by_locks(locks, "pw-tool", "1.0-2"), held_by_locks(locks, "pw-tool", "1.0-1")
        (True, False)
    """
    forms = _spellings(name, evr, arch)
    mine = [lock for lock in locks if lock.name == name]
    if any(lock.excluded and _matches(lock.pattern, forms) for lock in mine):
        return True
    kept = [lock for lock in mine if not lock.excluded]
    return bool(kept) and not any(_matches(lock.pattern, forms) for lock in kept)


def held_by_excludes(patterns: tuple[str, ...], name: str, evr: str, arch: str = "noarch") -> bool:
    """Whether ``excludepkgs`` patterns hide ``name`` at ``evr`` from dnf.

    Example:
        >>> held_by_excludes(("pw-*",), "pw-tool", "1.0-2")
        True
    """
    return any(_matches(pattern, _spellings(name, evr, arch)) for pattern in patterns)


def _matches(pattern: str, forms: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(form, pattern) for form in forms)
