"""Services that need a restart after an update: each command beside its pure parser.

A library update replaces files that running daemons still have mapped; until those
daemons restart they run the old, vulnerable code. Each family has its own tool:

- Debian family: ``needrestart -b`` (:data:`NEEDRESTART`, batch mode: it never restarts
  anything itself) → :func:`parse_needrestart`, the apt-dater format of ``NEEDRESTART-*:``
  lines (golden-tested in ``tests/golden/restarts``).
- RHEL family: ``needs-restarting -s`` (dnf-utils; :data:`NEEDS_RESTARTING_SERVICES`),
  or ``dnf needs-restarting -s`` where only dnf's plugin is installed
  (:data:`NEEDS_RESTARTING_SERVICES_DNF`) → :func:`parse_services`, one systemd unit a line.

Either tool missing (exit 127) reads as ``None``: *unknown*, never "nothing to restart".
Restarting is :func:`restart_command`, an argument vector of ``systemctl restart``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from patchwarden.errors import DriverError

__all__ = [
    "NEEDRESTART",
    "NEEDS_RESTARTING_SERVICES",
    "NEEDS_RESTARTING_SERVICES_DNF",
    "RestartNeeds",
    "parse_needrestart",
    "parse_services",
    "restart_command",
]

NEEDRESTART: tuple[str, ...] = ("needrestart", "-b")
"""needrestart in batch mode: ``NEEDRESTART-SVC: unit`` lines, no dialog, no restart."""

NEEDS_RESTARTING_SERVICES: tuple[str, ...] = ("needs-restarting", "-s")
"""dnf-utils: the systemd services whose files were updated since they started."""

NEEDS_RESTARTING_SERVICES_DNF: tuple[str, ...] = ("dnf", "needs-restarting", "-s")
"""The same through dnf's plugin (dnf5 has no separate binary)."""

_NOT_FOUND = 127
# A systemd unit name: no spaces, a known unit suffix (what `-s` and needrestart print).
_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|target|path|mount|scope)$")


@dataclass(frozen=True)
class RestartNeeds:
    """What a host's restart tool reported.

    Attributes:
        services: Units to restart, in the order the tool listed them, without repeats.
        kernel_status: needrestart's ``NEEDRESTART-KSTA``: 0 unknown, 1 the running kernel
            is the newest, 2 an ABI-compatible upgrade is pending, 3 a version upgrade is
            pending (2 and 3 need a reboot); ``None`` where the tool does not say.
        sessions: User sessions running outdated binaries (they are not restarted).
        containers: Containers running outdated binaries (restarted by their owners).
    """

    services: tuple[str, ...] = ()
    kernel_status: int | None = None
    sessions: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()

    @property
    def kernel_pending(self) -> bool:
        """Whether a newer kernel waits for a reboot (``KSTA`` 2 or 3)."""
        return self.kernel_status in (2, 3)


def parse_needrestart(exit_status: int, text: str) -> RestartNeeds | None:
    r"""Parse ``needrestart -b``; ``None`` when the tool is not installed.

    Unknown keys (microcode ``UCSTA``, ``VER``, kernel versions) are ignored.

    Example:
        >>> needs = parse_needrestart(0, "NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 1\n"
        ...                              "NEEDRESTART-SVC: ssh.service\n")
        >>> needs.services, needs.kernel_pending
        (('ssh.service',), False)
        >>> parse_needrestart(127, "sh: 1: needrestart: not found") is None
        True
    """
    if exit_status == _NOT_FOUND or exit_status < 0:
        return None
    services: list[str] = []
    sessions: list[str] = []
    containers: list[str] = []
    kernel: int | None = None
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        value = value.strip()
        if not colon or not key.startswith("NEEDRESTART-") or not value:
            continue
        match key[len("NEEDRESTART-") :]:
            case "SVC":
                services.append(value)
            case "SESS":
                sessions.append(value)
            case "CONT":
                containers.append(value)
            case "KSTA" if value.isdigit():
                kernel = int(value)
            case _:
                pass
    return RestartNeeds(
        tuple(dict.fromkeys(services)), kernel, tuple(dict.fromkeys(sessions)),
        tuple(dict.fromkeys(containers)),
    )  # fmt: skip


def parse_services(exit_status: int, text: str) -> RestartNeeds | None:
    r"""Parse ``needs-restarting -s`` (or dnf's): one unit a line; ``None`` if not installed.

    dnf prints other lines on the same stream on some hosts ("Updating Subscription
    Management repositories.", metadata age): only lines that are unit names count.
    dnf5 exits 1 when a service needs restarting; dnf-utils exits 0 either way.

    Example:
        >>> parse_services(1, "Updating Subscription Management repositories.\n"
        ...                   "sshd.service\nauditd.service\n").services
        ('sshd.service', 'auditd.service')
        >>> parse_services(127, "") is None
        True
    """
    if exit_status == _NOT_FOUND or exit_status < 0 or exit_status > 1:
        return None
    units = [line.strip() for line in text.splitlines() if _UNIT.match(line.strip())]
    return RestartNeeds(tuple(dict.fromkeys(units)))


def restart_command(units: Sequence[str]) -> list[str]:
    """The ``systemctl restart`` vector for ``units``; refuses names that are not units.

    Example:
        >>> restart_command(["ssh.service", "cron.service"])
        ['systemctl', 'restart', 'ssh.service', 'cron.service']
    """
    bad = [u for u in units if not _UNIT.match(u)]
    if bad or not units:
        raise DriverError(f"refusing to restart {bad or 'nothing'}: not systemd unit names")
    return ["systemctl", "restart", *units]
