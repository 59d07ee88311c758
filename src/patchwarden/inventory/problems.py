"""pydantic's complaints about a YAML file, as problems a person can fix.

Inventories, campaigns, policies and baselines are all YAML read with
:func:`~patchwarden.inventory.yamlmap.load_located` and validated by a pydantic model. Each
loader first maps pydantic's location onto the file (they differ: an inventory drops the kind
tag, a campaign stops at union member names), then hands the error to :func:`explain`, which
says it the same way for all of them: ``unknown field`` with the closest known name,
``required field missing`` with the key to add, or pydantic's message with the value given
and a hint for the kind of mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from patchwarden.errors import Problem
from patchwarden.inventory.yamlmap import LocatedDocument, Path, dotted_path

__all__ = ["did_you_mean", "explain", "fields_at", "unknown_field"]


def did_you_mean(word: str, known: Iterable[str], otherwise: str) -> str:
    """A hint naming the closest of ``known`` to ``word``, or ``otherwise`` if none is close.

    Example:
        >>> did_you_mean("stagin", ["dev", "staging"], "use dev or staging")
        "did you mean 'staging'?"
    """
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise


def unknown_field(doc: LocatedDocument, path: Path, known: Iterable[str]) -> Problem:
    """``path`` names a field its model does not have; the hint suggests one it does."""
    names = sorted(known)
    hint = did_you_mean(str(path[-1]), names, f"known fields: {', '.join(names)}")
    return Problem(doc.file, doc.line_of(path), dotted_path(path), "unknown field", hint)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first model inside a field's type: ``dict[str, Group]`` -> ``Group``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def fields_at(model: type[BaseModel], path: Path) -> list[str]:
    """The field names of the model that holds the key after ``path``, sorted.

    A part of ``path`` that is no field of the model it is in is a dict key or a list index
    (a group's name, an asset's position): the model stays where it is.

    Example:
        >>> from patchwarden.domain.campaign import Campaign
        >>> "max_errors" in fields_at(Campaign, ("rate",))
        True
    """
    current = model
    for part in path:
        field = current.model_fields.get(str(part))
        if field is None:
            continue
        inner = _model_in(field.annotation)
        if inner is None:
            return []  # a plain value has no fields
        current = inner
    return sorted(current.model_fields)


def explain(
    doc: LocatedDocument,
    path: Path,
    error: ErrorDetails,
    model: type[BaseModel],
    hints: Mapping[str, str],
    default_hint: str = "",
) -> Problem:
    """One pydantic error at ``path`` of ``doc`` (validated as ``model``) as a problem.

    Args:
        doc: The file, with the line of each path.
        path: Where the error is, already mapped onto the file's keys.
        error: One of ``ValidationError.errors()``.
        model: The model the document (or, for an inventory, the asset) was validated as.
        hints: A hint per pydantic error type.
        default_hint: The hint for a type ``hints`` does not list.
    """
    kind = error["type"]
    if kind == "extra_forbidden":
        return unknown_field(doc, path, fields_at(model, path[:-1]))
    line = doc.line_of(path)
    where = dotted_path(path)
    if kind == "missing":
        return Problem(doc.file, line, where, "required field missing", f"add `{path[-1]}:`")
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    # A validator's own message already says what was wrong with the value.
    if got is not None and not isinstance(got, dict | list) and kind != "value_error":
        message = f"{message} (got {got!r})"
    return Problem(doc.file, line, where, message, hints.get(kind, default_hint))
