r"""Host-side storage paths: ``multipath -ll`` parsed into maps, path groups and paths.

The fact is a command (:func:`multipath_command`, an argument vector, no shell) and a pure
parser (:func:`parse_multipath`), golden-tested in ``tests/golden/multipath`` on the
output device-mapper-multipath documents. One map (a LUN) per header line, then its
``size=`` line, then its path groups and their paths::

    mpatha (3600a098038303634722b4d59646c4436) dm-0 NETAPP,LUN C-Mode
    size=10G features='3 queue_if_no_path pg_init_retries 50' hwhandler='1 alua' wp=rw
    |-+- policy='service-time 0' prio=50 status=active
    | `- 1:0:0:0 sdb 8:16  active ready running
    `-+- policy='service-time 0' prio=10 status=enabled
      `- 2:0:0:0 sdc 8:32  failed faulty running

Rules, as multipath's documentation states them:

- a path's *dm status* is the kernel's view: ``active`` or ``failed`` (``undef`` while a
  map is being built);
- its *path status* is the checker's: ``ready`` or ``ghost`` (a passive path of an
  active/passive array, ready to take over) when it can carry I/O; ``faulty``, ``shaky``,
  ``i/o pending``, ``delayed`` or ``undef`` when it cannot now;
- its *online status* is the SCSI device's: ``running``, or ``offline`` when disabled;
- a path **can carry I/O** when the kernel has it active, the checker finds it ``ready``
  or ``ghost`` and the device is running;
- a map is **redundant** when at least two of its paths can carry I/O: losing one part
  of the storage system (a controller, a switch, an HBA) then leaves it reachable.

The older output (multipath-tools before 0.4.9: ``[size=10 GB][features=0]``,
``\_ round-robin 0 [prio=1][active]``, ``\_ 2:0:0:6 sdb 8:16 [active][ready]``) is read
too, its missing online status taken as ``running``.

Example:
    >>> text = '''mpatha (3600a0980) dm-0 NETAPP,LUN C-Mode
    ... size=10G features='0' hwhandler='1 alua' wp=rw
    ... |-+- policy='service-time 0' prio=50 status=active
    ... | `- 1:0:0:0 sdb 8:16 active ready running
    ... `-+- policy='service-time 0' prio=10 status=enabled
    ...   `- 2:0:0:0 sdc 8:32 failed faulty running
    ... '''
    >>> (m,) = parse_multipath(text)
    >>> m.name, m.wwid, m.usable_paths, m.redundant
    ('mpatha', '3600a0980', 1, False)
    >>> [p.device for p in m.paths if not p.usable]
    ['sdc']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from patchwarden.errors import DriverError

__all__ = [
    "MultipathMap",
    "Path",
    "PathGroup",
    "multipath_command",
    "parse_multipath",
    "single_path_maps",
    "unredundant",
]

_USABLE_CHECKER = frozenset({"ready", "ghost"})

# A map's header: "[action: ]alias [(wwid)] [dm-N] vendor,product", product may hold spaces.
_HEADER = re.compile(
    r"^(?:(?P<action>create|reload|switchpg|rename|remove|resize|reject|switch):\s+)?"
    r"(?P<name>\S+)(?:\s+\((?P<wwid>[^)]+)\))?(?:\s+(?P<dm>dm-\d+))?"
    r"(?:\s+(?P<vendor>[^,\s][^,]*),(?P<product>.*?))?\s*$"
)
_SIZE = re.compile(r"^(?:size=(?P<size>\S+)|\[size=(?P<old>[^\]]+)\])")
_GROUP = re.compile(
    r"^[|`\s]*[|`]-\+-\s+policy='(?P<policy>[^']*)'(?:\s+prio=(?P<prio>-?\d+|undef))?"
    r"(?:\s+status=(?P<status>\S+))?\s*$"
)
_OLD_GROUP = re.compile(
    r"^\s*\\_\s+(?P<policy>[a-z][\w-]*(?: \d+)?)\s+(?:\[prio=(?P<prio>-?\d+)\])?"
    r"(?:\[(?P<status>active|enabled|disabled|undef)\])?\s*$"
)
_PATH = re.compile(
    r"^[|`\s]*[|`]-\s+(?P<hctl>\d+:\d+:\d+:\d+)\s+(?P<dev>\S+)\s+(?P<majmin>\d+:\d+)\s+"
    r"(?P<rest>.*?)\s*$"
)
_OLD_PATH = re.compile(
    r"^\s*\\_\s+(?P<hctl>\d+:\d+:\d+:\d+)\s+(?P<dev>\S+)\s+(?P<majmin>\d+:\d+)\s+"
    r"(?P<rest>(?:\[[^\]]*\])+)\s*$"
)
_DM = frozenset({"active", "failed", "undef"})
_ONLINE = frozenset({"running", "offline", "blocked", "transport-offline", "undef"})


@dataclass(frozen=True)
class Path:
    """One path to a LUN: a SCSI device through one HBA port, switch and array port.

    Attributes:
        hctl: SCSI ``host:channel:target:lun`` (the host number is the HBA).
        device: Its device node (``sdb``).
        dm_status: The kernel's view: ``active``, ``failed`` or ``undef``.
        checker: The path checker's: ``ready``, ``ghost``, ``faulty``, ``shaky``, ...
        online: The SCSI device's: ``running`` or ``offline`` (``running`` when the
            output does not say, as in older multipath-tools).
    """

    hctl: str
    device: str
    dm_status: str
    checker: str
    online: str

    @property
    def usable(self) -> bool:
        """Whether it can carry I/O now (active in the kernel, ready or ghost, running)."""
        return (
            self.dm_status != "failed"
            and self.checker in _USABLE_CHECKER
            and self.online == "running"
        )


@dataclass(frozen=True)
class PathGroup:
    """Paths the map uses together, under one policy; ``status`` is active/enabled/disabled."""

    policy: str
    priority: int | None
    status: str
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class MultipathMap:
    """One multipath device (a LUN) and its path groups."""

    name: str
    wwid: str
    dm: str
    vendor: str
    product: str
    size: str
    groups: tuple[PathGroup, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every path, group by group."""
        return tuple(p for g in self.groups for p in g.paths)

    @property
    def usable_paths(self) -> int:
        """How many paths can carry I/O now."""
        return sum(1 for p in self.paths if p.usable)

    @property
    def redundant(self) -> bool:
        """At least two paths can carry I/O: one part may go without losing the LUN."""
        return self.usable_paths >= 2


def multipath_command() -> list[str]:
    """The argument vector whose output :func:`parse_multipath` reads.

    Example:
        >>> multipath_command()
        ['multipath', '-ll']
    """
    return ["multipath", "-ll"]


def _states(rest: str, line_no: int, line: str) -> tuple[str, str, str]:
    """``dm checker online`` of a path line, new form or old bracketed form."""
    if rest.startswith("["):
        words = re.findall(r"\[([^\]]*)\]", rest)
    else:
        # "i/o pending" is the one checker state with a space in it.
        words = rest.replace("i/o pending", "i/o_pending").split()
    words = [w.replace("i/o_pending", "i/o pending") for w in words]
    dm = words[0] if words and words[0] in _DM else "undef"
    if words and words[0] in _DM:
        words = words[1:]
    if not words:
        raise DriverError(f"multipath -ll line {line_no}: no path state in {line.strip()!r}")
    checker = words[0]
    online = words[1] if len(words) > 1 else "running"
    if online not in _ONLINE:
        raise DriverError(
            f"multipath -ll line {line_no}: unknown online state {online!r} in {line.strip()!r}"
        )
    return dm, checker, online


def parse_multipath(text: str) -> tuple[MultipathMap, ...]:
    r"""Every multipath map of ``multipath -ll`` output, in order.

    Lines that are no part of a map (multipathd's own warnings, blank lines before the
    first map) are skipped; a path line outside a map is an error, as is a path group
    line before a map's header.

    Example:
        >>> parse_multipath("")
        ()
        >>> old = '''mpath1 (3600d0230003228bc000339414edb8101)
        ... [size=10 GB][features="0"][hwhandler="0"]
        ... \\_ round-robin 0 [prio=1][active]
        ...  \\_ 2:0:0:6 sdb 8:16 [active][ready]
        ... \\_ round-robin 0 [prio=1][enabled]
        ...  \\_ 3:0:0:6 sdc 8:64 [active][ready]
        ... '''
        >>> [(m.name, m.size, m.usable_paths) for m in parse_multipath(old)]
        [('mpath1', '10 GB', 2)]

    Raises:
        DriverError: A path or path group line appears where no map is open.
    """
    maps: list[MultipathMap] = []
    header: dict[str, str] | None = None
    size = ""
    groups: list[PathGroup] = []
    group: tuple[str, int | None, str] | None = None
    paths: list[Path] = []

    def close_group() -> None:
        nonlocal group, paths
        if group is not None:
            groups.append(PathGroup(group[0], group[1], group[2], tuple(paths)))
        group, paths = None, []

    def close_map() -> None:
        nonlocal header, size, groups
        close_group()
        if header is not None:
            maps.append(
                MultipathMap(
                    name=header["name"],
                    wwid=header.get("wwid") or header["name"],
                    dm=header.get("dm") or "",
                    vendor=(header.get("vendor") or "").strip(),
                    product=(header.get("product") or "").strip(),
                    size=size,
                    groups=tuple(groups),
                )
            )
        header, size, groups = None, "", []

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path = _PATH.match(line) or _OLD_PATH.match(line)
        if path:
            if header is None or group is None:
                raise DriverError(
                    f"multipath -ll line {number}: a path outside a path group: {line.strip()!r}"
                )
            dm, checker, online = _states(path["rest"], number, line)
            paths.append(Path(path["hctl"], path["dev"], dm, checker, online))
            continue
        grp = _GROUP.match(line) or _OLD_GROUP.match(line)
        if grp:
            if header is None:
                raise DriverError(
                    f"multipath -ll line {number}: a path group outside a map: {line.strip()!r}"
                )
            close_group()
            prio = grp["prio"]
            priority = int(prio) if prio not in (None, "undef") else None
            group = (grp["policy"], priority, grp["status"] or "undef")
            continue
        sized = _SIZE.match(line)
        if sized and header is not None and not groups and group is None:
            size = sized["size"] or sized["old"] or ""
            continue
        if line[:1].isspace() or line.startswith(("|", "`", "\\")) or " | " in line:
            continue  # a continuation we do not read, or a daemon message ("... | sdb: ...")
        found = _HEADER.match(line)
        if found is None:
            continue
        close_map()
        header = {k: v for k, v in found.groupdict().items() if v is not None}
    close_map()
    return tuple(maps)


def unredundant(maps: Iterable[MultipathMap]) -> tuple[MultipathMap, ...]:
    r"""The maps that could not lose a path now (fewer than two usable paths).

    Example:
        >>> text = "m1 (w1) dm-0 A,B\nsize=1G features='0' hwhandler='0' wp=rw\n" \
        ...     "`-+- policy='round-robin 0' prio=1 status=active\n" \
        ...     "  `- 1:0:0:1 sdb 8:16 active ready running\n"
        >>> [m.wwid for m in unredundant(parse_multipath(text))]
        ['w1']
    """
    return tuple(m for m in maps if not m.redundant)


def single_path_maps(
    by_host: Mapping[str, Sequence[MultipathMap]], wwids: Iterable[str] | None = None
) -> dict[str, tuple[str, ...]]:
    r"""Host → the LUNs (``name (wwid): n usable``) it reaches through fewer than two paths.

    Only hosts with such a LUN are listed; an empty result means every host still has a
    redundant path to every LUN it sees. ``wwids`` limits the check to those LUNs (the
    storage system's), when given.

    Example:
        >>> ok = parse_multipath("m1 (w1) dm-0 A,B\n"
        ...     "`-+- policy='round-robin 0' prio=1 status=active\n"
        ...     "  |- 1:0:0:1 sdb 8:16 active ready running\n"
        ...     "  `- 2:0:0:1 sdc 8:32 active ghost running\n")
        >>> bad = parse_multipath("m1 (w1) dm-0 A,B\n"
        ...     "`-+- policy='round-robin 0' prio=1 status=active\n"
        ...     "  |- 1:0:0:1 sdb 8:16 active ready running\n"
        ...     "  `- 2:0:0:1 sdc 8:32 failed faulty offline\n")
        >>> single_path_maps({"h1": ok, "h2": bad})
        {'h2': ('m1 (w1): 1 usable path',)}
    """
    wanted = None if wwids is None else set(wwids)
    out: dict[str, tuple[str, ...]] = {}
    for host in sorted(by_host):
        thin = [
            f"{m.name} ({m.wwid}): {m.usable_paths} usable path"
            + ("" if m.usable_paths == 1 else "s")
            for m in by_host[host]
            if (wanted is None or m.wwid in wanted) and not m.redundant
        ]
        if thin:
            out[host] = tuple(thin)
    return out
