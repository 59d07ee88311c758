"""Choosing assets by ``key=glob`` terms: ``scan --select`` and scheduled scans share it.

An expression is comma-separated ``key=glob`` terms that must all hold; keys are ``id``,
``env``, ``role`` (an inventory group: an Ansible host's groups become its roles),
``kind`` and ``tag.NAME``; a bare glob means ``id=glob``. An asset is chosen when any
expression holds for it, and every asset when none is given.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from patchwarden.domain.assets import AssetBase
from patchwarden.domain.inventory import Inventory
from patchwarden.errors import UsageError

__all__ = ["SELECT_KEYS", "Selection", "parse_selection", "select_assets"]

SELECT_KEYS = ("id", "env", "role", "kind")
"""The keys a term may use, besides ``tag.NAME``."""

Selection = list[list[tuple[str, str]]]
"""Parsed expressions: each a list of ``(key, glob)`` terms that must all hold."""


def parse_selection(expressions: Sequence[str], option: str = "--select") -> Selection:
    """Parse ``key=glob`` expressions.

    Raises:
        UsageError: an unknown key or an empty term (named with ``option``).

    Example:
        >>> parse_selection(["env=prod,role=web", "db-*"])
        [[('env', 'prod'), ('role', 'web')], [('id', 'db-*')]]
    """
    parsed: Selection = []
    for expression in expressions:
        terms = []
        for term in expression.split(","):
            key, eq, pattern = term.strip().partition("=")
            key, pattern = (key.strip(), pattern.strip()) if eq else ("id", key.strip())
            if not pattern or (key not in SELECT_KEYS and not key.startswith("tag.")):
                raise UsageError(
                    f"{option} {expression!r}: cannot read {term!r}; write key=glob with a key "
                    "of id, env, role, kind, tag.NAME, e.g. env=prod,role=web"
                )
            terms.append((key, pattern))
        parsed.append(terms)
    return parsed


def _term_matches(key: str, pattern: str, asset: AssetBase) -> bool:
    if key == "id":
        values: Iterable[str] = (asset.id,)
    elif key == "env":
        values = (asset.env,)
    elif key == "role":
        values = asset.roles
    elif key == "kind":
        values = (str(getattr(asset, "kind", "")),)
    else:  # tag.NAME
        values = (asset.tags[key[4:]],) if key[4:] in asset.tags else ()
    return any(fnmatch.fnmatchcase(v, pattern) for v in values)


def select_assets(
    inventory: Inventory, expressions: Sequence[str], option: str = "--select"
) -> list[AssetBase]:
    """Assets matching any expression; all of them when none is given.

    Raises:
        UsageError: an unknown key or an empty term.

    Example:
        >>> select_assets(Inventory(), ["env=prod,role=web", "db-*"])
        []
    """
    parsed = parse_selection(expressions, option)
    return [
        asset
        for asset in inventory.assets
        if not parsed or any(all(_term_matches(k, p, asset) for k, p in t) for t in parsed)
    ]
