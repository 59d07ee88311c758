"""Maintenance windows: when work may run, as a recurrence in a time zone, with exceptions.

A window opens at each occurrence of a cron expression or an RFC 5545 RRULE (local time in
``timezone``), shifted by ``offset_days`` ("Patch Tuesday + 3"), and stays open for
``duration``. No new step starts in the last ``cutoff`` of a window, so work that began in
time can finish (or roll back) before it closes. Occurrences touching a ``blackout`` date
(a change freeze) do not open at all.

Computing occurrences lives in :mod:`patchwarden.planning.windows`; this module only holds the
values, so the domain stays free of scheduling libraries.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from patchwarden.domain.base import Value

__all__ = [
    "Blackout",
    "Duration",
    "WindowSpec",
    "format_duration",
    "parse_duration",
]

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([wdhms])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[wdhms]\s*)+$")


def parse_duration(value: Any) -> Any:
    """Read ``"1d"``, ``"4h30m"``, ``"90m"`` or a number of seconds as a ``timedelta``.

    Anything else is returned unchanged for pydantic to judge (ISO 8601 ``PT4H`` works too).

    Example:
        >>> parse_duration("1d6h")
        datetime.timedelta(days=1, seconds=21600)
    """
    if isinstance(value, str) and _WHOLE.match(value.lower()):
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(value.lower()))
        return timedelta(seconds=seconds)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def format_duration(value: timedelta) -> str:
    """The short form people write: ``timedelta(hours=4, minutes=30)`` is ``"4h30m"``.

    Example:
        >>> format_duration(timedelta(days=2))
        '2d'
    """
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    out = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            out.append(f"{count}{unit}")
    return sign + "".join(out)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A length of time written as ``1d``, ``4h30m``, ``90m`` (or seconds, or ISO 8601)."""


class Blackout(Value):
    """Dates (inclusive, local to the window's zone) on which a window does not open."""

    start: date
    end: date | None = None
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_date(cls, data: Any) -> Any:
        # A bare date is the common case: `blackout: [2026-12-24, 2026-12-25]`.
        if isinstance(data, date | str):
            return {"start": data}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Blackout:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"blackout ends ({self.end}) before it starts ({self.start})")
        return self

    def covers(self, day: date) -> bool:
        """Whether ``day`` falls in this blackout."""
        return self.start <= day <= (self.end or self.start)


class WindowSpec(Value):
    """One recurring maintenance window.

    Exactly one of ``cron`` (five fields, minute to weekday) or ``rrule`` (RFC 5545 without
    DTSTART; the time of day comes from ``at`` and the phase of ``INTERVAL`` rules from
    ``anchor``) says when it opens.

    Example:
        >>> w = WindowSpec(name="prod-sunday-night", cron="0 22 * * 0", duration="4h",
        ...                timezone="Europe/Berlin", cutoff="30m", env=("prod",))
        >>> w.usable
        datetime.timedelta(seconds=12600)
    """

    name: str = ""
    cron: str | None = None
    rrule: str | None = None
    at: time = time(0, 0)
    anchor: date = date(2024, 1, 1)
    duration: Duration
    timezone: str = "UTC"
    cutoff: Duration = timedelta(0)
    offset_days: int = 0
    blackout: tuple[Blackout, ...] = ()
    env: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
            ) from error
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("a window must last longer than 0")
        return value

    @field_validator("cutoff")
    @classmethod
    def _cutoff_inside(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        duration = info.data.get("duration")  # absent when the duration itself was invalid
        if value < timedelta(0) or (duration is not None and value >= duration):
            length = format_duration(duration) if duration is not None else "?"
            raise ValueError(
                f"cutoff {format_duration(value)} must be shorter than the duration {length}"
            )
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> WindowSpec:
        if (self.cron is None) == (self.rrule is None):
            raise ValueError("give exactly one of `cron` or `rrule`")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The window's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def usable(self) -> timedelta:
        """How long new steps may start after the window opens (duration less cutoff)."""
        return self.duration - self.cutoff

    def applies_to(self, env: str) -> bool:
        """Whether the window governs ``env`` (a window naming no environment governs all)."""
        return not self.env or env in self.env

    def blacked_out(self, day: date) -> bool:
        """Whether ``day`` (local) is a blackout date."""
        return any(b.covers(day) for b in self.blackout)
