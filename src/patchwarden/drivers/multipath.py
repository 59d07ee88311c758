"""Host storage paths for real: ``multipath -ll`` run on each host over its own connection.

The command is an argument vector (:func:`~patchwarden.drivers.multipath_facts.multipath_command`),
never a shell string; its output is read by the pure
:func:`~patchwarden.drivers.multipath_facts.parse_multipath`. A host that reports no
multipath device at all cannot say it is redundant, so that is an error rather than a pass.
"""

from __future__ import annotations

from collections.abc import Iterable

from patchwarden.drivers.multipath_facts import multipath_command, parse_multipath
from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = ["MultipathPaths"]


class MultipathPaths:
    """The :class:`~patchwarden.drivers.protocols.HostPaths` of hosts reached by a transport.

    Args:
        transport: Runs a command on a host (the run's shared transport).
        wwids: When given, only these LUNs count (a host may see other arrays' LUNs).
        timeout_s: Limit of one ``multipath -ll``.
    """

    def __init__(
        self, transport: Transport, wwids: Iterable[str] | None = None, timeout_s: float = 60.0
    ) -> None:
        self.transport = transport
        self.wwids = None if wwids is None else frozenset(wwids)
        self.timeout_s = timeout_s

    async def thin_luns(self, host: str) -> tuple[str, ...]:
        """The LUNs ``host`` reaches through fewer than two usable paths.

        Raises:
            DriverError: ``multipath -ll`` fails on the host, or shows no device at all.
        """
        result = await self.transport.run(host, multipath_command(), timeout_s=self.timeout_s)
        if result.exit_status != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            raise DriverError(
                f"{host}: multipath -ll exited {result.exit_status}"
                + (f": {said[-1]}" if said else "")
            )
        maps = parse_multipath(result.stdout)
        if not maps:
            raise DriverError(
                f"{host}: multipath -ll shows no multipath device (is multipathd running, "
                "and does the host see the storage system's LUNs?)"
            )
        return tuple(
            f"{m.name} ({m.wwid}): {m.usable_paths} usable path"
            + ("" if m.usable_paths == 1 else "s")
            for m in maps
            if (self.wwids is None or m.wwid in self.wwids) and not m.redundant
        )

    async def disconnect(self, host: str) -> None:
        """Forget the host's pooled connection (one made on an event loop about to end)."""
        await self.transport.disconnect(host)
