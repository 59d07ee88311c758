"""Reboots through each host's own reboot command, confirmed by a new boot id.

A host has come back when its boot-id command answers with an id other than the one read
before the reboot: "the port answers" is not enough, since a host that has not gone down yet
answers too. A host that does not come back within the timeout fails with DriverError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from patchwarden.domain.assets import Connection
from patchwarden.drivers.protocols import Clock
from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = ["CommandPowerDriver"]

log = logging.getLogger(__name__)


@dataclass
class CommandPowerDriver:
    """:class:`~patchwarden.drivers.protocols.PowerDriver` over a transport.

    Attributes:
        transport: Where the reboot and boot-id commands run.
        connections: Each host's connection settings (its reboot and boot-id commands).
        clock: Time for the wait; a real clock on real hosts.
        poll_s: Pause between boot-id probes while the host is away.
        probe_timeout_s: Limit of one probe; a half-up host must not stall the wait.
    """

    transport: Transport
    connections: Mapping[str, Connection]
    clock: Clock
    poll_s: float = 1.0
    probe_timeout_s: float = 10.0

    def _connection(self, host: str) -> Connection:
        try:
            return self.connections[host]
        except KeyError:
            raise DriverError(f"power: no connection settings for host {host!r}") from None

    async def boot_id(self, host: str) -> str:
        """The id the host's boot-id command prints (stripped)."""
        command = self._connection(host).boot_id_command
        result = await self.transport.run(host, command, timeout_s=self.probe_timeout_s)
        boot = result.check().stdout.strip()
        if not boot:
            raise DriverError(f"{host}: {' '.join(command)} printed no boot id")
        return boot

    async def reboot(self, host: str, timeout_s: float) -> str:
        """Reboot ``host`` and wait for a new boot id; returns it.

        Raises:
            DriverError: the reboot command failed, or no new boot id within ``timeout_s``.
        """
        before = await self.boot_id(host)
        command = self._connection(host).reboot_command
        started = self.clock.now()
        try:
            result = await self.transport.run(host, command, timeout_s=self.probe_timeout_s)
        except DriverError as error:
            # A real reboot may cut the session before the command returns: that is success.
            log.debug("%s: reboot command ended with %s", host, error)
        else:
            if not result.ok and result.exit_status != -1:
                result.check()
        # The pooled connection belongs to the boot that is ending.
        await self.transport.disconnect(host)
        last_error = "no answer yet"
        while (self.clock.now() - started).total_seconds() < timeout_s:
            await self.clock.sleep(self.poll_s)
            try:
                now = await self.boot_id(host)
            except DriverError as error:
                last_error = str(error)
                await self.transport.disconnect(host)
                continue
            if now != before:
                return now
        raise DriverError(
            f"{host}: did not come back with a new boot id within {timeout_s:.0f} s "
            f"after reboot (last: {last_error})"
        )
