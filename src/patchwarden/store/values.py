"""Small helpers for turning caller values into what the database stores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

__all__ = ["CHUNK", "as_json", "checked_json", "chunked"]

T = TypeVar("T")

CHUNK = 500
"""Rows per batch: well below SQLite's bound-parameter limit, big enough to be fast."""


def as_json(value: Any, what: str) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None).

    Round-tripping through JSON text does two jobs: a value that cannot be stored fails here,
    with a readable message, rather than mid-transaction; and the result compares equal to
    what the database returns later (tuples become lists, enum members their values), so
    "changed?" checks are not fooled by representation.

    Raises:
        ValueError: ``value`` is not JSON-serialisable, or holds NaN or infinity (which
            PostgreSQL's JSON type refuses).
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from exc


def checked_json(value: T, what: str) -> T:
    """``value`` itself, once it is known to serialise as JSON (see :func:`as_json`).

    For rows written once and never compared (an assessment's summary and findings): the
    check still fails early with a readable message, without the copy :func:`as_json`
    makes, which for a fleet's assessment is as large as the fleet's installed packages.

    Raises:
        ValueError: as :func:`as_json`.

    >>> checked_json({"a": (1, 2)}, "x")
    {'a': (1, 2)}
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from exc
    return value


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Successive lists of at most ``size`` items (``itertools.batched`` is Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
