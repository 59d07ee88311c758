"""Every docstring example in patchwarden runs, in every module, as part of the suite.

The modules are found by walking the package, so a new module's examples run without
anyone listing it here. Alembic's migration scripts are left out: they only import inside
a migration run (``alembic.context`` has no configuration otherwise) and carry no examples,
and so is ``patchwarden.__main__``, which runs the command line when imported.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import patchwarden

# Alembic's env.py reads alembic.context.config at import time, outside any migration run;
# __main__ runs the command line when imported (`python -m patchwarden`).
_SKIPPED_PACKAGES = ("patchwarden.store.migrations", "patchwarden.__main__")
# The same flags as pytest's doctest_optionflags in pyproject.toml.
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    names = [patchwarden.__name__]
    for info in pkgutil.walk_packages(patchwarden.__path__, prefix="patchwarden."):
        if not info.name.startswith(_SKIPPED_PACKAGES):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_whole_package() -> None:
    # A broken walk (a package without __init__.py, a wrong prefix) would test nothing.
    assert len(MODULES) > 100
    assert {"patchwarden.feeds.ranges", "patchwarden.versions.apk"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} example(s) in {name} failed (output above)"


def test_examples_are_many() -> None:
    finder = doctest.DocTestFinder(exclude_empty=True)
    examples = sum(
        len(test.examples)
        for name in MODULES
        for test in finder.find(importlib.import_module(name), name)
    )
    # The count at the time this test was written was well above this floor.
    assert examples >= 150
