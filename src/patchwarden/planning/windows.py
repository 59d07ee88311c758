"""Maintenance windows: when each one opens, fitting a plan into them, and the start gate.

Pure: every function takes ``now`` (or an instant) as a parameter and reads no clock.

Occurrences are computed in the window's local wall-clock time and only then placed in
UTC, because people write "Sunday 22:00 Berlin" and mean it in summer and in winter. The end
of a window is wall-clock too ("22:00 for 8h" closes at 06:00 local even on the night the
clocks change), since that is the time the change board agreed to. A local start that does
not exist (inside a spring-forward gap) is read with the offset before the gap, so it lands
just after it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from croniter import croniter
from dateutil.rrule import rrulestr

from patchwarden.domain.change import ACTIVE_STATES, ChangeRecord
from patchwarden.domain.plan import Batch, Plan, Slot, Wave
from patchwarden.domain.window import WindowSpec, format_duration
from patchwarden.errors import InputError

__all__ = [
    "HORIZON",
    "NoWindowFits",
    "Opening",
    "PlanCalendar",
    "batch_timing",
    "fit_windows",
    "may_start",
    "next_opening",
    "occurrences",
    "rule_problem",
]

HORIZON = timedelta(days=400)
"""How far ahead a window is looked for: over a year, so a yearly freeze is stepped over."""


class NoWindowFits(InputError):
    """A batch cannot be placed in any maintenance window of its environment."""


@dataclass(frozen=True, order=True)
class Opening:
    """One occurrence of a window, in UTC: new steps may start until ``last_start``."""

    start: datetime
    end: datetime
    last_start: datetime
    window: str


def rule_problem(spec: WindowSpec) -> str:
    """Why the window's cron or RRULE text is unusable, or ``""`` if it is fine.

    Example:
        >>> rule_problem(WindowSpec(cron="0 25 * * *", duration="1h"))
        "cron '0 25 * * *' is not valid: use five fields (minute hour day month weekday)"
    """
    if spec.cron is not None:
        if len(spec.cron.split()) != 5 or not croniter.is_valid(spec.cron):
            return (
                f"cron {spec.cron!r} is not valid: use five fields (minute hour day month weekday)"
            )
        return ""
    text = spec.rrule or ""
    if "DTSTART" in text.upper():
        return (
            "rrule must not contain DTSTART: give the time of day in `at` and the phase in `anchor`"
        )
    try:
        rrulestr(text, dtstart=datetime.combine(spec.anchor, spec.at))
    except (ValueError, TypeError) as error:
        return f"rrule {text!r} is not valid: {error}"
    return ""


def _local_starts(spec: WindowSpec, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """Naive local occurrence starts (before the offset) in ``[lo, hi)``, ascending."""
    if spec.cron is not None:
        it = croniter(spec.cron, lo - timedelta(seconds=1))
        while True:
            nxt: datetime = it.get_next(datetime)
            if nxt >= hi:
                return
            yield nxt
    rule = rrulestr(spec.rrule or "", dtstart=datetime.combine(spec.anchor, spec.at))
    current = rule.after(lo, inc=True)
    while current is not None and current < hi:
        yield current
        current = rule.after(current, inc=False)


def occurrences(spec: WindowSpec, after: datetime, until: datetime) -> Iterator[Opening]:
    """Openings of ``spec`` that end after ``after`` and start before ``until``, in order.

    Blacked-out occurrences (any local day they touch is a blackout day) are left out.

    Example:
        >>> w = WindowSpec(name="sun", cron="0 22 * * 0", duration="4h", timezone="UTC")
        >>> t = datetime(2026, 11, 25, tzinfo=UTC)
        >>> next(occurrences(w, t, t + timedelta(days=8))).start.isoformat()
        '2026-11-29T22:00:00+00:00'
    """
    zone = spec.zone
    offset = timedelta(days=spec.offset_days)
    slack = timedelta(days=2)  # covers any UTC offset and the wall-clock shift of a DST change
    lo = after.astimezone(zone).replace(tzinfo=None) - spec.duration - offset - slack
    hi = until.astimezone(zone).replace(tzinfo=None) - offset + slack
    for base in _local_starts(spec, lo, hi):
        local = base + offset
        start = local.replace(tzinfo=zone).astimezone(UTC)
        end = (local + spec.duration).replace(tzinfo=zone).astimezone(UTC)
        if end <= after:
            continue
        if start >= until:
            return
        last_day = (local + spec.duration - timedelta(microseconds=1)).date()
        if any(spec.blacked_out(d) for d in _days(local.date(), last_day)):
            continue
        yield Opening(start, end, end - spec.cutoff, spec.name)


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _merged(windows: Sequence[WindowSpec], after: datetime) -> Iterator[Opening]:
    """Openings of every window, merged in start order, up to :data:`HORIZON`."""
    return heapq.merge(*(occurrences(w, after, after + HORIZON) for w in windows))


def next_opening(windows: Sequence[WindowSpec], after: datetime) -> Opening | None:
    """The first opening of any of ``windows`` that ends after ``after``, if any."""
    return next(_merged(windows, after), None)


class PlanCalendar:
    """A plan's windows, answering the engine's question: when may a new unit start?

    Example:
        >>> w = WindowSpec(name="sat", cron="0 2 * * 6", duration="4h", cutoff="1h")
        >>> cal = PlanCalendar([w])
        >>> cal.next_start("sat", "prod", datetime(2026, 12, 3, 10, tzinfo=UTC)).isoformat()
        '2026-12-05T02:00:00+00:00'
        >>> cal.next_start("sat", "prod", datetime(2026, 12, 5, 3, tzinfo=UTC)).isoformat()
        '2026-12-05T03:00:00+00:00'
        >>> cal.next_start("sat", "prod", datetime(2026, 12, 5, 5, 30, tzinfo=UTC)).isoformat()
        '2026-12-12T02:00:00+00:00'
    """

    def __init__(self, windows: Iterable[WindowSpec]) -> None:
        self.windows = tuple(windows)

    def next_start(self, window: str, env: str, at: datetime) -> datetime | None:
        """The first instant from ``at`` inside an opening of ``window`` before its cutoff.

        ``None`` when no opening comes within :data:`HORIZON`. A window the plan does not
        carry (or that does not govern ``env``) holds nothing: ``at`` itself.
        """
        specs = [w for w in self.windows if w.name == window and w.applies_to(env)]
        if not specs:
            return at
        for opening in _merged(specs, at):
            start = max(at, opening.start)
            if start < opening.last_start:
                return start
        return None


def batch_timing(batch: Batch, max_concurrency: int) -> tuple[float, float]:
    """Expected ``(duration, last step start)`` of a batch in seconds from its start.

    Units run side by side, at most ``max_concurrency`` at a time, each taking the first
    free lane; a unit's steps run one after another for their ``expected_s``.
    """
    lanes = [0.0] * max(1, min(max_concurrency, len(batch.units)))
    last_start = 0.0
    for unit in batch.units:
        lane = min(range(len(lanes)), key=lambda i: (lanes[i], i))
        t = lanes[lane]
        for step in unit.steps:
            last_start = max(last_start, t)
            t += step.expected_s
        lanes[lane] = t
    return max(lanes), last_start


def _place(
    batch: Batch, wave: Wave, windows: Sequence[WindowSpec], cursor: datetime, concurrency: int
) -> Slot:
    duration_s, last_step_s = batch_timing(batch, concurrency)
    duration = timedelta(seconds=duration_s)
    last_step = timedelta(seconds=last_step_s)
    if not windows:
        return Slot(start=cursor, end=cursor + duration)
    longest = max(windows, key=lambda w: min(w.duration - duration, w.usable - last_step))
    if duration > longest.duration or last_step >= longest.usable:
        raise NoWindowFits(
            f"batch {batch.id} needs {format_duration(duration)} (last step starting after "
            f"{format_duration(last_step)}), longer than any window of {wave.env}: "
            f"{longest.name} is {format_duration(longest.duration)} with a "
            f"{format_duration(longest.cutoff)} cutoff; lengthen the window or make the "
            "group's batches smaller (max_unavailable)"
        )
    for opening in _merged(windows, cursor):
        start = max(cursor, opening.start)
        if start + last_step < opening.last_start and start + duration <= opening.end:
            return Slot(start=start, end=start + duration, window=opening.window)
    names = ", ".join(w.name for w in windows)
    raise NoWindowFits(
        f"no window of {wave.env} ({names}) opens in the {HORIZON.days} days after "
        f"{cursor.isoformat()} with room for batch {batch.id}; check the blackout dates"
    )


def fit_windows(
    plan: Plan,
    windows: Iterable[WindowSpec],
    now: datetime,
    soak: Mapping[str, timedelta] | None = None,
) -> Plan:
    """The plan with an expected time slot on every batch, placed in maintenance windows.

    Batches run one after another from ``now``, in plan order. A batch goes into the first
    opening of its environment's windows where it fits whole: it ends before the window
    closes and its last step starts before the cutoff; what does not fit is carried to the
    next opening. Environments without a window run straight on. ``soak`` (by environment)
    delays the first wave of the next environment after an environment's last batch ends.

    Raises:
        NoWindowFits: a batch is longer than every window of its environment, or no window
            opens within :data:`HORIZON`.

    Example:
        >>> from patchwarden.domain.plan import Plan
        >>> empty = Plan(campaign="c", created_at=datetime(2026, 1, 1, tzinfo=UTC),
        ...              environments=(), waves=())
        >>> fit_windows(empty, [], datetime(2026, 1, 1, tzinfo=UTC)).waves
        ()
    """
    specs = tuple(windows)
    soak = soak or {}
    cursor = now.astimezone(UTC)
    env_end: dict[str, datetime] = {}
    previous_env: str | None = None
    waves: list[Wave] = []
    for wave in plan.waves:
        if previous_env is not None and wave.env != previous_env:
            cursor = max(cursor, env_end[previous_env] + soak.get(previous_env, timedelta(0)))
        previous_env = wave.env
        applicable = [w for w in specs if w.applies_to(wave.env)]
        batches = []
        for batch in wave.batches:
            slot = _place(batch, wave, applicable, cursor, plan.max_concurrency)
            batches.append(batch.model_copy(update={"slot": slot}))
            cursor = slot.end
        env_end[wave.env] = cursor
        waves.append(wave.model_copy(update={"batches": tuple(batches)}))
    # The plan carries the windows that govern it, so the engine gates on what was approved.
    kept = tuple(w for w in specs if any(w.applies_to(e) for e in plan.environments))
    return plan.model_copy(update={"waves": tuple(waves), "windows": kept})


def may_start(
    now: datetime,
    windows: Iterable[WindowSpec],
    change: ChangeRecord | None,
    env: str | None = None,
) -> tuple[bool, str]:
    """Whether new work may start at ``now``, and why (for the journal and the operator).

    Work may start inside an opening of a window governing ``env`` (all given windows when
    ``env`` is ``None``) before its cutoff, anywhere when no window governs it, and outside
    windows only under an approved emergency change.

    Example:
        >>> w = WindowSpec(name="sun", cron="0 22 * * 0", duration="4h", cutoff="30m")
        >>> may_start(datetime(2026, 11, 29, 23, 0, tzinfo=UTC), [w], None)
        (True, 'inside window sun (open until 2026-11-30 02:00 UTC; no new step after 01:30)')
    """
    specs = [w for w in windows if env is None or w.applies_to(env)]
    if not specs:
        return True, "no maintenance window governs this environment"
    for spec in specs:
        for opening in occurrences(spec, now, now + timedelta(microseconds=1)):
            local_end = opening.end.astimezone(spec.zone)
            local_cut = opening.last_start.astimezone(spec.zone)
            zone = local_end.tzname()
            if now < opening.last_start:
                return True, (
                    f"inside window {spec.name} (open until {local_end:%Y-%m-%d %H:%M} {zone}; "
                    f"no new step after {local_cut:%H:%M})"
                )
            cut_reason = (
                f"in the cutoff of window {spec.name}: no new step after {local_cut:%H:%M} {zone}"
            )
            return _emergency(change, cut_reason)
    upcoming = next_opening(specs, now)
    if upcoming is None:
        reason = "outside every maintenance window, and none opens within a year"
    else:
        spec = next(w for w in specs if w.name == upcoming.window)
        local = upcoming.start.astimezone(spec.zone)
        reason = (
            f"outside every maintenance window; next: {spec.name} opens "
            f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
        )
    return _emergency(change, reason)


def _emergency(change: ChangeRecord | None, reason: str) -> tuple[bool, str]:
    if change is not None and change.emergency and change.state in ACTIVE_STATES:
        who = ", ".join(change.approvers) or "the change board"
        return True, f"{reason}; allowed by emergency change {change.label} approved by {who}"
    return False, f"{reason}; only an approved emergency change may start work now"
