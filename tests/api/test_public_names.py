"""Each module's ``__all__`` is sorted, names only what exists, and exports what others use.

"Others" are the other packages of patchwarden: a name that ``service`` imports from
``assess.match`` is that module's public API, so it must be in ``assess.match.__all__``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import patchwarden

_SRC = Path(patchwarden.__file__).parent


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 calls isort-style: CONSTANTS, then Classes, then functions.
    if name.isupper() and len(name) > 1:
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def _package(module: str) -> str:
    """``patchwarden.assess.match`` -> ``patchwarden.assess``; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def _module_name(path: Path) -> str:
    parts = path.relative_to(_SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _used_across_packages() -> dict[str, set[tuple[str, str]]]:
    """Module -> {(name, importing module)} for every import from another package."""
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(_SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                continue
            if not node.module.startswith("patchwarden."):
                continue
            if _package(node.module) == _package(importer):
                continue
            for alias in node.names:
                used[node.module].add((alias.name, importer))
    return used


def test_every_all_is_sorted(modules: list[ModuleType]) -> None:
    unsorted = [
        m.__name__
        for m in modules
        if hasattr(m, "__all__") and list(m.__all__) != sorted(m.__all__, key=_isort_key)
    ]
    assert not unsorted, f"__all__ not sorted (constants, classes, functions): {unsorted}"


def test_every_listed_name_exists(modules: list[ModuleType]) -> None:
    ghosts = [
        f"{m.__name__}.{name}"
        for m in modules
        for name in getattr(m, "__all__", ())
        if not hasattr(m, name)
    ]
    assert not ghosts, f"listed in __all__ but not defined: {ghosts}"


def test_a_module_with_names_of_its_own_lists_them(modules: list[ModuleType]) -> None:
    # A package __init__ with nothing but a docstring has no API and needs no __all__.
    bare = [
        m.__name__
        for m in modules
        if not hasattr(m, "__all__")
        and any(
            not n.startswith("_") and getattr(v, "__module__", None) == m.__name__
            for n, v in vars(m).items()
        )
    ]
    assert not bare, f"modules defining public names without __all__: {bare}"


def test_what_other_packages_import_is_exported(modules: list[ModuleType]) -> None:
    by_name = {m.__name__: m for m in modules}
    used = _used_across_packages()
    assert used  # the scan saw the imports, so the test can fail
    unexported = sorted(
        f"{importer} imports {module}.{name}"
        for module, names in used.items()
        for name, importer in names
        if name not in getattr(by_name[module], "__all__", ())
    )
    assert not unexported, "not in the imported module's __all__:\n" + "\n".join(unexported)
