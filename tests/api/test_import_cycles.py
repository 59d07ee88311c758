"""No module of patchwarden imports, directly or through others, a module that imports it.

Cycles were broken once (engine/steps <-> engine/platform_steps, drivers/sim/estate <-> lb
<-> platform); this keeps them from coming back anywhere. grimp (the graph import-linter
builds on) sees every import, including those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import copy

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("patchwarden")


def _cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One shortest cycle through each direct import that closes one."""
    found: set[tuple[str, ...]] = set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                # Name each cycle once, starting from its smallest module.
                ring = list(back)[:-1] + [importer]
                start = ring.index(min(ring))
                found.add(tuple(ring[start:] + ring[:start]))
    return sorted(found)


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_sees_a_cycle_when_there_is_one(graph: grimp.ImportGraph) -> None:
    graph = copy.deepcopy(graph)  # the fixture's graph stays the real one
    graph.add_import(
        importer="patchwarden.engine.steps", imported="patchwarden.engine.platform_steps"
    )
    graph.add_import(
        importer="patchwarden.engine.platform_steps", imported="patchwarden.engine.steps"
    )
    assert any(
        "patchwarden.engine.steps" in c and "patchwarden.engine.platform_steps" in c
        for c in _cycles(graph)
    )
