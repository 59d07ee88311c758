"""Maven versions, ordered as Maven 3.8's ``ComparableVersion`` orders them.

Rules (maven-artifact ``org.apache.maven.artifact.versioning.ComparableVersion``, 3.8.7):

* The version is lower-cased, then cut into items at ``.``, at ``-`` and where digits meet
  non-digits. A ``-`` opens a sub-list holding the rest, and so does a digit/letter change
  (``1a1`` is ``1-alpha-1``); a letter run after ``.`` becomes a sub-list too (``1.0.x`` is
  ``1.0-x``). An empty item (``1..2``, ``-1``) is the number 0.
* Numbers compare as numbers, with Maven's quirk from Java's types: a number of 10 to 18
  digits once leading ASCII zeros are stripped (all-zero texts keep their length) is a
  ``long`` and sorts after every ``int``, and a longer one is a ``BigInteger`` and sorts
  after every ``long``: ``1.0000000000.1`` > ``1.5``.
* Qualifiers: ``alpha`` < ``beta`` < ``milestone`` < ``rc`` = ``cr`` < ``snapshot`` <
  ``""`` = ``ga`` = ``final`` = ``release`` < ``sp`` < any other string, others compared
  as text; ``a``, ``b`` and ``m`` directly followed by a digit mean alpha, beta, milestone.
* Items of different kinds: a qualifier < a sub-list < a number. A missing item compares
  as "nothing": ``1-alpha`` < ``1`` = ``1.0`` = ``1-ga`` < ``1-sp`` < ``1-1`` < ``1.1``.
* Trailing "nothing" items (0, ``""``, empty sub-lists) are dropped, in every sub-list.

ComparableVersion accepts every string, so :func:`parse` never raises. Case is folded with
Python's Unicode tables; Java's differ only for letters newer than its Unicode version and
for Greek capital sigma, which Java lowers to final sigma by its own word-break rule.

ComparableVersion is not a total order: it orders ``1.sp.1`` > ``1`` > ``1-alpha`` >
``1.sp.1`` in a circle, and ``2.0.beta-3`` < ``2`` < ``2.0-1`` < ``2.0.beta-3``. No sort key
can agree with it on every pair. Where two versions first differ, its rule for two items of
different kinds (qualifier < sub-list < number) can contradict its rule for an item against
nothing; the sort key follows the second, so that the two versions are ordered as they are
each ordered against their common prefix (``a`` < prefix < ``b``). On every other pair the
key agrees with ComparableVersion; :func:`tool_compare` gives ComparableVersion's own
pairwise answer, circles included.
"""

from __future__ import annotations

import unicodedata
from itertools import zip_longest
from typing import TypeAlias, Union

from patchwarden.versions.base import SortKey, Version

__all__ = ["MavenVersion", "parse", "tool_compare"]

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE = _QUALIFIERS.index("")
_UNKNOWN = len(_QUALIFIERS)  # ComparableVersion writes others as "7-<text>": after "sp"
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}  # only when a digit follows
_INT_DIGITS = 9  # ComparableVersion's MAX_INTITEM_LENGTH
_LONG_DIGITS = 18  # ... and MAX_LONGITEM_LENGTH
_END = (0,)  # a list's end: "nothing" from here on; element keys start with -1 or 1


class _Number:
    """A number item: Java kind (0 int, 1 long, 2 BigInteger), value, and Java's text."""

    __slots__ = ("kind", "order", "text", "zero")

    def __init__(self, digits: str) -> None:
        # Java strips ASCII zeros only, and keeps the text whole when it is all zeros.
        stripped = digits.lstrip("0") or digits
        self.kind = 0 if len(stripped) <= _INT_DIGITS else 1 if len(stripped) <= _LONG_DIGITS else 2
        # Java reads any Unicode decimal digit (Character.digit); Python's int() too.
        ascii_digits = digits if digits.isascii() else _to_ascii(digits)
        significant = ascii_digits.lstrip("0")
        self.zero = not significant
        # BigInteger texts may exceed Python's int() digit limit: order them by length first.
        self.order: SortKey = (
            (int(significant or "0"),) if self.kind < 2 else (len(significant), significant)
        )
        self.text = significant or "0"


class _Qualifier:
    """A string item: Maven's value after aliases, and its rank among qualifiers."""

    __slots__ = ("order", "value")

    def __init__(self, text: str, followed_by_digit: bool) -> None:
        if followed_by_digit:
            text = _SHORT.get(text, text)
        self.value = _ALIASES.get(text, text)
        if self.value in _QUALIFIERS:
            self.order: tuple[int, str] = (_QUALIFIERS.index(self.value), "")
        else:
            self.order = (_UNKNOWN, _utf16(self.value))


_Item: TypeAlias = _Number | _Qualifier | tuple["_Item", ...]
# A list item while it is being parsed.
_Building: TypeAlias = list[Union[_Number, _Qualifier, "_Building"]]


class MavenVersion(Version):
    """A parsed Maven version; ``canonical`` is ComparableVersion's ``getCanonical()``."""

    __slots__ = ("_items", "canonical")

    def __init__(self, text: str, items: tuple[_Item, ...], key: SortKey) -> None:
        super().__init__("maven", text, key)
        self._items = items
        self.canonical = _canonical(items)


def _to_ascii(digits: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in digits)


def _utf16(text: str) -> str:
    """Text as Java sees it: one character per UTF-16 unit, so ``<`` compares like Java."""
    if all(c < "\U00010000" for c in text):
        return text
    raw = text.encode("utf-16-be", "surrogatepass")
    return "".join(chr(int.from_bytes(raw[i : i + 2], "big")) for i in range(0, len(raw), 2))


def _is_digit(c: str) -> bool:
    # Java's Character.isDigit(char) is Unicode category Nd, for one UTF-16 unit only.
    return c.isdecimal() and c < "\U00010000"


def _new_item(is_digit: bool, text: str) -> _Number | _Qualifier:
    return _Number(text) if is_digit else _Qualifier(text, followed_by_digit=False)


def _is_null(item: _Number | _Qualifier | _Building) -> bool:
    if isinstance(item, _Number):
        return item.zero
    if isinstance(item, _Qualifier):
        return item.value == ""
    return not item


def _normalize(items: _Building) -> None:
    """Drop trailing "nothing" items, looking past a non-empty sub-list at the end."""
    i = len(items) - 1
    while i >= 0:
        item = items[i]
        if _is_null(item):
            del items[i]
        elif not isinstance(item, list):
            break
        i -= 1


def _parse_items(text: str) -> tuple[_Item, ...]:
    """ComparableVersion.parseVersion, step by step; returns the normalized item tree."""
    version = text.lower()
    top: _Building = []
    current = top
    stack = [top]

    def open_list() -> _Building:
        sub: _Building = []
        current.append(sub)
        stack.append(sub)
        return sub

    is_digit = False
    start = 0
    for i, c in enumerate(version):
        if c in ".-":
            current.append(_Number("0") if i == start else _new_item(is_digit, version[start:i]))
            start = i + 1
            if c == "-":
                current = open_list()
        elif _is_digit(c):
            if not is_digit and i > start:
                if current:  # "1.0.x1" is "1.0-x-1"
                    current = open_list()
                current.append(_Qualifier(version[start:i], followed_by_digit=True))
                start = i
                current = open_list()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(_Number(version[start:i]))
                start = i
                current = open_list()
            is_digit = False
    if len(version) > start:
        if not is_digit and current:
            current = open_list()
        current.append(_new_item(is_digit, version[start:]))
    while stack:  # innermost first, so an emptied sub-list is dropped by its parent
        _normalize(stack.pop())
    return _freeze(top)


def _freeze(items: _Building) -> tuple[_Item, ...]:
    return tuple(_freeze(i) if isinstance(i, list) else i for i in items)


def _null_sign(item: _Item) -> int:
    """How an item compares with a missing one: -1, 0 or 1."""
    if isinstance(item, _Number):
        return 0 if item.zero else 1
    if isinstance(item, _Qualifier):
        rank = item.order[0]
        return (rank > _RELEASE) - (rank < _RELEASE)
    return next((s for s in map(_null_sign, item) if s), 0)


def _list_key(items: tuple[_Item, ...]) -> tuple[SortKey, int]:
    """Sort key of a list, and how the list compares with nothing.

    Each item's key starts with how the list from that item on compares with nothing (-1
    or 1; never 0, as a normalized list ends in an item that is not nothing), so the
    list's end marker ``(0,)`` falls exactly where "nothing" does. Then the kind
    (qualifier 0, sub-list 1, number 2) and the value.
    """
    keys: list[SortKey] = []
    rest = 0
    for item in reversed(items):
        if isinstance(item, _Number):
            sign = 0 if item.zero else 1
            element: SortKey = (2, item.kind, item.order)
        elif isinstance(item, _Qualifier):
            sign, element = _null_sign(item), (0, item.order)
        else:
            sub_key, sign = _list_key(item)
            element = (1, sub_key)
        rest = sign or rest
        keys.append((rest, *element))
    keys.reverse()
    keys.append(_END)
    return tuple(keys), rest


def _compare(a: _Item, b: _Item | None) -> int:
    """ComparableVersion's Item.compareTo, transliterated; ``None`` is a missing item."""
    if isinstance(a, _Number):
        if b is None:
            return 0 if a.zero else 1
        if not isinstance(b, _Number):
            return 1
        if a.kind != b.kind:
            return -1 if a.kind < b.kind else 1
        return (a.order > b.order) - (a.order < b.order)
    if isinstance(a, _Qualifier):
        if b is None:
            return _null_sign(a)
        if not isinstance(b, _Qualifier):
            return -1
        return (a.order > b.order) - (a.order < b.order)
    if b is None:
        return _null_sign(a)
    if isinstance(b, _Number):
        return -1
    if isinstance(b, _Qualifier):
        return 1
    for left, right in zip_longest(a, b):
        result = -_compare(right, None) if left is None else _compare(left, right)
        if result:
            return result
    return 0


def _canonical(items: tuple[_Item, ...]) -> str:
    out = ""
    for item in items:
        if out:  # Java tests the text built so far, not the position
            out += "-" if isinstance(item, tuple) else "."
        if isinstance(item, tuple):
            out += _canonical(item)
        else:
            out += item.text if isinstance(item, _Number) else item.value
    return out


def parse(text: str) -> MavenVersion:
    """Parse a Maven version as ComparableVersion does (it accepts every string).

    Args:
        text: for example ``2.0.0-RC1`` or ``5.3.30.RELEASE``.

    Returns:
        The parsed version, ordered as described in this module's docstring.

    Example:
        >>> parse("1.0-alpha-1") < parse("1.0-SNAPSHOT") < parse("1.0") < parse("1.0-sp")
        True
        >>> parse("1.0.0.FINAL") == parse("1"), parse("1.0.0.FINAL").canonical
        (True, '1')
    """
    items = _parse_items(text)
    return MavenVersion(text, items, _list_key(items)[0])


def tool_compare(a: str, b: str) -> int:
    """ComparableVersion's own ``compareTo`` answer for one pair: -1, 0 or 1.

    It equals the sort key's answer except on the pairs ComparableVersion orders in a
    circle (see the module docstring). Use it to reproduce Maven; sort with the key.

    Example:
        >>> tool_compare("2.0.beta-3", "2.0-1"), parse("2.0.beta-3") < parse("2.0-1")
        (1, True)
    """
    result = _compare(parse(a)._items, parse(b)._items)
    return (result > 0) - (result < 0)
