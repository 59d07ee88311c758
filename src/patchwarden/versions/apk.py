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

__all__ = ["ApkVersion", "compare", "parse", "satisfies"]

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
    _INVALID,
) = range(9)
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
# suffix sorts first, then an invalid token, the end of the version, then the other types
# in reverse order (apk_version_compare: the version whose token type is higher is less).
_CLASS_PRE_SUFFIX = 0
_CLASS = {t: 9 - t for t in range(9)}  # _INVALID -> 1, _END -> 2, ..., _INITIAL_DIGIT -> 9
_END_TOKEN = (_CLASS[_END], 0)


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


def _tokens(text: str) -> tuple[list[tuple[int, object]], str]:
    """Split a version into (class, value) tokens, as far as apk-tools reads it.

    Returns the tokens and ``""``, or, for a version apk would call invalid, the tokens up
    to where it stops reading, an invalid token, and the reason. apk-tools still orders
    such a version (``23_foo`` > ``4_beta``): the invalid token compares as its own kind.
    """
    end = _run(text, 0, _DIGITS)
    if end == 0:
        return [(_CLASS[_INVALID], "")], "version must start with a digit"
    tokens: list[tuple[int, object]] = [(_CLASS[_INITIAL_DIGIT], _number(text[:end]))]
    kind, i = _INITIAL_DIGIT, end
    reason = ""
    while i < len(text) and not reason:
        c = text[i]
        value: object = None
        if "a" <= c <= "z":
            if kind > _DIGIT:
                reason = f"letter {c!r} may only follow a number"
            else:
                kind, value, i = _LETTER, c, i + 1
        elif c == "." or c in _DIGITS:
            start = i + 1 if c == "." else i
            i = _run(text, start, _DIGITS)
            if kind > _DIGIT:
                reason = f"{c!r} may not follow a letter or suffix"
            elif i == start:
                reason = "'.' must be followed by a number"
            else:
                kind, digits = _DIGIT, text[start:i]
                # Gentoo's rule: a leading zero makes the part compare as a string, which
                # always sorts it before a number without one (its first character is '0').
                value = (0, digits) if digits[0] == "0" else (1, _number(digits))
        elif c == "_":
            start = i + 1
            i = _run(text, start, _LOWER)
            name = text[start:i]
            if kind > _SUFFIX_NO:
                reason = "a '_' suffix may not follow a hash or revision"
            elif name not in _SUFFIX_VALUE:
                reason = f"unknown suffix '_{name}'"
            else:
                kind, value = _SUFFIX, _SUFFIX_VALUE[name]
                # The suffix number is a token of its own in apk-tools; emit both.
                start = i
                i = _run(text, i, _DIGITS)
                if i > start:
                    tokens.append(_token(kind, value))
                    kind, value = _SUFFIX_NO, _number(text[start:i])
        elif c == "~":
            start = i + 1
            i = _run(text, start, _HEX)
            if kind >= _COMMIT_HASH:
                reason = "'~' may appear once, before the revision"
            elif i == start:
                reason = "'~' must be followed by a lowercase hex commit id"
            else:
                kind, value = _COMMIT_HASH, text[start:i]
        elif c == "-":
            if kind >= _REVISION_NO or not text.startswith("-r", i):
                reason = "'-' must start the one revision, as in '-r1'"
            else:
                start = i + 2
                i = _run(text, start, _DIGITS)
                if i == start:
                    reason = "'-r' must be followed by a number"
                else:
                    kind, value = _REVISION_NO, _number(text[start:i])
        else:
            reason = f"character {c!r} is not allowed in an apk version"
        if not reason:
            tokens.append(_token(kind, value))
    # apk-tools stops at the first invalid token; two versions invalid at the same token
    # are equal, whatever follows.
    tokens.append((_CLASS[_INVALID], "") if reason else (_CLASS[_END], 0))
    return tokens, reason


def _token(kind: int, value: object) -> tuple[int, object]:
    if kind == _SUFFIX and isinstance(value, int) and value <= len(_PRE_SUFFIXES):
        return (_CLASS_PRE_SUFFIX, value)
    return (_CLASS[kind], value)


def parse(text: str) -> ApkVersion:
    """Parse a valid apk version.

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
    tokens, reason = _tokens(text)
    if reason:
        raise InvalidVersion(reason, text)
    return ApkVersion(text, tuple(tokens))


def compare(a: str, b: str, *, fuzzy: bool = False) -> int:
    """Order any two strings exactly as apk-tools' ``apk_version_compare`` does.

    Unlike :func:`parse`, this accepts what apk calls invalid, as ``apk version -t`` does:
    both are read up to their first invalid token, which sorts below the end of a version
    and above a pre-release suffix.

    Args:
        a: a version, valid or not.
        b: another.
        fuzzy: apk's ``~`` matching: ``a`` equals ``b`` when ``b`` is a prefix of it,
            token by token (``3.6.9`` ~ ``3.6``).

    Returns:
        -1, 0 or 1 as ``a`` is older than, equal to, or newer than ``b``.

    Example:
        >>> compare("23_foo", "4_beta"), compare("1.0", "1.0bc"), compare("3.6.9", "3.6")
        (1, -1, 1)
        >>> compare("3.6.9", "3.6", fuzzy=True), compare("3.8", "3.8.1", fuzzy=True)
        (0, -1)
    """
    ka, kb = _tokens(a)[0], _tokens(b)[0]
    if fuzzy and ka != kb:
        at = next(i for i, (ta, tb) in enumerate(zip(ka, kb, strict=False)) if ta != tb)
        if kb[at] == _END_TOKEN:
            return 0
    return (ka > kb) - (ka < kb)


def satisfies(version: str, operator: str, reference: str) -> bool:
    """Whether ``version operator reference`` holds under apk's dependency operators.

    ``operator`` is made of ``<``, ``>``, ``=`` and ``~`` (fuzzy: equal, or ``reference``
    is a token-wise prefix), as in apk's ``world`` file: ``<``, ``<=``, ``=``, ``>=``,
    ``>``, ``~``, ``<~``, ``>~``. Versions are ordered as :func:`compare` orders them.

    Raises:
        ValueError: for an operator apk does not know.

    Example:
        >>> satisfies("3.6.9", "~", "3.6"), satisfies("3.5", "<~", "3.6")
        (True, True)
        >>> satisfies("3.8.0", "~", "3.8.1"), satisfies("1.0-r1", ">=", "1.0")
        (False, True)
    """
    if not operator or any(c not in "<>=~" for c in operator):
        raise ValueError(f"unknown apk version operator {operator!r}")
    fuzzy = "~" in operator
    allowed = {-1: "<" in operator, 0: "=" in operator or fuzzy, 1: ">" in operator}
    return allowed[compare(version, reference, fuzzy=fuzzy)]
