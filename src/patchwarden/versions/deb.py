"""Debian package versions, ordered and validated exactly as dpkg 1.21 does.

Rules (lib/dpkg/parsehelp.c ``parseversion`` and lib/dpkg/version.c ``verrevcmp``):

* ``[epoch:]upstream[-revision]``; the epoch ends at the first ``:``, the revision starts
  after the last ``-``. Blanks (space, tab) around the version are ignored.
* Upstream and revision compare left to right in alternating runs of non-digits and digits.
  Non-digit runs compare character by character with ``~`` before the end of the run,
  the end before letters, letters before everything else; digit runs compare as numbers.
* dpkg compares bytes, not characters: non-ASCII text is compared by its UTF-8 bytes, which
  dpkg's signed ``char`` places after letters and before ASCII punctuation.

Accepted and rejected exactly as ``dpkg --compare-versions``: what dpkg only warns about
(a version not starting with a digit, unusual characters such as ``_``) is accepted, because
dpkg installs such packages and a fleet reports them; what dpkg calls an error raises
:class:`~patchwarden.errors.InvalidVersion`. The empty string and ``<unknown>``, which dpkg's
command line reads as "no version at all", are rejected too.
"""

from __future__ import annotations

import re

from patchwarden.errors import InvalidVersion
from patchwarden.versions.base import SortKey, Version

__all__ = ["DebVersion", "parse"]

_BLANKS = " \t"  # dpkg's c_isblank
_C_SPACE = " \t\n\v\f\r"  # C isspace, which strtol skips before the epoch digits
_INT_MAX = 2**31 - 1
_DIGIT_RUNS = re.compile(r"([0-9]+)")


def _order_char(byte: int) -> str:
    """Map one byte to a character whose code point orders like dpkg's ``order()``.

    ``order()`` gives ``~`` -1, the end of a run 0, a letter its code, any other byte its
    signed-char value plus 256. Shifting by 2 keeps every value a valid code point, with
    the end of a run as ``chr(2)``.
    """
    if byte == ord("~"):
        order = -1
    elif 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
        order = byte
    elif byte >= 0x80:
        order = byte  # a negative signed char plus 256 is the byte value itself
    else:
        order = byte + 256
    return chr(order + 2)


_END = chr(2)
_ORDER = str.maketrans({chr(b): _order_char(b) for b in range(256) if not 0x30 <= b <= 0x39})
_PAD = (0, _END)  # what a finished string compares as: digit run 0, then an empty run


class DebVersion(Version):
    """A parsed Debian version: ``epoch``, ``upstream`` and ``revision`` (``""`` if none)."""

    __slots__ = ("epoch", "revision", "upstream")

    def __init__(self, text: str, epoch: int, upstream: str, revision: str, key: SortKey) -> None:
        super().__init__("deb", text, key)
        self.epoch = epoch
        self.upstream = upstream
        self.revision = revision


def _part_key(part: str) -> SortKey:
    """Sort key of an upstream version or revision (given as Latin-1-decoded bytes).

    The key is the first non-digit run, then one ``(number, next non-digit run)`` pair per
    digit run. dpkg pads the shorter string with digit run 0 and empty runs; trailing pairs
    equal to that padding are dropped and one padding pair is appended, so that a plain
    tuple comparison gives dpkg's answer (``1.0`` > ``1.0~``, ``1.`` == ``1.0``).
    """
    runs = _DIGIT_RUNS.split(part)  # non-digit, digits, non-digit, ..., non-digit
    key: list[object] = [runs[0].translate(_ORDER) + _END]
    for i in range(1, len(runs), 2):
        key.append((int(runs[i]), runs[i + 1].translate(_ORDER) + _END))
    while len(key) > 1 and key[-1] == _PAD:
        key.pop()
    key.append(_PAD)
    return tuple(key)


def _strtol_epoch(raw: str, colon: int, text: str) -> int:
    """Read the epoch the way dpkg does, with C ``strtol`` over the whole string."""
    i = 0
    while i < len(raw) and raw[i] in _C_SPACE:
        i += 1
    negative = i < len(raw) and raw[i] == "-"
    if i < len(raw) and raw[i] in "+-":
        i += 1
    start = i
    while i < len(raw) and "0" <= raw[i] <= "9":
        i += 1
    if i == start:
        # dpkg says "empty" for 'a:1.0' too (strtol read nothing); say what a person can fix.
        raise InvalidVersion("epoch is empty" if colon == 0 else "epoch must be a number", text)
    if i != colon:
        raise InvalidVersion("epoch must be a number", text)
    value = int(raw[start:i])
    if negative and value:
        raise InvalidVersion("epoch must not be negative", text)
    if value > _INT_MAX:
        raise InvalidVersion(f"epoch is too big (at most {_INT_MAX})", text)
    return value


def parse(text: str) -> DebVersion:
    """Parse a Debian version as dpkg does.

    Args:
        text: for example ``1:2.30-1ubuntu4~22.04``.

    Returns:
        The parsed version; it orders exactly as ``dpkg --compare-versions``.

    Raises:
        InvalidVersion: where dpkg reports an error (not a mere warning), with the reason.

    Example:
        >>> parse("1.0~rc1") < parse("1.0")
        True
    """
    if text in ("", "<unknown>"):
        raise InvalidVersion("version is empty (dpkg reads this as no version at all)", text)
    if "\0" in text:
        raise InvalidVersion("version contains a NUL character", text)
    # dpkg works on bytes; Latin-1 gives one character per byte and round-trips exactly.
    raw = text.encode("utf-8").decode("latin-1").strip(_BLANKS)
    if not raw:
        raise InvalidVersion("version is empty", text)
    if any(blank in raw for blank in _BLANKS):
        raise InvalidVersion("version has embedded spaces", text)
    colon = raw.find(":")
    epoch = 0
    if colon >= 0:
        epoch = _strtol_epoch(raw, colon, text)
        if colon == len(raw) - 1:
            raise InvalidVersion("nothing after the epoch colon", text)
        raw = raw[colon + 1 :]
    upstream, hyphen, revision = raw.rpartition("-")
    if not hyphen:
        upstream, revision = raw, ""
    elif not revision:
        raise InvalidVersion("revision is empty", text)
    if not upstream:
        raise InvalidVersion("upstream version is empty", text)
    key = (epoch, _part_key(upstream), _part_key(revision))
    return DebVersion(text, epoch, _unbyte(upstream), _unbyte(revision), key)


def _unbyte(part: str) -> str:
    return part.encode("latin-1").decode("utf-8")
