"""RPM package versions, ordered exactly as librpm's ``rpmvercmp`` and ``labelCompare``.

Rules (rpmio/rpmvercmp.c, python/header-py.c ``labelCompare``):

* ``[epoch:]version[-release]``; a missing epoch is 0, a missing release sorts before any
  release (``1.0`` < ``1.0-1``), as ``rpm.labelCompare`` does with ``None``.
* Each part splits into runs of ASCII letters and of digits; anything else only separates
  (``1.0`` == ``1_0``). ``~`` and ``^`` are tokens of their own.
* Token order: ``~`` < end of string < ``^`` < letters (compared as strings) < digits
  (compared as numbers). So ``1.0~rc1`` < ``1.0`` < ``1.0^git1`` < ``1.0.1``.

Accepted: an epoch of digits, and a version and release made of ASCII letters, digits and
``._+%{}~^`` (rpmbuild's own set, ``ALLOWED_CHARS_VERREL``: a macro left unexpanded, such as
``1.0-1%{dist}``, is a legal version), with at most one ``-``. ``%``, ``{`` and ``}`` only
separate tokens when ordering, like ``.``: ``1.0-1%{dist}`` orders as ``1.0-1.dist``.
"""

from __future__ import annotations

import re

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["RpmVersion", "parse", "vercmp", "vercmp_key"]

# rpmvercmp skips every byte that is not an ASCII letter, digit, '~' or '^'.
_TOKENS = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_ALLOWED = re.compile(r"[A-Za-z0-9._+%{}~^]+")
_TILDE, _END, _CARET, _ALPHA, _NUMBER = range(5)
_END_TOKEN = (_END,)


class RpmVersion(Version):
    """A parsed RPM EVR: ``epoch`` (None if absent), ``version``, ``release`` (None if absent)."""

    __slots__ = ("epoch", "release", "version")

    def __init__(
        self, text: str, epoch: int | None, version: str, release: str | None, key: SortKey
    ) -> None:
        super().__init__("rpm", text, key)
        self.epoch = epoch
        self.version = version
        self.release = release


def vercmp_key(part: str) -> SortKey:
    """Sort key of one version or release string under ``rpmvercmp``.

    Args:
        part: any string; characters other than ASCII letters, digits, ``~`` and ``^``
            only separate tokens, as in librpm.

    Returns:
        A tuple that compares as ``rpmvercmp`` does.
    """
    key: list[tuple[int] | tuple[int, str] | tuple[int, int]] = []
    for token in _TOKENS.findall(part):
        if token == "~":
            key.append((_TILDE,))
        elif token == "^":
            key.append((_CARET,))
        elif token[0].isdigit():
            key.append((_NUMBER, int(token)))
        else:
            key.append((_ALPHA, token))
    key.append(_END_TOKEN)
    return tuple(key)


def vercmp(a: str, b: str) -> int:
    """Compare two version (or release) strings exactly as librpm's ``rpmvercmp``.

    Example:
        >>> vercmp("1.0~rc1", "1.0"), vercmp("2_0", "2.0"), vercmp("1.0^1", "1.0")
        (-1, 0, 1)
    """
    ka, kb = vercmp_key(a), vercmp_key(b)
    return (ka > kb) - (ka < kb)


def parse(text: str) -> RpmVersion:
    """Parse an RPM ``[epoch:]version[-release]``.

    Args:
        text: for example ``2:8.2.2637-20.el9_1``.

    Returns:
        The parsed version; it orders exactly as ``rpm.labelCompare``.

    Raises:
        InvalidVersion: with the reason, for an empty part, a non-numeric epoch, a second
            ``-`` or a character rpm does not allow in versions.

    Example:
        >>> parse("1:1.0") > parse("2.0")
        True
        >>> parse("1.0-1%{dist}") > parse("1.0-1"), parse("1.0-1%{dist}") == parse("1.0-1.dist")
        (True, True)
    """
    epoch: int | None = None
    rest = text
    if ":" in text:
        head, _, rest = text.partition(":")
        if not head:
            raise InvalidVersion("epoch is empty", text)
        if not (head.isascii() and head.isdigit()):
            raise InvalidVersion("epoch must be a number", text)
        epoch = int(head)
    version, hyphen, release = rest.partition("-")
    if not version:
        raise InvalidVersion("version is empty", text)
    if hyphen and not release:
        raise InvalidVersion("release is empty", text)
    if "-" in release:
        raise InvalidVersion("version and release may not contain '-'", text)
    for part in (version, release) if hyphen else (version,):
        if not _ALLOWED.fullmatch(part):
            bad = next(c for c in part if not _ALLOWED.fullmatch(c))
            raise InvalidVersion(f"character {bad!r} is not allowed in an rpm version", text)
    # labelCompare compares a missing release (None) below every string; () sorts first.
    release_key = vercmp_key(release) if hyphen else ()
    key = (epoch or 0, vercmp_key(version), release_key)
    return RpmVersion(text, epoch, version, release if hyphen else None, key)
