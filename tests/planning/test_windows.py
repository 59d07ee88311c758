"""Maintenance windows: cron and RRULE, time zones across DST, cutoff, offsets, blackouts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from patchwarden.domain.change import ChangeRecord, ChangeState, RiskSummary
from patchwarden.domain.plan import Batch, Plan, Wave
from patchwarden.domain.window import WindowSpec, format_duration, parse_duration
from patchwarden.planning.steps import host_unit
from patchwarden.planning.windows import (
    NoWindowFits,
    batch_timing,
    fit_windows,
    may_start,
    next_opening,
    occurrences,
    rule_problem,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday


def _starts(spec: WindowSpec, after: datetime, days: int) -> list[datetime]:
    return [o.start for o in occurrences(spec, after, after + timedelta(days=days))]


def _window(**kw: object) -> WindowSpec:
    base: dict[str, object] = {"name": "w", "cron": "0 22 * * 0", "duration": "4h"}
    base.update(kw)
    return WindowSpec.model_validate(base)


# -- values ------------------------------------------------------------------------------


def test_durations_read_and_write_the_short_form() -> None:
    assert parse_duration("1d6h") == timedelta(days=1, hours=6)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration(3600) == timedelta(hours=1)
    assert format_duration(timedelta(hours=4, minutes=30)) == "4h30m"
    assert _window(duration="2d").model_dump(mode="json")["duration"] == "2d"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rrule": "FREQ=WEEKLY"}, "exactly one of `cron` or `rrule`"),
        ({"cron": None}, "exactly one of `cron` or `rrule`"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cutoff": "4h"}, "must be shorter than the duration"),
        ({"duration": "0s"}, "longer than 0"),
        ({"blackout": [{"start": "2026-12-31", "end": "2026-12-01"}]}, "ends"),
    ],
)
def test_window_values_refuse_nonsense(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _window(**fields)


def test_rule_problems_name_the_rule() -> None:
    assert rule_problem(_window()) == ""
    assert "is not valid" in rule_problem(_window(cron="0 25 * * *"))
    assert "five fields" in rule_problem(_window(cron="0 22 * * 0 2026"))
    assert "is not valid" in rule_problem(_window(cron=None, rrule="FREQ=SOMETIMES"))
    assert "DTSTART" in rule_problem(
        _window(cron=None, rrule="DTSTART:20260101T000000\nFREQ=DAILY")
    )
    assert rule_problem(_window(cron=None, rrule="FREQ=MONTHLY;BYDAY=2TU")) == ""


# -- occurrences -------------------------------------------------------------------------


def test_cron_in_utc_opens_every_sunday_night() -> None:
    starts = _starts(_window(), T0, 15)
    assert starts == [datetime(2026, 11, 29, 22, tzinfo=UTC), datetime(2026, 12, 6, 22, tzinfo=UTC)]


def test_an_opening_in_progress_is_included() -> None:
    inside = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    first = next(occurrences(_window(), inside, inside + timedelta(days=1)))
    assert first.start == datetime(2026, 11, 29, 22, tzinfo=UTC)
    assert first.end == datetime(2026, 11, 30, 2, tzinfo=UTC)


def test_time_zone_follows_local_wall_clock_summer_and_winter() -> None:
    spec = _window(cron="0 22 * * 6", timezone="Europe/Berlin")
    summer = _starts(spec, datetime(2026, 7, 1, tzinfo=UTC), 7)
    winter = _starts(spec, datetime(2026, 12, 1, tzinfo=UTC), 7)
    assert summer == [datetime(2026, 7, 4, 20, tzinfo=UTC)]  # CEST, UTC+2
    assert winter == [datetime(2026, 12, 5, 21, tzinfo=UTC)]  # CET, UTC+1


def test_window_across_the_autumn_dst_change_ends_at_local_wall_clock() -> None:
    # Saturday 22:00 for 8h on the night Berlin falls back (2026-10-25 03:00 -> 02:00).
    spec = _window(cron="0 22 * * 6", duration="8h", timezone="Europe/Berlin")
    opening = next(
        occurrences(spec, datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 26, tzinfo=UTC))
    )
    assert opening.start == datetime(2026, 10, 24, 20, tzinfo=UTC)  # 22:00 CEST
    assert opening.end == datetime(2026, 10, 25, 5, tzinfo=UTC)  # 06:00 CET
    assert opening.end - opening.start == timedelta(hours=9)


def test_a_start_inside_the_spring_gap_lands_just_after_it() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29; the window opens at 03:30 CEST.
    spec = _window(cron="30 2 * * *", duration="1h", timezone="Europe/Berlin")
    starts = _starts(spec, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert starts == [
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]


def test_patch_tuesday_plus_three_days_with_rrule() -> None:
    spec = _window(
        cron=None,
        rrule="FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2",
        at="20:00",
        offset_days=3,
        timezone="America/New_York",
    )
    starts = _starts(spec, datetime(2026, 11, 1, tzinfo=UTC), 62)
    # Second Tuesdays: 2026-11-10 and 2026-12-08; three days later, 20:00 EST (UTC-5).
    assert starts == [datetime(2026, 11, 14, 1, tzinfo=UTC), datetime(2026, 12, 12, 1, tzinfo=UTC)]


def test_interval_rules_keep_their_phase_from_the_anchor() -> None:
    even = _window(
        cron=None, rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=SU", at="22:00", anchor="2026-11-01"
    )
    odd = even.model_copy(update={"anchor": date(2026, 11, 8)})
    after = datetime(2026, 11, 25, tzinfo=UTC)
    assert _starts(even, after, 14) == [datetime(2026, 11, 29, 22, tzinfo=UTC)]
    assert _starts(odd, after, 14) == [datetime(2026, 12, 6, 22, tzinfo=UTC)]


def test_blackout_dates_and_ranges_skip_openings() -> None:
    spec = _window(
        cron="0 22 * * *",
        duration="3h",
        blackout=["2026-12-24", {"start": "2026-12-27", "end": "2026-12-28", "reason": "freeze"}],
    )
    starts = _starts(spec, datetime(2026, 12, 23, tzinfo=UTC), 7)
    # 23rd and 26th run past midnight into a blackout day; 27th and 28th are blacked out.
    assert [s.day for s in starts] == [22, 25, 29]  # the 22nd is still open at midnight


def test_blackout_uses_the_local_date() -> None:
    # 23:30 UTC on Dec 23 is already Dec 24 in Berlin.
    spec = _window(
        cron="30 0 * * *", duration="1h", timezone="Europe/Berlin", blackout=["2026-12-24"]
    )
    starts = _starts(spec, datetime(2026, 12, 23, tzinfo=UTC), 2)
    assert datetime(2026, 12, 23, 23, 30, tzinfo=UTC) not in starts
    assert datetime(2026, 12, 24, 23, 30, tzinfo=UTC) in starts


def test_next_opening_merges_windows() -> None:
    a = _window(name="sun", cron="0 22 * * 0")
    b = _window(name="wed", cron="0 20 * * 3")
    first = next_opening([a, b], T0)
    assert first is not None and first.window == "wed"
    assert first.start == datetime(2026, 11, 25, 20, tzinfo=UTC)


# -- may_start ---------------------------------------------------------------------------


def _change(emergency: bool, state: ChangeState) -> ChangeRecord:
    return ChangeRecord(
        id=7,
        campaign="c",
        plan_hash="a" * 64,
        requester="alice",
        created_at=T0,
        emergency=emergency,
        state=state,
        risk=RiskSummary(level="high"),
    )


def test_may_start_inside_a_window_before_its_cutoff() -> None:
    spec = _window(cutoff="30m")
    ok, why = may_start(datetime(2026, 11, 29, 23, tzinfo=UTC), [spec], None)
    assert ok and "inside window w" in why and "no new step after 01:30" in why


def test_no_new_step_within_the_cutoff() -> None:
    spec = _window(cutoff="30m")
    ok, why = may_start(datetime(2026, 11, 30, 1, 45, tzinfo=UTC), [spec], None)
    assert not ok and "cutoff of window w" in why


def test_outside_a_window_names_the_next_opening_in_local_time() -> None:
    spec = _window(timezone="Europe/Berlin")
    ok, why = may_start(T0, [spec], None)
    assert not ok
    assert "next: w opens 2026-11-29 22:00 CET" in why
    assert "emergency change" in why


def test_an_approved_emergency_change_may_start_outside_windows() -> None:
    ok, why = may_start(T0, [_window()], _change(True, ChangeState.APPROVED))
    assert ok and "emergency change CHG-7" in why


@pytest.mark.parametrize(
    ("emergency", "state"),
    [(False, ChangeState.APPROVED), (True, ChangeState.SUBMITTED), (True, ChangeState.REJECTED)],
)
def test_other_changes_do_not_open_the_gate(emergency: bool, state: ChangeState) -> None:
    ok, _ = may_start(T0, [_window()], _change(emergency, state))
    assert not ok


def test_an_environment_without_windows_may_always_start() -> None:
    prod_only = _window(env=["prod"])
    assert may_start(T0, [prod_only], None, env="dev")[0]
    assert not may_start(T0, [prod_only], None, env="prod")[0]
    assert may_start(T0, [], None) == (True, "no maintenance window governs this environment")


# -- fitting a plan ----------------------------------------------------------------------


def _wave(env: str, group: str, hosts: list[list[str]], reboot: bool = False) -> Wave:
    wave_id = f"{env}.{group}"
    batches = tuple(
        Batch(
            id=f"{wave_id}/{i}",
            units=tuple(host_unit(wave_id, h, (("openssl", "3.0.15"),), reboot) for h in hosts_),
        )
        for i, hosts_ in enumerate(hosts)
    )
    return Wave(id=wave_id, env=env, group=group, strategy="rolling", batches=batches)


def _plan(*waves: Wave, concurrency: int = 10) -> Plan:
    envs = tuple(dict.fromkeys(w.env for w in waves))
    return Plan(
        campaign="c", created_at=T0, environments=envs, waves=waves, max_concurrency=concurrency
    )


def test_batch_timing_sums_steps_and_fills_lanes() -> None:
    wave = _wave("prod", "web", [["a", "b", "c"]])
    per_unit = sum(s.expected_s for s in wave.batches[0].units[0].steps)  # patch + health
    assert batch_timing(wave.batches[0], 10) == (per_unit, per_unit - 15)
    assert batch_timing(wave.batches[0], 2)[0] == 2 * per_unit


def test_without_windows_batches_run_back_to_back_from_now() -> None:
    plan = fit_windows(_plan(_wave("dev", "web", [["a"], ["b"]])), [], T0)
    slots = [b.slot for b in plan.waves[0].batches]
    assert slots[0] is not None and slots[1] is not None
    assert slots[0].start == T0 and slots[1].start == slots[0].end and slots[0].window == ""


def test_what_does_not_fit_is_carried_to_the_next_window() -> None:
    # Each batch takes 135 s; a 5-minute window holds two of them, the third waits a week.
    spec = _window(duration="5m")
    plan = fit_windows(_plan(_wave("prod", "web", [["a"], ["b"], ["c"]])), [spec], T0)
    starts = [b.slot.start for b in plan.waves[0].batches if b.slot]
    sunday = datetime(2026, 11, 29, 22, tzinfo=UTC)
    assert starts == [sunday, sunday + timedelta(seconds=135), sunday + timedelta(days=7)]
    assert {b.slot.window for b in plan.waves[0].batches if b.slot} == {"w"}
    assert plan.windows == (spec,)


def test_the_cutoff_keeps_a_batch_from_starting_its_last_step_late() -> None:
    # 135 s batch, window 5 min with a 2-minute cutoff: the second batch's health step
    # would start at 4m15s, inside the cutoff, so it moves to the next week.
    spec = _window(duration="5m", cutoff="2m")
    plan = fit_windows(_plan(_wave("prod", "web", [["a"], ["b"]])), [spec], T0)
    starts = [b.slot.start for b in plan.waves[0].batches if b.slot]
    assert starts[1] - starts[0] == timedelta(days=7)


def test_soak_delays_the_next_environment_and_windows_apply_per_environment() -> None:
    prod_window = _window(name="prod-night", cron="0 22 * * *", duration="2h", env=["prod"])
    plan = _plan(_wave("dev", "web", [["d1"]]), _wave("prod", "web", [["p1"]]))
    fitted = fit_windows(plan, [prod_window], T0, soak={"dev": timedelta(days=2)})
    dev_slot, prod_slot = (w.batches[0].slot for w in fitted.waves)
    assert dev_slot is not None and prod_slot is not None
    assert dev_slot.start == T0 and dev_slot.window == ""
    # dev ends a few minutes after noon on the 25th; +2 days soak -> first night after 27th noon
    assert prod_slot.start == datetime(2026, 11, 27, 22, tzinfo=UTC)
    assert prod_slot.window == "prod-night"


def test_a_batch_longer_than_every_window_is_refused_with_a_hint() -> None:
    spec = _window(duration="2m")
    with pytest.raises(NoWindowFits, match="longer than any window of prod.*max_unavailable"):
        fit_windows(_plan(_wave("prod", "web", [["a"]])), [spec], T0)


def test_a_year_of_blackouts_is_refused() -> None:
    spec = _window(blackout=[{"start": "2026-11-01", "end": "2028-01-01"}])
    with pytest.raises(NoWindowFits, match="check the blackout dates"):
        fit_windows(_plan(_wave("prod", "web", [["a"]])), [spec], T0)


def test_fitting_is_deterministic_and_changes_the_hash() -> None:
    plan = _plan(_wave("prod", "web", [["a"], ["b"]]))
    spec = _window()
    first, second = fit_windows(plan, [spec], T0), fit_windows(plan, [spec], T0)
    assert first == second and first.digest() == second.digest()
    assert first.digest() != plan.digest()
    assert Plan.model_validate_json(first.model_dump_json()) == first
