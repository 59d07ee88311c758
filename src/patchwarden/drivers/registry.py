"""Drivers registered by name: Python entry points in the group ``patchwarden.drivers``.

Built-in drivers register exactly as a third party's do, in their distribution's metadata
(``pyproject.toml``)::

    [project.entry-points."patchwarden.drivers"]
    "load_balancer.haproxy" = "patchwarden.drivers.haproxy:DRIVER"
    "load_balancer.f5" = "acme_patchwarden.f5:DRIVER"        # a third party's

An entry point's name is ``<kind>.<name>``; its object is a :class:`DriverSpec`: the kind,
the name, a pydantic model of the driver's configuration (unknown keys forbidden) and a
factory. Entry points are listed without importing anything; a driver's module is imported
only when an inventory names it, so an estate without HAProxy never imports the HAProxy
driver.

The inventory loader checks every ``driver`` / ``driver_config`` through
:data:`REGISTRY` (it sees it as a :class:`~patchwarden.inventory.DriverCatalog`), so an
unknown driver, a missing key or a wrong type is an input error naming file, line and
field before anything runs. Real runs build their drivers from the same specs.

Example:
    >>> spec = REGISTRY.spec(DriverKind.LOAD_BALANCER, "haproxy")
    >>> spec.name, spec.kind.value
    ('haproxy', 'load_balancer')
    >>> "haproxy" in REGISTRY.names("load_balancer")
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.drivers.protocols import Clock
from patchwarden.drivers.transport import Transport
from patchwarden.errors import DriverError

__all__ = [
    "ENTRY_POINT_GROUP",
    "REGISTRY",
    "DriverContext",
    "DriverKind",
    "DriverRegistry",
    "DriverSpec",
]

ENTRY_POINT_GROUP = "patchwarden.drivers"

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class DriverKind(StrEnum):
    """What a driver drives; the first part of its entry point's name."""

    PACKAGES = "packages"
    LOAD_BALANCER = "load_balancer"
    HYPERVISOR = "hypervisor"
    CLUSTER = "cluster"
    APPLIANCE = "appliance"
    STORAGE = "storage"
    IMAGE = "image"
    HEALTH = "health"
    POWER = "power"
    TRANSPORT = "transport"
    APP_INSTALLER = "app_installer"
    STORAGE_ACCOUNT = "storage_account"


@dataclass(frozen=True)
class DriverContext:
    """What a factory may use besides its configuration.

    Attributes:
        inventory: The whole inventory (a driver may reach another asset, e.g. over SSH).
        asset: The asset the driver serves (``None`` for per-host drivers).
        transport: Runs commands on any host of the inventory, over its own connection.
        clock: The run's clock.
    """

    inventory: Inventory
    asset: AssetBase | None
    transport: Transport
    clock: Clock


@dataclass(frozen=True)
class DriverSpec(Generic[ConfigT]):
    """One registered driver.

    Attributes:
        kind: What it drives.
        name: What inventories call it (``driver: haproxy``).
        config: Its configuration, a pydantic model forbidding unknown keys. Validation
            gets ``{"asset": ..., "assets": {id: asset}}`` as context, for checks against
            the asset (a pool that exists) or the inventory (an SSH host that exists).
        factory: Builds the driver from a validated configuration; ``None`` for ``sim``,
            which only the simulated estate can carry out.
        summary: One line for people: what it talks to.
    """

    kind: DriverKind
    name: str
    config: type[ConfigT]
    factory: Callable[[ConfigT, DriverContext], Any] | None
    summary: str = ""

    def validate(self, raw: Mapping[str, Any], context: Mapping[str, Any]) -> ConfigT:
        """The typed configuration; raises pydantic's ``ValidationError`` when it is wrong."""
        return self.config.model_validate(dict(raw), context=dict(context))

    def build(self, raw: Mapping[str, Any], context: DriverContext) -> Any:
        """Validate ``raw`` and build the driver.

        Raises:
            DriverError: The driver has no real implementation (``sim``).
        """
        if self.factory is None:
            raise DriverError(f"the {self.kind} driver {self.name!r} only runs simulated")
        assets = {a.id: a for a in context.inventory.assets}
        config = self.validate(raw, {"asset": context.asset, "assets": assets})
        return self.factory(config, context)


class DriverRegistry:
    """Driver specs by kind and name, read lazily from entry points.

    Args:
        group: The entry point group to read.
        source: Where entry points come from; the installed distributions by default
            (a test may pass its own list).
    """

    def __init__(
        self,
        group: str = ENTRY_POINT_GROUP,
        source: Callable[[], list[EntryPoint]] | None = None,
    ) -> None:
        self.group = group
        self._source = source or (lambda: list(entry_points(group=self.group)))
        self._loaded: dict[str, DriverSpec[Any]] = {}  # by entry point value

    def _entries(self) -> dict[tuple[str, str], EntryPoint]:
        # Read every time: a distribution installed while we run (a test's) counts.
        out: dict[tuple[str, str], EntryPoint] = {}
        for entry in self._source():
            kind, _, name = entry.name.partition(".")
            if name:
                out.setdefault((kind, name), entry)
        return out

    def names(self, kind: str) -> list[str]:
        """Names registered for ``kind``, sorted; nothing is imported."""
        return sorted(name for k, name in self._entries() if k == kind)

    def find(self, kind: str, name: str) -> DriverSpec[Any] | None:
        """The spec registered as ``kind.name``, imported now; ``None`` if there is none.

        Raises:
            DriverError: The entry point does not load, or is not a matching spec.
        """
        entry = self._entries().get((kind, name))
        if entry is None:
            return None
        if entry.value in self._loaded:
            return self._loaded[entry.value]
        try:
            spec = entry.load()
        except Exception as error:  # a third party's import error, whatever it is
            raise DriverError(
                f"driver {kind}.{name} ({entry.value}) does not load: {error}"
            ) from error
        if not isinstance(spec, DriverSpec) or (spec.kind, spec.name) != (kind, name):
            raise DriverError(
                f"entry point {kind}.{name} = {entry.value} is not the DriverSpec of "
                f"{kind} driver {name!r}"
            )
        self._loaded[entry.value] = spec
        return spec

    def spec(self, kind: str, name: str) -> DriverSpec[Any]:
        """Like :meth:`find`, but an unknown name is an error listing the known ones."""
        found = self.find(kind, name)
        if found is None:
            known = ", ".join(self.names(kind)) or "none"
            raise DriverError(f"no {kind} driver named {name!r} is registered (known: {known})")
        return found

    def config_model(self, kind: str, name: str) -> type[BaseModel] | None:
        """The configuration model of ``kind.name`` (for the inventory loader)."""
        found = self.find(kind, name)
        return None if found is None else found.config


REGISTRY = DriverRegistry()
"""The drivers of every installed distribution."""
