"""Reading the decision policy and the patch baselines from YAML (defaults ship as data).

Mistakes in either file are reported the way inventory mistakes are: one line per problem
with file, line and field, a hint where one helps, and exit code 2 from the command line.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from patchwarden.assess.baseline import BaselineSet
from patchwarden.assess.policy import Policy
from patchwarden.errors import Problem, ValidationFailed, read_input
from patchwarden.inventory.problems import explain
from patchwarden.inventory.yamlmap import LocatedDocument, dotted_path, load_located
from patchwarden.inventory.yamlmap import Path as YamlPath

__all__ = [
    "DEFAULT_BASELINES",
    "DEFAULT_POLICY",
    "default_baselines",
    "default_policy",
    "parse_baselines",
    "parse_policy",
    "read_baselines",
    "read_policy",
]

DEFAULT_POLICY = "policy.yaml"
"""Name of the shipped default policy (in ``patchwarden.assess``'s ``data`` folder)."""
DEFAULT_BASELINES = "baselines.yaml"
"""Name of the shipped default baselines."""

M = TypeVar("M", bound=BaseModel)


def _data(name: str) -> str:
    return (resources.files("patchwarden.assess") / "data" / name).read_text(encoding="utf-8")


def _problem(doc: LocatedDocument, model: type[BaseModel], error: ErrorDetails) -> Problem:
    # pydantic marks a bad dict key with a trailing "[key]"; the key itself is the place.
    loc: YamlPath = tuple(p for p in error["loc"] if isinstance(p, str | int) and p != "[key]")
    expected = error.get("ctx", {}).get("expected")
    if expected:
        line, where = doc.line_of(loc), dotted_path(loc)
        return Problem(
            doc.file, line, where, f"{error['input']!r} is not allowed", f"use {expected}"
        )
    return explain(doc, loc, error, model, {}, "see the shipped default file for an example")


def _parse(model: type[M], file: str, text: str) -> M:
    doc = load_located(file, text)
    if doc.problems:
        raise ValidationFailed(doc.problems)
    raw = doc.value if doc.value is not None else {}
    if not isinstance(raw, dict):
        raise ValidationFailed(
            [Problem(file, 1, "", "the file must be a mapping of keys", "see the default file")]
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ValidationFailed([_problem(doc, model, e) for e in error.errors()]) from error


def parse_policy(file: str, text: str) -> Policy:
    r"""Validate a policy YAML text; every key is optional.

    Raises:
        ValidationFailed: one problem per mistake, each with file, line and field.

    Example:
        >>> parse_policy("p.yaml", "sla:\n  days: {critical: 3}\n").sla.days["critical"]
        3
    """
    return _parse(Policy, file, text)


def read_policy(path: Path | None) -> Policy:
    """The policy in ``path``, or the shipped default when ``None``."""
    if path is None:
        return default_policy()
    return parse_policy(str(path), read_input(path))


def default_policy() -> Policy:
    """The shipped default policy (``assess/data/policy.yaml``)."""
    return parse_policy(DEFAULT_POLICY, _data(DEFAULT_POLICY))


def parse_baselines(file: str, text: str) -> BaselineSet:
    """Validate a baselines YAML text (``baselines: [...]``).

    Raises:
        ValidationFailed: one problem per mistake, each with file, line and field.
    """
    return _parse(BaselineSet, file, text)


def read_baselines(path: Path | None) -> BaselineSet:
    """The baselines in ``path``, or the shipped defaults when ``None``."""
    if path is None:
        return default_baselines()
    return parse_baselines(str(path), read_input(path))


def default_baselines() -> BaselineSet:
    """The shipped default baselines (``assess/data/baselines.yaml``)."""
    return parse_baselines(DEFAULT_BASELINES, _data(DEFAULT_BASELINES))


def _read(path: Path) -> str:
    return read_input(path)
