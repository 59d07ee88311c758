"""Checking each asset's ``driver`` and ``driver_config`` against the registered drivers.

The loader does not know the drivers (they live above it): the caller passes a
:class:`DriverCatalog`, in practice ``patchwarden.drivers.registry.REGISTRY``, which reads
the ``patchwarden.drivers`` entry points. Each configuration is validated by its driver's
own pydantic model, with the asset and the whole inventory as context, so a pool name or an
SSH host that does not exist is caught here too, and every error names file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from patchwarden.domain.assets import AssetBase, Driven
from patchwarden.errors import Problem
from patchwarden.inventory.problems import did_you_mean, explain
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path

__all__ = ["DriverCatalog", "check_drivers"]


class DriverCatalog(Protocol):
    """The registered drivers, as the loader needs to see them."""

    def names(self, kind: str) -> list[str]:
        """The names registered for a kind of driver."""
        ...

    def config_model(self, kind: str, name: str) -> type[BaseModel] | None:
        """The configuration model of a driver, or ``None`` when it is not registered."""
        ...


def check_drivers(
    assets: Sequence[AssetBase],
    origin: Mapping[str, tuple[LocatedDocument, Path]],
    catalog: DriverCatalog,
) -> list[Problem]:
    r"""Every problem with the drivers the assets name and their configurations.

    Example:
        >>> from patchwarden.errors import ValidationFailed
        >>> from patchwarden.inventory import parse_inventory
        >>> class NoDrivers:
        ...     def names(self, kind): return []
        ...     def config_model(self, kind, name): return None
        >>> text = "assets:\n- {id: i1, kind: image, env: dev, driver: packer}\n"
        >>> try:
        ...     parse_inventory([("a.yaml", text)], drivers=NoDrivers())
        ... except ValidationFailed as failed:
        ...     print(failed)
        a.yaml:2: assets[0].driver: unknown image driver 'packer' (hint: no driver of this ...)
    """
    by_id = {a.id: a for a in assets}
    problems: list[Problem] = []
    for asset in assets:
        if not isinstance(asset, Driven):
            continue
        doc, path = origin[asset.id]
        kind = asset.driver_kind
        model = catalog.config_model(kind, asset.driver)
        if model is None:
            problems.append(_unknown_driver(doc, path, kind, asset.driver, catalog.names(kind)))
            continue
        try:
            model.model_validate(asset.driver_config, context={"asset": asset, "assets": by_id})
        except ValidationError as error:
            base: Path = (*path, "driver_config")
            for detail in error.errors():
                where: Path = (*base, *detail["loc"])
                problems.append(_problem(doc, where, detail, model))
    return problems


def _unknown_driver(
    doc: LocatedDocument, path: Path, kind: str, name: str, known: list[str]
) -> Problem:
    otherwise = (
        f"registered: {', '.join(known)}"
        if known
        else ("no driver of this kind is installed (drivers register as entry points)")
    )
    hint = did_you_mean(name, known, otherwise)
    where = (*path, "driver")
    return Problem(
        doc.file, doc.line_of(where), dotted_path(where), f"unknown {kind} driver {name!r}", hint
    )


_HINTS = {
    "int_parsing": "write a whole number, e.g. 64",
    "int_type": "write a whole number, e.g. 64",
    "float_parsing": "write a number, e.g. 2.5",
    "float_type": "write a number, e.g. 2.5",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "quote the value to make it text",
    "string_pattern_mismatch": "check the value's form in the driver's documentation",
    "dict_type": "write a mapping, e.g. {key: value}",
    "model_type": "write a mapping, e.g. {key: value}",
    "greater_than": "use a larger value",
}


def _problem(
    doc: LocatedDocument, path: Path, detail: ErrorDetails, model: type[BaseModel]
) -> Problem:
    """A driver's configuration error, said as any field's; a driver's own hint wins."""
    problem = explain(doc, path, detail, model, _HINTS)
    own = str((detail.get("ctx") or {}).get("hint", ""))
    if own:
        return replace(problem, hint=own)
    if detail["type"] == "extra_forbidden" and not model.model_fields:
        return replace(problem, hint="this driver takes no settings; remove it")
    return problem
