"""The inventory: every asset we know, and the order of environments."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field

from patchwarden.domain.assets import Asset, AssetBase
from patchwarden.domain.base import Value

__all__ = ["DEFAULT_ENVIRONMENTS", "Inventory"]

DEFAULT_ENVIRONMENTS: tuple[str, ...] = ("dev", "qa", "staging", "prod")


class Inventory(Value):
    """Assets plus the promotion order of environments (earliest first)."""

    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    assets: tuple[Asset, ...] = Field(default=())

    @cached_property
    def by_id(self) -> dict[str, AssetBase]:
        """Assets keyed by id."""
        return {a.id: a for a in self.assets}

    def get(self, asset_id: str) -> AssetBase:
        """The asset with this id; ``KeyError`` if there is none."""
        return self.by_id[asset_id]

    def env_rank(self, env: str) -> int:
        """Position of an environment in the promotion order."""
        return self.environments.index(env)
