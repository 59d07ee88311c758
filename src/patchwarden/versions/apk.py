"""Alpine (apk) package versions, ordered and validated exactly as apk-tools does.

Grammar (apk-tools src/version.c): ``digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]``,
for example ``1.2.3b_rc2_p1~3fa9c0-r4``.

Ordering, token by token:

* the first number compares numerically; a later ``.number`` too, unless either side starts
  with ``0``, in which case the two compare as strings (Gentoo's rule: ``1.05`` < ``1.5``);
* one lowercase letter may follow the numbers (``1.0a`` > ``1.0``);
* suffixes ``_alpha`` < ``_beta`` < ``_pre`` < ``_rc`` < (no suffix) < ``_cvs`` < ``_svn`` <
  ``_git`` < ``_hg`` < ``_p``, each with an optional number;
* ``~hash`` (a lowercase hex commit id) compares as a string, ``-rN`` numerically;
* when one version runs out first, it is the greater one if the other continues with a
  pre-release suffix, and the smaller one otherwise (``1.0-r0`` > ``1.0``).

Numbers are unsigned 64-bit in apk-tools and wrap the same way here.
"""

from __future__ import annotations

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["ApkVersion", "parse"]

# Token types in apk-tools' order; a version that runs out earlier in this list is greater.
(
    _INITIAL_DIGIT,
    _DIGIT,
    _LETTER,
    _SUFFIX,
    _SUFFIX_NO,
    _COMMIT_HASH,
    _REVISION_NO,
    _END,
) = range(8)
_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")
# apk-tools' suffix enum: alpha=1 .. rc=4, (none)=5, cvs=6 .. p=10.
_SUFFIX_VALUE = {name: i + 1 for i, name in enumerate(_PRE_SUFFIXES)} | {
    name: i + 6 for i, name in enumerate(_POST_SUFFIXES)
}
_UINT64 = 2**64 - 1
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdef")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")

# Sort-key class of a token when the two versions' token types differ: a pre-release
# suffix sorts first, then the end of the version, then the other types in reverse order.
_CLASS_PRE_SUFFIX = 0
_CLASS = {t: 8 - t for t in range(8)}  # _END -> 1, ..., _INITIAL_DIGIT -> 8


class ApkVersion(Version):
    """A parsed apk version."""

    __slots__ = ()

    def __init__(self, text: str, key: SortKey) -> None:
        super().__init__("apk", text, key)


def _run(text: str, i: int, chars: frozenset[str]) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


def _number(digits: str) -> int:
    return int(digits) & _UINT64  # apk_blob_pull_uint accumulates in a uint64_t


def _tokens(text: str) -> list[tuple[int, object]]:
    """Split a version into (class, value) tokens; raise InvalidVersion where apk would."""
    end = _run(text, 0, _DIGITS)
    if end == 0:
        raise InvalidVersion("version must start with a digit", text)
    tokens: list[tuple[int, object]] = [(_CLASS[_INITIAL_DIGIT], _number(text[:end]))]
    kind, i = _INITIAL_DIGIT, end
    while i < len(text):
        c = text[i]
        value: object
        if "a" <= c <= "z":
            if kind > _DIGIT:
                raise InvalidVersion(f"letter {c!r} may only follow a number", text)
            kind, value, i = _LETTER, c, i + 1
        elif c == "." or c in _DIGITS:
            if kind > _DIGIT:
                raise InvalidVersion(f"{c!r} may not follow a letter or suffix", text)
            start = i + 1 if c == "." else i
            i = _run(text, start, _DIGITS)
            if i == start:
                raise InvalidVersion("'.' must be followed by a number", text)
            kind, digits = _DIGIT, text[start:i]
            # Gentoo's rule: a leading zero makes the part compare as a string, which
            # always sorts it before a number without one (its first character is '0').
            value = (0, digits) if digits[0] == "0" else (1, _number(digits))
        elif c == "_":
            if kind > _SUFFIX_NO:
                raise InvalidVersion("a '_' suffix may not follow a hash or revision", text)
            start = i + 1
            i = _run(text, start, _LOWER)
            name = text[start:i]
            if name not in _SUFFIX_VALUE:
                raise InvalidVersion(f"unknown suffix '_{name}'", text)
            kind, value = _SUFFIX, _SUFFIX_VALUE[name]
            # The suffix number is a token of its own in apk-tools; emit both.
            start = i
            i = _run(text, i, _DIGITS)
            if i > start:
                tokens.append(_token(kind, value))
                kind, value = _SUFFIX_NO, _number(text[start:i])
        elif c == "~":
            if kind >= _COMMIT_HASH:
                raise InvalidVersion("'~' may appear once, before the revision", text)
            start = i + 1
            i = _run(text, start, _HEX)
            if i == start:
                raise InvalidVersion("'~' must be followed by a lowercase hex commit id", text)
            kind, value = _COMMIT_HASH, text[start:i]
        elif c == "-":
            if kind >= _REVISION_NO or not text.startswith("-r", i):
                raise InvalidVersion("'-' must start the one revision, as in '-r1'", text)
            start = i + 2
            i = _run(text, start, _DIGITS)
            if i == start:
                raise InvalidVersion("'-r' must be followed by a number", text)
            kind, value = _REVISION_NO, _number(text[start:i])
        else:
            raise InvalidVersion(f"character {c!r} is not allowed in an apk version", text)
        tokens.append(_token(kind, value))
    tokens.append((_CLASS[_END], 0))
    return tokens


def _token(kind: int, value: object) -> tuple[int, object]:
    if kind == _SUFFIX and isinstance(value, int) and value <= len(_PRE_SUFFIXES):
        return (_CLASS_PRE_SUFFIX, value)
    return (_CLASS[kind], value)


def parse(text: str) -> ApkVersion:
    """Parse an apk version.

    Args:
        text: for example ``3.1.4_p2-r1``.

    Returns:
        The parsed version; it orders exactly as ``apk version -t``.

    Raises:
        InvalidVersion: for a version ``apk version -c`` reports invalid, with the reason.

    Example:
        >>> parse("1.0_rc1") < parse("1.0") < parse("1.0-r1") < parse("1.0_p1")
        True
    """
    return ApkVersion(text, tuple(_tokens(text)))
