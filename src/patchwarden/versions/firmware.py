"""Vendor firmware versions: ordered by runs of digits and letters.

Firmware follows no package ecosystem (Cisco's ``15.0(2)SE10``, an array's ``9.12.1P8``),
so numbers compare as numbers and words as words, ignoring case and punctuation. Pure code.
"""

from __future__ import annotations

import re

__all__ = ["firmware_key"]

_RUN = re.compile(r"\d+|[A-Za-z]+")


def firmware_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """The sort key of a firmware version.

    Example:
        >>> sorted(["15.0(2)SE10", "15.0(2)SE4", "15.0(1)SE"], key=firmware_key)
        ['15.0(1)SE', '15.0(2)SE4', '15.0(2)SE10']
        >>> firmware_key("9.12.1P8") < firmware_key("9.12.1P12")
        True
    """
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower()) for part in _RUN.findall(version)
    )
