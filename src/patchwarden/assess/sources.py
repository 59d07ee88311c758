"""Source packages: how Debian's and Ubuntu's advisories reach the binaries a host runs.

Debian's and Ubuntu's OSV records name the *source* package (``openssl``) and its
versions, while a host installs *binary* packages built from it (``libssl3``, ``openssl``,
``libssl-dev``). The rules:

1. In the ecosystems of :data:`SOURCE_KEYED`, a binary is exposed when its source package
   at its source version is: ``libssl3 3.0.11-1~deb12u2+b1`` of source ``openssl
   3.0.11-1~deb12u2`` is matched as ``openssl 3.0.11-1~deb12u2``. A binary with no known
   source is its own source (same name, same version).
2. Ubuntu's records may list the binaries of the fix (``ecosystem_specific.binaries``,
   binary names with their versions): where such a list is present, only the binaries it
   names are exposed (:func:`listed_binaries`).
3. Findings, fixed-in targets and patch steps name the *binary* and a version apt can
   install for it (:func:`binary_target`): the version the record lists for that binary
   when it is at least the source's fix; else the source's fixed version, with the epoch
   the binary carries when its source has none (``bsdutils 1:2.38.1-5`` of
   ``util-linux 2.38.1-5``). A binNMU suffix (``+b1``) is not carried over: a fix is a new
   source upload, whose binaries start without one.
4. Other ecosystems (the RPM family's records name binary packages) match binaries by
   their own name; their source (SOURCERPM) is only reported.

Binaries versioned apart from their source (``cpp 4:12.2.0-3`` of ``gcc-defaults
1.203``) cannot have their target derived from the source's fix: they get the source's
fixed version, which apt then refuses by name, failing that step rather than installing
something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patchwarden.errors import InputError
from patchwarden.versions import compare

__all__ = [
    "SOURCE_KEYED",
    "binary_name",
    "binary_target",
    "by_source",
    "listed_binaries",
    "source_keyed",
]

SOURCE_KEYED = frozenset({"debian", "ubuntu"})
"""Ecosystems (lower-case OSV base names) whose advisories name source packages."""


def source_keyed(ecosystem_base: str) -> bool:
    """Whether advisories of this ecosystem name source packages.

    Example:
        >>> source_keyed("debian"), source_keyed("almalinux")
        (True, False)
    """
    return ecosystem_base in SOURCE_KEYED


def binary_name(key: str) -> str:
    """The package name of an installed key (``libssl3:i386`` → ``libssl3``).

    Example:
        >>> binary_name("libssl3:i386"), binary_name("libssl3")
        ('libssl3', 'libssl3')
    """
    return key.split(":", 1)[0]


def listed_binaries(ecosystem_specific: Mapping[str, Any]) -> dict[str, str] | None:
    """The binaries an Ubuntu record lists for a source, name → version; ``None`` if no list.

    Two shapes are in use: Ubuntu's CVE records list ``{"libssl3": "3.0.2-0ubuntu1.15",
    ...}`` mappings; its notices list ``{"binary_name": ..., "binary_version": ...}`` pairs.

    Example:
        >>> listed_binaries({"binaries": [{"binary_name": "libssl3",
        ...                                "binary_version": "3.0.2-0ubuntu1.15"}]})
        {'libssl3': '3.0.2-0ubuntu1.15'}
        >>> listed_binaries({"binaries": [{"libssl-dev": "1.0.1f-1ubuntu2.1",
        ...                                "openssl": "1.0.1f-1ubuntu2.1"}]})
        {'libssl-dev': '1.0.1f-1ubuntu2.1', 'openssl': '1.0.1f-1ubuntu2.1'}
        >>> listed_binaries({"availability": "No subscription required"}) is None
        True
    """
    entries = ecosystem_specific.get("binaries")
    if not isinstance(entries, list):
        return None
    listed: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        if "binary_name" in entry:
            name, version = entry.get("binary_name"), entry.get("binary_version")
            if isinstance(name, str):
                listed[name] = version if isinstance(version, str) else ""
        else:
            listed.update((k, v) for k, v in entry.items() if isinstance(v, str))
    return listed


def binary_target(binary_version: str, source_version: str, fixed: str, listed: str = "") -> str:
    """The version of a binary that carries the source's fix ``fixed`` (rule 3 above).

    Args:
        binary_version: The binary's installed version.
        source_version: The installed version of its source.
        fixed: The source version that fixes the advisory; ``""`` when none does.
        listed: The version the record lists for this binary, if any.

    Example:
        >>> binary_target("3.0.11-1~deb12u2+b1", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1")
        '3.0.15-1~deb12u1'
        >>> binary_target("1:2.38.1-5+deb12u3", "2.38.1-5+deb12u3", "2.38.1-5+deb12u4")
        '1:2.38.1-5+deb12u4'
        >>> binary_target("3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.15",
        ...               listed="3.0.2-0ubuntu1.15")
        '3.0.2-0ubuntu1.15'
        >>> binary_target("1.0-1", "1.0-1", "")
        ''
    """
    if not fixed:
        return ""
    if listed and _at_least(listed, fixed):
        return listed
    epoch, colon, _ = binary_version.partition(":")
    if colon and ":" not in source_version and ":" not in fixed and epoch.isdigit():
        return f"{epoch}:{fixed}"
    return fixed


def by_source(
    packages: Mapping[str, str], sources: Mapping[str, tuple[str, str]], scheme: str
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Source → (its installed version, the binaries built from it), for baselines.

    Where the binaries of one source stand at different source versions (an upgrade left
    half done), the oldest stands for the source: the one still exposed.

    Example:
        >>> by_source({"libssl3": "3.0.11-1+b1", "openssl": "3.0.15-1", "curl": "7.88.1-10"},
        ...           {"libssl3": ("openssl", "3.0.11-1")}, "deb")["openssl"]
        ('3.0.11-1', ('libssl3', 'openssl'))
    """
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for binary, version in packages.items():
        source, source_version = sources.get(binary, (binary_name(binary), version))
        if source not in out:
            out[source] = (source_version, (binary,))
            continue
        known, binaries = out[source]
        try:
            older = compare(scheme, source_version, known) < 0
        except InputError:
            older = False
        out[source] = (source_version if older else known, (*binaries, binary))
    return out


def _at_least(version: str, floor: str) -> bool:
    try:
        return compare("deb", version, floor) >= 0
    except InputError:
        return False
