"""Every strategy a campaign can name is one module under planning/strategies/ with a Strategy."""

from __future__ import annotations

import doctest
import importlib
from types import ModuleType

import pytest

from patchwarden.domain.campaign import STRATEGY_NAMES
from patchwarden.planning import context
from patchwarden.planning.context import Strategy
from patchwarden.planning.plan import STRATEGIES
from patchwarden.planning.strategies import cluster_rolling


def test_the_planner_knows_exactly_the_strategies_a_campaign_can_name() -> None:
    assert sorted(STRATEGIES) == sorted(STRATEGY_NAMES)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_each_strategy_is_its_own_module_named_after_it(name: str) -> None:
    module = importlib.import_module(f"patchwarden.planning.strategies.{name}")
    strategy = module.STRATEGY
    assert isinstance(strategy, Strategy)
    assert strategy.name == name
    assert STRATEGIES[name] is strategy
    # The module states the guarantee it keeps.
    assert module.__doc__ and len(module.__doc__.strip()) > 40


@pytest.mark.parametrize("module", [context, cluster_rolling])
def test_the_claim_rules_hold_their_examples(module: ModuleType) -> None:
    failed, tried = doctest.testmod(module)
    assert tried and not failed
