from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from patchwarden.assess.policy import Policy
from patchwarden.errors import ValidationFailed
from patchwarden.service.policy import (
    default_baselines,
    default_policy,
    parse_baselines,
    parse_policy,
    read_policy,
)


def test_shipped_policy_file_says_exactly_the_built_in_defaults() -> None:
    assert default_policy() == Policy()


def test_shipped_baselines_cover_every_os_family() -> None:
    families = {b.os_family for b in default_baselines().baselines}
    assert {"debian", "ubuntu", "rhel", "alma", "rocky", "alpine"} <= families


def test_a_partial_policy_keeps_the_other_defaults() -> None:
    p = parse_policy("p.yaml", "sla:\n  days: {critical: 3}\nthresholds: {emergency: 60}\n")
    assert p.sla.days["critical"] == 3 and p.sla.days["high"] == 30
    assert p.thresholds.emergency == 60 and p.thresholds.next_window == 20


def test_policy_errors_name_file_line_field_and_hint() -> None:
    text = "sla:\n  days: {critical: 3, hihg: 4}\nthresholds:\n  emergency: -1\n  nextwindow: 3\n"
    with pytest.raises(ValidationFailed) as info:
        parse_policy("p.yaml", text)
    assert [str(p) for p in info.value.problems] == [
        "p.yaml:2: sla.days.hihg: 'hihg' is not allowed"
        " (hint: use 'none', 'low', 'medium', 'high' or 'critical')",
        "p.yaml:4: thresholds.emergency: Input should be greater than or equal to 0 (got -1)"
        " (hint: see the shipped default file for an example)",
        "p.yaml:5: thresholds.nextwindow: unknown field (hint: did you mean 'next_window'?)",
    ]


def test_baseline_errors_name_file_line_field_and_hint() -> None:
    text = (
        "baselines:\n"
        "  - name: x\n"
        "    os_family: debian\n"
        "    approval_rules:\n"
        "      - {classification: [security]}\n"
        "    rejected_action: blok\n"
        "    aproved: [a]\n"
    )
    with pytest.raises(ValidationFailed) as info:
        parse_baselines("b.yaml", text)
    assert [str(p) for p in info.value.problems] == [
        "b.yaml:5: baselines[0].approval_rules[0]: set exactly one of approve_after_days and"
        " approve_until_date (hint: see the shipped default file for an example)",
        "b.yaml:6: baselines[0].rejected_action: 'blok' is not allowed"
        " (hint: use 'allow_as_dependency' or 'block')",
        "b.yaml:7: baselines[0].aproved: unknown field (hint: did you mean 'approved'?)",
    ]


def test_two_baselines_for_one_family_are_refused() -> None:
    text = "baselines:\n  - {name: x, os_family: debian}\n  - {name: y, os_family: Debian}\n"
    with pytest.raises(ValidationFailed, match="b.yaml:1: baselines: two baselines for os_family"):
        parse_baselines("b.yaml", text)


def test_yaml_syntax_and_unreadable_files_are_problems(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match=r"p.yaml:3: YAML syntax error"):
        parse_policy("p.yaml", "sla:\n  days: [\n")
    with pytest.raises(ValidationFailed, match="cannot read"):
        read_policy(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "module",
    [
        "patchwarden.assess.policy",
        "patchwarden.assess.risk",
        "patchwarden.assess.decide",
        "patchwarden.assess.sla",
        "patchwarden.assess.baseline",
        "patchwarden.assess.drift",
        "patchwarden.assess.diff",
        "patchwarden.service.policy",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
