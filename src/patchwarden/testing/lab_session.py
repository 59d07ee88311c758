"""Using the lab from tests: one shared lab per process, real drivers, and an event loop.

Example (a pytest session fixture)::

    @pytest.fixture(scope="session")
    def lab():
        with shared_lab(LabConfig(dir=Path("/srv/patchwarden-lab-test"))) as running:
            yield running
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from patchwarden.drivers.protocols import Clock
from patchwarden.drivers.real import RealDrivers, real_drivers

# The engine's bundle over real drivers lives in the service layer (apply --real uses it);
# re-exported here for tests written against the lab.
from patchwarden.service.real import engine_drivers
from patchwarden.service.sources import read_inventory
from patchwarden.testing.lab import Lab, LabConfig
from patchwarden.testing.shared import SharedLabs

__all__ = [
    "TEST_LAB",
    "LoopThread",
    "engine_drivers",
    "lab_real_drivers",
    "shared_lab",
]

T = TypeVar("T")

TEST_LAB = LabConfig(
    dir=Path("/srv/patchwarden-lab-test"), first_address="127.0.1.2", reboot_pause_s=1.0
)
"""The lab of patchwarden's own tests: apart from a ``patchwarden lab up`` lab (127.0.0.x)."""


def _start_lab(config: LabConfig) -> Lab:
    lab = Lab(config)
    lab.down()  # a lab left over from a killed run
    lab.up()
    return lab


_labs: SharedLabs[Lab] = SharedLabs("patchwarden-lab", stop=Lab.down)


@contextmanager
def shared_lab(config: LabConfig) -> Iterator[Lab]:
    """Bring the lab up on first use and down when its last user leaves.

    Fixtures in several test modules can all use it and share one lab. A lock file keeps two
    test processes from building the same lab at once; a lab left over from a killed run is
    taken down first.
    """
    with _labs.use(config.dir, lambda: _start_lab(config)) as lab:
        yield lab


class LoopThread:
    """An event loop on a background thread, so sync code (tests) can share async drivers.

    Pooled SSH connections belong to one loop; running every test's coroutines on the same
    loop lets them reuse connections across tests, as a long campaign does.

    Example:
        >>> loop = LoopThread()
        >>> loop.run(asyncio.sleep(0, result=42))
        42
        >>> loop.close()
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 120.0) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout_s)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def lab_real_drivers(
    lab: Lab, clock: Clock | None = None, reboot_poll_s: float = 0.5
) -> RealDrivers:
    """Real drivers for the lab's hosts, as its inventory file describes them."""
    inventory = read_inventory([lab.inventory_path]).inventory
    return real_drivers(inventory, lab.ssh_config(), clock, reboot_poll_s=reboot_poll_s)
