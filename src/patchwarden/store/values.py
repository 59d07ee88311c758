"""Small helpers for turning caller values into what the database stores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from typing import Any, TypeVar

import orjson

__all__ = ["CHUNK", "JsonText", "as_json", "checked_json", "chunked", "dumps", "loads"]

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


class JsonText:
    """JSON text already serialised and checked (:func:`checked_json`): written as it is.

    A holder rather than a ``str`` subclass: making a subclass instance copies the text,
    and an assessment's packages snapshot is hundreds of megabytes of it.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JsonText({self.text!r})"


def checked_json(value: Any, what: str) -> JsonText:
    """``value`` serialised once, as the text the database stores (see :func:`as_json`).

    For rows written once and never compared (an assessment's summary and findings): the
    check still fails early with a readable message, and the text it produced is what the
    database gets, rather than serialising a fleet's assessment a second time. Members of
    a dict that are :class:`JsonText` already (a value's own ``model_dump_json``) are
    written as they are, after the others.

    Raises:
        ValueError: as :func:`as_json`.

    >>> checked_json({"a": (1, 2), "b": "→"}, "x")
    JsonText('{"a":[1,2],"b":"→"}')
    >>> checked_json({"c": JsonText('{"d":1}'), "a": 1}, "x").text
    '{"a":1,"c":{"d":1}}'
    """
    raw: dict[str, JsonText] = {}
    if isinstance(value, dict):
        raw = {k: v for k, v in value.items() if isinstance(v, JsonText)}
        if raw:
            value = {k: v for k, v in value.items() if k not in raw}
    try:
        if isinstance(value, dict) and _strings_only(value):
            text = orjson.dumps(value).decode()  # no number in it, nothing NaN: the fast path
        else:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from exc
    if raw:
        # One join, one copy of each member: a member may be very large.
        parts = [text[:-1]]
        for key, member in raw.items():
            parts += [",", _key_text(key), ":", member.text]
        parts.append("}")
        if len(text) == 2:  # "{}": no other members, no comma after the brace
            parts[1] = ""
        text = "".join(parts)
    return JsonText(text)


@lru_cache(maxsize=256)
def _key_text(key: str) -> str:
    """A member name as JSON text; the few names a fleet's rows use, written once each."""
    return json.dumps(key, ensure_ascii=False)


_STR = frozenset({str})
_STR_OR_NONE = frozenset({str, type(None)})


def _strings_only(value: dict[Any, Any]) -> bool:
    """Whether a dict is flat, of string keys and string (or null) values.

    The types met are gathered in C (a fleet's rows are hundreds of thousands).

    >>> _strings_only({"a": "x", "b": None}), _strings_only({"a": 1}), _strings_only({1: "a"})
    (True, False, False)
    """
    return set(map(type, value)) <= _STR and set(map(type, value.values())) <= _STR_OR_NONE


def dumps(value: Any) -> str:
    """The engine's JSON writer: :class:`JsonText` as it is, anything else as ``json`` writes it."""
    if isinstance(value, JsonText):
        return value.text
    return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """The engine's JSON reader: ``orjson`` (several times faster on a fleet's scans).

    Falls back to ``json`` for what only it accepts (``NaN`` written by older versions).

    >>> loads('{"a": [1, "x"]}'), loads('[NaN]')
    ({'a': [1, 'x']}, [nan])
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def chunked(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """Successive lists of at most ``size`` items (``itertools.batched`` is Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
