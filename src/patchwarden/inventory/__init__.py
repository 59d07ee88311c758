"""Reading inventory files into a validated :class:`~patchwarden.domain.inventory.Inventory`."""

from patchwarden.inventory.drivers import DriverCatalog
from patchwarden.inventory.loader import LoadedInventory, parse_inventory, read_inventory

__all__ = ["DriverCatalog", "LoadedInventory", "parse_inventory", "read_inventory"]
