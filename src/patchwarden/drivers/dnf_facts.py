r"""The dnf facts: each a command builder next to its pure parser (golden: ``tests/golden/dnf``).

- transactions: :func:`history_list_command` → :func:`parse_history_list`;
  :func:`history_info_command` → :func:`parse_history_info`
- holds (version locks and excludes): in :mod:`patchwarden.drivers.dnf_holds`
- reboot state: :func:`needs_restarting_command` →
  :func:`~patchwarden.drivers.rpm.parse_needs_restarting`
- installing: :func:`install_command`, whose output on failure goes to
  :func:`classify_install_failure`; undoing: :func:`history_undo_command`,
  :func:`remove_command`
- package specs: :func:`parse_nevra` and :func:`nevra_spec`, the inverse

Every builder takes the options a :class:`~patchwarden.drivers.dnf.DnfConfig` gives
(install root, repositories, ``--setopt``) and returns an argument vector; none runs it.

Versions are written as OSV's RPM ecosystems write them: ``epoch:version-release`` with a
zero epoch left out, as :mod:`patchwarden.drivers.rpm` reports installed versions.

Example:
    >>> parse_nevra("pw-tool-2:1.0-1.el9.noarch")
    Nevra(name='pw-tool', evr='2:1.0-1.el9', arch='noarch')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from patchwarden.errors import DriverError

__all__ = [
    "AlteredPackage",
    "HistoryEntry",
    "InstallFailure",
    "Nevra",
    "TransactionInfo",
    "classify_install_failure",
    "dnf_command",
    "history_info_command",
    "history_list_command",
    "history_undo_command",
    "install_command",
    "needs_restarting_command",
    "nevra_spec",
    "normalize_evr",
    "parse_history_info",
    "parse_history_list",
    "parse_nevra",
    "remove_command",
]

# What rpm allows in a name, version or release: anything else in a target is refused
# before it reaches dnf, so data never turns into an option or a glob.
_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]*$")
_EVR = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?$")
# Every rpm arch starts with a letter (x86_64, noarch, i686, s390x): "1.0" ends no NEVRA.
_ARCH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


InstallFailure = Literal["excluded", "busy", "unavailable", "failed"]
"""Why ``dnf install`` failed: a hold, another dnf, a version no repository has, or else."""


@dataclass(frozen=True)
class Nevra:
    """A package's name, ``epoch:version-release`` (OSV style) and architecture."""

    name: str
    evr: str
    arch: str


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``dnf history list``."""

    id: int
    command_line: str
    date: str
    actions: str
    altered: int


@dataclass(frozen=True)
class AlteredPackage:
    """One package line of ``dnf history info``: what the transaction did to it."""

    action: str
    name: str
    evr: str
    arch: str
    repo: str


@dataclass(frozen=True)
class TransactionInfo:
    """A transaction as ``dnf history info`` shows it."""

    id: int
    return_code: str
    command_line: str
    comment: str
    packages: tuple[AlteredPackage, ...]

    @property
    def succeeded(self) -> bool:
        """Whether dnf recorded the transaction as complete."""
        return self.return_code == "Success"


def dnf_command(options: Sequence[str], *argv: str, quiet: bool = True) -> list[str]:
    """``dnf -y`` with a config's options: how every dnf fact and action starts.

    Example:
        >>> dnf_command(["--installroot=/srv/r"], "versionlock", "list")
        ['dnf', '-y', '-q', '--installroot=/srv/r', 'versionlock', 'list']
    """
    return ["dnf", "-y", *(["-q"] if quiet else []), *options, *argv]


def normalize_evr(evr: str) -> str:
    """Drop a zero epoch, as OSV and :mod:`patchwarden.drivers.rpm` write versions.

    Example:
        >>> normalize_evr("0:1.0-1"), normalize_evr("2:1.0-1")
        ('1.0-1', '2:1.0-1')
    """
    epoch, colon, rest = evr.partition(":")
    return rest if colon and epoch.isdigit() and int(epoch) == 0 else evr


def parse_nevra(text: str) -> Nevra:
    """Split ``name-[epoch:]version-release.arch`` (the arch is required).

    Raises:
        DriverError: the text is not a NEVRA.

    Example:
        >>> parse_nevra("kernel-core-5.14.0-362.8.1.el9_3.x86_64").evr
        '5.14.0-362.8.1.el9_3'
    """
    base, dot, arch = text.strip().rpartition(".")
    name_version, dash, release = base.rpartition("-")
    name, dash2, version = name_version.rpartition("-")
    if not (dot and dash and dash2 and name and version and release and _ARCH.match(arch)):
        raise DriverError(f"not a package NEVRA: {text!r}")
    return Nevra(name, normalize_evr(f"{version}-{release}"), arch)


def nevra_spec(name: str, evr: str, arch: str | None = None) -> str:
    """The dnf package spec installing exactly ``name`` at ``evr`` (and ``arch``).

    Raises:
        DriverError: the name, version or arch is not one rpm allows, so dnf would read it
            as an option or a glob.

    Example:
        >>> nevra_spec("pw-tool", "2:1.0-1", "noarch")
        'pw-tool-2:1.0-1.noarch'
    """
    if not _NAME.match(name) or not _EVR.match(evr) or (arch and not _ARCH.match(arch)):
        raise DriverError(f"invalid package target {name!r}={evr!r}")
    return f"{name}-{evr}.{arch}" if arch else f"{name}-{evr}"


def history_list_command(options: Sequence[str]) -> list[str]:
    """The transactions of the history, newest first: read by :func:`parse_history_list`."""
    return dnf_command(options, "history", "list")


def parse_history_list(text: str) -> list[HistoryEntry]:
    r"""Parse ``dnf history list``: newest first, as dnf prints them; other lines skipped.

    Example:
        >>> parse_history_list("  7 | install x | 2026-01-02 10:00 | Upgrade |  1  \n")[0].id
        7
    """
    entries = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        altered = re.match(r"\d+", fields[4])
        entries.append(
            HistoryEntry(
                id=int(fields[0]),
                command_line=fields[1],
                date=fields[2],
                actions=fields[3],
                altered=int(altered.group()) if altered else 0,
            )
        )
    return entries


def history_info_command(options: Sequence[str], ident: int | str = "last") -> list[str]:
    """One transaction (``last`` or an id): read by :func:`parse_history_info`.

    Example:
        >>> history_info_command([], 7)
        ['dnf', '-y', '-q', 'history', 'info', '7']
    """
    if not (isinstance(ident, int) or ident == "last"):
        raise DriverError(f"a dnf transaction is 'last' or a number, not {ident!r}")
    return dnf_command(options, "history", "info", str(ident))


def history_undo_command(options: Sequence[str], transaction_id: int) -> list[str]:
    """Undo one transaction, what it pulled in included (dnf's output shown, not parsed)."""
    return dnf_command(options, "history", "undo", str(int(transaction_id)), quiet=False)


def parse_history_info(text: str) -> TransactionInfo:
    """Parse ``dnf history info ID`` (one transaction).

    Raises:
        DriverError: there is no ``Transaction ID`` in the text (no such transaction).
    """
    fields: dict[str, str] = {}
    packages: list[AlteredPackage] = []
    section = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            key, colon, value = line.partition(":")
            if colon and key.strip() in _SECTIONS and not value.strip():
                section = key.strip()
            elif colon:
                section = ""
                fields.setdefault(key.strip(), value.strip())
            continue
        if section == "Packages Altered":
            altered = _altered_package(line)
            if altered is not None:
                packages.append(altered)
    ident = fields.get("Transaction ID", "")
    if not ident.isdigit():
        raise DriverError("dnf history info: no transaction in the output")
    return TransactionInfo(
        id=int(ident),
        return_code=fields.get("Return-Code", ""),
        command_line=fields.get("Command Line", ""),
        comment=fields.get("Comment", ""),
        packages=tuple(packages),
    )


_SECTIONS = frozenset({"Packages Altered", "Transaction performed with", "Scriptlet output"})


def _altered_package(line: str) -> AlteredPackage | None:
    # "    Upgraded pw-tool-1.0-1.noarch @@System"; a problem mark ("**") may lead the line.
    tokens = line.replace("**", " ").split()
    repo = tokens[-1] if tokens and tokens[-1].startswith("@") else ""
    if repo:
        tokens = tokens[:-1]
    if len(tokens) < 2:
        return None
    try:
        nevra = parse_nevra(tokens[-1])
    except DriverError:
        return None
    return AlteredPackage(" ".join(tokens[:-1]), nevra.name, nevra.evr, nevra.arch, repo)


def needs_restarting_command(options: Sequence[str]) -> list[str]:
    """Whether the (install root's) system needs a reboot: read by rpm's parser.

    :func:`~patchwarden.drivers.rpm.parse_needs_restarting` reads it, as it reads the
    stand-alone ``needs-restarting`` of older hosts.
    """
    return dnf_command(options, "needs-restarting", "-r")


def install_command(options: Sequence[str], comment: str, specs: Sequence[str]) -> list[str]:
    """One transaction installing exact NEVRA ``specs`` (from :func:`nevra_spec`).

    The comment names the transaction, so its id can be read back from the history for
    sure. A failure's output goes to :func:`classify_install_failure`.

    Example:
        >>> install_command([], "patchwarden 1", [nevra_spec("pw-tool", "1.0-2", "noarch")])
        ['dnf', '-y', 'install', '--comment=patchwarden 1', 'pw-tool-1.0-2.noarch']
    """
    for spec in specs:
        if not spec or spec.startswith("-"):  # nevra_spec's checks, for specs built elsewhere
            raise DriverError(f"invalid package spec {spec!r}")
    return dnf_command(options, "install", f"--comment={comment}", *specs, quiet=False)


def remove_command(options: Sequence[str], names: Sequence[str]) -> list[str]:
    """Remove packages by name (what an install added, when it is rolled back)."""
    for name in names:
        if not _NAME.match(name):
            raise DriverError(f"invalid package name {name!r}")
    return dnf_command(options, "remove", *names, quiet=False)


def classify_install_failure(text: str) -> tuple[InstallFailure, str]:
    r"""Why a ``dnf install`` failed, and the lines saying so (stdout and stderr together).

    Example:
        >>> classify_install_failure("No match for argument: pw-tool-9-9\nError: Unable...")
        ('unavailable', 'No match for argument: pw-tool-9-9 Error: Unable...')
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("Error", "No match", "All matches"))]
    detail = " ".join(said[-3:]) if said else " ".join(lines[-3:])[-500:]
    if "filtered out by exclude filtering" in text:
        return "excluded", detail
    if "Waiting for process with pid" in text or "another copy is running" in text:
        return "busy", detail
    if "No match for argument" in text or "Unable to find a match" in text:
        return "unavailable", detail
    return "failed", detail
