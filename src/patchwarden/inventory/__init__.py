"""Reading inventory files into a validated :class:`~patchwarden.domain.inventory.Inventory`."""

from patchwarden.inventory.loader import LoadedInventory, parse_inventory, read_inventory

__all__ = ["LoadedInventory", "parse_inventory", "read_inventory"]
