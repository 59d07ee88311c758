"""An asset's OSV ecosystem: one table, read alike by matching, baselines and planning."""

from __future__ import annotations

import doctest

import pytest

from patchwarden.assess.baseline import baseline_ecosystem
from patchwarden.assess.match import split_ecosystem
from patchwarden.domain import ecosystems
from patchwarden.domain.assets import Vm
from patchwarden.domain.ecosystems import OS_FAMILY_ECOSYSTEM, asset_ecosystem


def test_docstring_examples_run() -> None:
    failed, tried = doctest.testmod(ecosystems)
    assert tried and not failed


@pytest.mark.parametrize("family", sorted(OS_FAMILY_ECOSYSTEM))
def test_baselines_and_matching_name_a_family_alike(family: str) -> None:
    vm = Vm(id="h", kind="vm", env="dev", os={"family": family, "release": "9.4"})
    assert baseline_ecosystem(family) == split_ecosystem(asset_ecosystem(vm))[0]


def test_declared_ecosystem_wins_and_unknown_family_has_none() -> None:
    declared = Vm(id="h", kind="vm", env="dev", ecosystem="npm", os={"family": "debian"})
    windows = Vm(id="w", kind="vm", env="dev", os={"family": "windows", "release": "2022"})
    assert asset_ecosystem(declared) == "npm"
    assert asset_ecosystem(windows) == ""
    assert baseline_ecosystem("Windows") == "windows"
