"""What HAProxy's runtime API prints, read into values: pure parsers with golden cases.

Each function takes the text of one command (``show stat``, ``show servers state``,
``show servers conn``, ``show map``) and returns plain values; no socket, no clock. The
driver (:mod:`patchwarden.drivers.haproxy`) sends the commands.

Example:
    >>> lines = ["# pxname,svname,scur,status,weight", "web,lab-01,3,UP,100", "web,BACKEND,3,UP,9"]
    >>> [(s.backend, s.server, s.scur) for s in parse_show_stat(chr(10).join(lines))]
    [('web', 'lab-01', 3)]
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

__all__ = [
    "ServerConn",
    "ServerStat",
    "ServerState",
    "admin_state",
    "parse_show_map",
    "parse_show_servers_conn",
    "parse_show_servers_state",
    "parse_show_stat",
]

# srv_admin_state bits (HAProxy's SRV_ADMF_*): maintenance forced, inherited, from the
# configuration, from DNS resolution, from a hostname; drain forced or inherited.
_MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40
_DRAIN_BITS = 0x08 | 0x10
_NOT_SERVERS = frozenset({"FRONTEND", "BACKEND"})


@dataclass(frozen=True)
class ServerStat:
    """One server's line of ``show stat``: status text and the numeric counters."""

    backend: str
    server: str
    status: str
    weight: int
    scur: int
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerState:
    """One server's line of ``show servers state``."""

    backend: str
    server: str
    address: str
    op_state: int
    admin_state: int
    weight: int

    @property
    def state(self) -> str:
        """``ready``, ``drain`` or ``maint``, as the load-balancer protocol names them."""
        return admin_state(self.admin_state)


@dataclass(frozen=True)
class ServerConn:
    """One server's line of ``show servers conn``: connections in use and idle."""

    backend: str
    server: str
    used_cur: int
    idle_cur: int


def admin_state(bits: int) -> str:
    """The protocol's state name for HAProxy's ``srv_admin_state`` bit field.

    Example:
        >>> admin_state(0), admin_state(0x08), admin_state(0x01 | 0x08)
        ('ready', 'drain', 'maint')
    """
    if bits & _MAINT_BITS:
        return "maint"
    if bits & _DRAIN_BITS:
        return "drain"
    return "ready"


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def parse_show_stat(text: str) -> list[ServerStat]:
    """Servers of ``show stat`` (CSV under a ``# pxname,...`` header); not frontends, backends."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError("show stat: no '# pxname,...' header")
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    out = []
    for row in rows:
        server = row.get("svname") or ""
        if not server or server in _NOT_SERVERS:
            continue
        numbers = {k: n for k, v in row.items() if k and v and (n := _int(v)) is not None}
        out.append(
            ServerStat(
                backend=row.get("pxname") or "",
                server=server,
                status=(row.get("status") or "").strip(),
                weight=numbers.get("weight", 0),
                scur=numbers.get("scur", 0),
                counters=numbers,
            )
        )
    return out


def _header_rows(text: str, command: str) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("# "):
            header = line[2:].split()
        elif line.strip() and header:
            rows.append(line.split())
    if not header:
        raise ValueError(f"{command}: no '# ...' header line")
    return header, rows


def parse_show_servers_state(text: str) -> list[ServerState]:
    """Servers of ``show servers state`` (a version line, a ``#`` header, one line each)."""
    header, rows = _header_rows(text, "show servers state")
    out = []
    for values in rows:
        row = dict(zip(header, values, strict=False))
        out.append(
            ServerState(
                backend=row["be_name"],
                server=row["srv_name"],
                address=row.get("srv_addr", ""),
                op_state=int(row["srv_op_state"]),
                admin_state=int(row["srv_admin_state"]),
                weight=int(row["srv_uweight"]),
            )
        )
    return out


def parse_show_servers_conn(text: str) -> list[ServerConn]:
    """Servers of ``show servers conn``: ``backend/server`` then the connection counts."""
    header, rows = _header_rows(text, "show servers conn")
    out = []
    for values in rows:
        row = dict(zip(header, values, strict=False))
        backend, _, server = row["bkname/svname"].partition("/")
        out.append(ServerConn(backend, server, int(row["used_cur"]), int(row["idle_cur"])))
    return out


def parse_show_map(text: str) -> dict[str, str]:
    """Entries of ``show map <file>``: each line is ``<entry id> <key> <value>``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].startswith("0x"):
            out[parts[1]] = parts[2].strip()
    return out
