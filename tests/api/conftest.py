"""Every module of patchwarden, imported once for the public-API tests."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import patchwarden


def _walk() -> list[ModuleType]:
    modules: list[ModuleType] = [patchwarden]
    for info in pkgutil.walk_packages(patchwarden.__path__, "patchwarden."):
        # Migrations are Alembic scripts, not API; __main__ runs the command line on import.
        if ".migrations" in info.name or info.name.endswith(".__main__"):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


@pytest.fixture(scope="session")
def modules() -> list[ModuleType]:
    """Every importable module of patchwarden, the package itself first."""
    return _walk()
