"""Rotation plans: staggered SMS senders, one slot each, never in quiet hours."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridserve.sms.rotation import (
    RotationPlan,
    ScheduleError,
    compute,
    effective_window,
    is_quiet,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The demo SME month: the 11 institutions in the regulator's order, one per day from 9 April.
DEMO_SENDERS = (
    "ADBC",
    "ICBC",
    "ABC",
    "BOC",
    "CCB",
    "PSBC",
    "HFB",
    "DZCB",
    "DZRCU",
    "XHCM",
    "DZLY",
)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)


def kinds(schedule, kind: str) -> list[dict]:
    return [e for e in schedule.events if e["kind"] == kind]


def senders_days(schedule) -> list[tuple[str, date]]:
    return [(s.sender, s.start.date()) for s in schedule.slots]


# -- the demo month ----------------------------------------------------------------------


def test_demo_sme_month_one_institution_per_day_9_to_19_april():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2027, 4, 9))
    schedule = compute(plan)

    assert schedule.window_effective == (time(8), time(21))
    assert schedule.events == []
    assert len(schedule.slots) == 11
    for i, (slot, sender) in enumerate(zip(schedule.slots, DEMO_SENDERS, strict=True)):
        day = date(2027, 4, 9 + i)
        assert slot.sender == sender
        assert slot.start == at(day, 8)
        assert slot.end == at(day, 21)
        assert slot.start.utcoffset() == timedelta(hours=8)
        assert (slot.round, slot.position, slot.status, slot.note) == (1, i + 1, "scheduled", None)
        assert slot.days == (day,)
    assert schedule.slots[-1].start.date() == date(2027, 4, 19)


def test_schedule_as_dict_is_json_ready_and_shows_the_policy():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2027, 4, 9), policy="skip_append")
    data = compute(plan, unavailable={"ICBC": "content not approved"}).as_dict()
    text = json.dumps(data, ensure_ascii=False)
    assert data["policy"] == "skip_append"
    assert data["window"] == ["08:00", "21:00"]
    assert data["slots"][0] == {
        "sender": "ADBC",
        "start": "2027-04-09T08:00:00+08:00",
        "end": "2027-04-09T21:00:00+08:00",
        "round": 1,
        "position": 1,
        "status": "scheduled",
        "note": None,
        "days": ["2027-04-09"],
    }
    assert "content not approved" in text


# -- working days --------------------------------------------------------------------------


def test_calendar_facts_used_below():
    # What chinese_calendar says about April 2025: Qingming 4–6 April off,
    # Sunday 27 April an adjusted working day (for the May Day holiday).
    for d in (4, 5, 6):
        assert chinese_calendar.is_holiday(date(2025, 4, d))
    assert date(2025, 4, 27).weekday() == 6
    assert chinese_calendar.is_workday(date(2025, 4, 27))
    assert chinese_calendar.is_workday(date(2025, 4, 3))
    assert chinese_calendar.is_workday(date(2025, 4, 7))


def test_working_days_skip_qingming_holiday():
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2025, 4, 3), working_days_only=True)
    schedule = compute(plan)
    assert senders_days(schedule) == [
        ("A", date(2025, 4, 3)),
        ("B", date(2025, 4, 7)),
        ("C", date(2025, 4, 8)),
    ]
    skipped = kinds(schedule, "day_skipped")
    assert [e["day"] for e in skipped] == ["2025-04-04", "2025-04-05", "2025-04-06"]
    assert all("holiday" in e["reason"] and "Tomb-sweeping" in e["reason"] for e in skipped)


def test_working_days_use_the_adjusted_working_sunday():
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2025, 4, 25), working_days_only=True)
    schedule = compute(plan)
    assert senders_days(schedule) == [
        ("A", date(2025, 4, 25)),
        ("B", date(2025, 4, 27)),  # Sunday, but a working day
        ("C", date(2025, 4, 28)),
    ]
    assert [e["day"] for e in kinds(schedule, "day_skipped")] == ["2025-04-26"]
    assert "weekend" in kinds(schedule, "day_skipped")[0]["reason"]


def test_working_days_over_a_month_are_exactly_the_calendar_workdays():
    plan = RotationPlan(
        senders=("A", "B", "C", "D"),
        start=date(2025, 4, 1),
        working_days_only=True,
        rounds=None,
        end=date(2025, 4, 30),
    )
    schedule = compute(plan)
    april = [date(2025, 4, d) for d in range(1, 31)]
    assert [s.start.date() for s in schedule.slots] == [
        d for d in april if chinese_calendar.is_workday(d)
    ]
    assert {e["day"] for e in kinds(schedule, "day_skipped")} == {
        d.isoformat() for d in april if not chinese_calendar.is_workday(d)
    }


def test_every_day_plan_ignores_the_holiday_calendar():
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2025, 4, 3))
    assert [d for _, d in senders_days(compute(plan))] == [date(2025, 4, d) for d in (3, 4, 5)]


def test_calendar_unknown_year():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2099, 4, 9), working_days_only=True)
    with pytest.raises(ScheduleError) as err:
        compute(plan)
    assert err.value.code == "calendar_unknown_year"
    assert err.value.details["year"] == 2099


# -- unusable days and senders: the two policies -------------------------------------------


@pytest.mark.parametrize("policy", ["shift", "skip_append"])
def test_blocked_day_is_not_used_and_everyone_after_shifts(policy):
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2027, 4, 9), policy=policy)
    schedule = compute(plan, blocked_days={date(2027, 4, 10)})
    assert senders_days(schedule) == [
        ("A", date(2027, 4, 9)),
        ("B", date(2027, 4, 11)),
        ("C", date(2027, 4, 12)),
    ]
    assert kinds(schedule, "day_skipped") == [
        {
            "kind": "day_skipped",
            "day": "2027-04-10",
            "reason": "blocked day 2027-04-10",
            "policy": policy,
        }
    ]


def test_shift_gives_the_slot_to_the_next_sender():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2027, 4, 9), policy="shift")
    schedule = compute(plan, unavailable={"ICBC": "content not approved"})
    expected = [s for s in DEMO_SENDERS if s != "ICBC"]
    assert [s.sender for s in schedule.slots] == expected
    assert [s.start.date() for s in schedule.slots] == [date(2027, 4, d) for d in range(9, 19)]
    assert [s.position for s in schedule.slots] == list(range(1, 11))
    assert all(s.status == "scheduled" for s in schedule.slots)
    assert schedule.events == [
        {
            "kind": "skipped",
            "sender": "ICBC",
            "round": 1,
            "day": "2027-04-10",
            "reason": "content not approved",
            "policy": "shift",
        }
    ]


def test_skip_append_moves_the_sender_to_the_end_and_drops_it_if_still_unavailable():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2027, 4, 9), policy="skip_append")
    schedule = compute(plan, unavailable={"ICBC": "channel down"})
    assert [s.sender for s in schedule.slots] == [s for s in DEMO_SENDERS if s != "ICBC"]
    assert [(e["kind"], e["sender"], e["day"]) for e in schedule.events] == [
        ("deferred", "ICBC", "2027-04-10"),
        ("dropped", "ICBC", "2027-04-19"),
    ]
    assert all(
        e["policy"] == "skip_append" and e["reason"] == "channel down" for e in schedule.events
    )


def test_skip_append_sends_the_deferred_sender_at_the_end_once_available():
    plan = RotationPlan(senders=DEMO_SENDERS, start=date(2027, 4, 9), policy="skip_append")
    schedule = compute(
        plan,
        unavailable={"ICBC": "content not approved"},
        available_from={"ICBC": date(2027, 4, 15)},
    )
    assert [s.sender for s in schedule.slots] == [s for s in DEMO_SENDERS if s != "ICBC"] + ["ICBC"]
    last = schedule.slots[-1]
    assert last.start == at(date(2027, 4, 19), 8)
    assert (last.round, last.position, last.status) == (1, 11, "deferred")
    assert "content not approved" in last.note and "end of round 1" in last.note
    assert [e["kind"] for e in schedule.events] == ["deferred"]


def test_module_docstring_example():
    mon = date(2025, 4, 7)
    plan = RotationPlan(senders=("A", "B", "C", "D"), start=mon)
    until_wed = {"unavailable": {"B": "x"}, "available_from": {"B": mon + timedelta(days=2)}}
    shift = compute(plan, **until_wed)
    assert senders_days(shift) == [("A", mon), ("C", mon + timedelta(1)), ("D", mon + timedelta(2))]
    appended = compute(
        RotationPlan(senders=("A", "B", "C", "D"), start=mon, policy="skip_append"), **until_wed
    )
    assert senders_days(appended) == [
        ("A", mon),
        ("C", mon + timedelta(1)),
        ("D", mon + timedelta(2)),
        ("B", mon + timedelta(3)),
    ]


def test_unavailable_sender_is_retried_each_round():
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=2)
    schedule = compute(
        plan, unavailable={"B": "content not approved"}, available_from={"B": date(2027, 4, 11)}
    )
    assert [(s.sender, s.round) for s in schedule.slots] == [
        ("A", 1),
        ("C", 1),
        ("A", 2),
        ("B", 2),
        ("C", 2),
    ]


def test_nobody_available_ends_an_until_end_plan():
    plan = RotationPlan(
        senders=("A", "B"), start=date(2027, 4, 9), rounds=None, end=date(2027, 12, 31)
    )
    schedule = compute(plan, unavailable={"A": "down", "B": "down"})
    assert schedule.slots == []
    assert [e["kind"] for e in schedule.events] == ["skipped", "skipped", "round_empty"]


# -- rounds ---------------------------------------------------------------------------------


def test_rounds_repeat_the_order():
    plan = RotationPlan(senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=2)
    schedule = compute(plan)
    assert [(s.sender, s.round, s.position) for s in schedule.slots] == [
        ("A", 1, 1),
        ("B", 1, 2),
        ("C", 1, 3),
        ("A", 2, 1),
        ("B", 2, 2),
        ("C", 2, 3),
    ]
    assert [s.start.date().day for s in schedule.slots] == [9, 10, 11, 12, 13, 14]


def test_rotating_rounds_move_the_first_sender_to_the_end():
    plan = RotationPlan(
        senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=3, rotate_each_round=True
    )
    order = [s.sender for s in compute(plan).slots]
    assert order == ["A", "B", "C", "B", "C", "A", "C", "A", "B"]


def test_until_end_fills_the_campaign_and_reports_the_cut_round():
    # 9–30 April = 22 days; 3 senders → 7 full rounds (21 days) + A on 30 April.
    plan = RotationPlan(
        senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=None, end=date(2027, 4, 30)
    )
    schedule = compute(plan)
    assert len(schedule.slots) == 22
    assert schedule.slots[-1].sender == "A"
    assert schedule.slots[-1].round == 8
    assert schedule.slots[-1].end == at(date(2027, 4, 30), 21)
    assert [(e["kind"], e["sender"], e["round"]) for e in schedule.events] == [
        ("out_of_campaign", "B", 8),
        ("out_of_campaign", "C", 8),
    ]


def test_until_end_with_a_round_that_would_start_after_the_end_reports_nothing():
    plan = RotationPlan(
        senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=None, end=date(2027, 4, 14)
    )
    schedule = compute(plan)
    assert len(schedule.slots) == 6
    assert schedule.events == []


def test_fixed_rounds_that_do_not_fit_before_the_end():
    plan = RotationPlan(
        senders=("A", "B", "C"), start=date(2027, 4, 9), rounds=2, end=date(2027, 4, 12)
    )
    schedule = compute(plan)
    assert [(s.sender, s.round) for s in schedule.slots] == [("A", 1), ("B", 1), ("C", 1), ("A", 2)]
    assert [(e["kind"], e["sender"], e["round"]) for e in schedule.events] == [
        ("out_of_campaign", "B", 2),
        ("out_of_campaign", "C", 2),
    ]


# -- windows and quiet hours ----------------------------------------------------------------


def test_window_is_clipped_to_outside_quiet_hours():
    plan = RotationPlan(senders=("A",), start=date(2027, 4, 9), window=(time(7), time(22)))
    schedule = compute(plan, quiet=(time(21), time(8)))
    assert schedule.window_effective == (time(8), time(21))
    assert schedule.slots[0].start == at(date(2027, 4, 9), 8)
    assert schedule.slots[0].end == at(date(2027, 4, 9), 21)
    (clipped,) = kinds(schedule, "window_clipped")
    assert clipped["window"] == ["07:00:00", "22:00:00"]
    assert clipped["effective"] == ["08:00:00", "21:00:00"]


def test_window_narrower_than_allowed_is_kept():
    plan = RotationPlan(senders=("A",), start=date(2027, 4, 9), window=(time(9, 30), time(17)))
    schedule = compute(plan)
    assert schedule.window_effective == (time(9, 30), time(17))
    assert schedule.events == []


@pytest.mark.parametrize(
    "window",
    [(time(21), time(23)), (time(5), time(8)), (time(0), time(7, 59))],
)
def test_window_inside_quiet_hours_is_refused(window):
    plan = RotationPlan(senders=("A",), start=date(2027, 4, 9), window=window)
    with pytest.raises(ScheduleError) as err:
        compute(plan)
    assert err.value.code == "window_in_quiet_hours"


def test_quiet_hours_that_do_not_wrap_midnight():
    # Quiet 12:00–13:00 cuts 08:00–21:00 in two: the longer part (13:00–21:00) is used.
    assert effective_window((time(8), time(21)), (time(12), time(13))) == (time(13), time(21))
    assert effective_window((time(8), time(21)), (time(0), time(9))) == (time(9), time(21))
    assert effective_window((time(8), time(21)), (time(22), time(23))) == (time(8), time(21))


def test_is_quiet():
    quiet = (time(21), time(8))
    assert is_quiet(time(21), quiet)
    assert is_quiet(time(23, 59), quiet)
    assert is_quiet(time(0), quiet)
    assert is_quiet(time(7, 59, 59), quiet)
    assert not is_quiet(time(8), quiet)
    assert not is_quiet(time(20, 59), quiet)
    assert is_quiet(time(12, 30), (time(12), time(13)))
    assert not is_quiet(time(13), (time(12), time(13)))


def test_quiet_hours_that_start_and_end_together_are_refused():
    plan = RotationPlan(senders=("A",), start=date(2027, 4, 9))
    with pytest.raises(ScheduleError) as err:
        compute(plan, quiet=(time(8), time(8)))
    assert err.value.code == "invalid_quiet_hours"


# -- multi-day slots -----------------------------------------------------------------------


def test_multi_day_slots_span_first_window_start_to_last_window_end():
    plan = RotationPlan(senders=("A", "B"), start=date(2027, 4, 9), slot_days=3)
    a, b = compute(plan).slots
    assert (a.start, a.end) == (at(date(2027, 4, 9), 8), at(date(2027, 4, 11), 21))
    assert (b.start, b.end) == (at(date(2027, 4, 12), 8), at(date(2027, 4, 14), 21))
    assert a.days == (date(2027, 4, 9), date(2027, 4, 10), date(2027, 4, 11))


def test_multi_day_slot_steps_over_a_blocked_day():
    plan = RotationPlan(senders=("A", "B"), start=date(2027, 4, 9), slot_days=2)
    a, b = compute(plan, blocked_days=[date(2027, 4, 10)]).slots
    assert a.days == (date(2027, 4, 9), date(2027, 4, 11))
    assert (a.start, a.end) == (at(date(2027, 4, 9), 8), at(date(2027, 4, 11), 21))
    assert b.days == (date(2027, 4, 12), date(2027, 4, 13))


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"senders": ()}, "no_senders"),
        ({"senders": ("A", "B", "A")}, "duplicate_sender"),
        ({"senders": ("A", "")}, "invalid_sender"),
        ({"slot_days": 0}, "invalid_slot_length"),
        ({"window": (time(21), time(8))}, "invalid_window"),
        ({"window": (time(9), time(9))}, "invalid_window"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown_timezone"),
        ({"timezone": ""}, "unknown_timezone"),
        ({"rounds": 0}, "invalid_rounds"),
        ({"rounds": None}, "rounds_or_end_required"),
        ({"end": date(2027, 4, 8)}, "invalid_end"),
        ({"policy": "shuffle"}, "invalid_policy"),
    ],
)
def test_invalid_plans(kwargs, code):
    args = {"senders": ("A", "B"), "start": date(2027, 4, 9), **kwargs}
    with pytest.raises(ScheduleError) as err:
        compute(RotationPlan(**args))
    assert err.value.code == code
    assert err.value.message
    assert isinstance(err.value.details, dict)
    assert isinstance(err.value, ValueError)


def test_plan_accepts_a_list_of_senders():
    plan = RotationPlan(senders=["A", "B"], start=date(2027, 4, 9))  # type: ignore[arg-type]
    assert plan.senders == ("A", "B")


# -- properties ----------------------------------------------------------------------------

SENDER_POOL = ["S1", "S2", "S3", "S4", "S5"]


@st.composite
def scenarios(draw):
    senders = draw(st.lists(st.sampled_from(SENDER_POOL), min_size=1, max_size=5, unique=True))
    start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 6, 30)))
    until_end = draw(st.booleans())
    rounds = None if until_end else draw(st.integers(1, 3))
    end = (
        start + timedelta(days=draw(st.integers(0, 60)))
        if until_end or draw(st.booleans())
        else None
    )
    ws = draw(st.integers(0, 22))
    we = draw(st.integers(ws + 1, 23))
    qs = draw(st.integers(0, 23))
    qe = draw(st.integers(0, 23).filter(lambda h: h != qs))
    plan = RotationPlan(
        senders=tuple(senders),
        start=start,
        slot_days=draw(st.integers(1, 3)),
        window=(time(ws), time(we, draw(st.sampled_from([0, 30])))),
        working_days_only=draw(st.booleans()),
        rounds=rounds,
        end=end,
        rotate_each_round=draw(st.booleans()),
        policy=draw(st.sampled_from(["shift", "skip_append"])),
    )
    unavailable = {s: "down" for s in draw(st.lists(st.sampled_from(senders), unique=True))}
    blocked = {start + timedelta(days=o) for o in draw(st.lists(st.integers(0, 90), max_size=10))}
    return plan, (time(qs), time(qe)), unavailable, blocked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_schedule_properties(scenario):
    plan, quiet, unavailable, blocked = scenario
    window_minutes = []
    t = datetime.combine(date.min, plan.window[0])
    while t.time() < plan.window[1] and t.date() == date.min:
        window_minutes.append(t.time())
        t += timedelta(minutes=1)
    try:
        schedule = compute(plan, quiet=quiet, unavailable=unavailable, blocked_days=blocked)
    except ScheduleError as err:
        assert err.code == "window_in_quiet_hours"
        assert all(is_quiet(m, quiet) for m in window_minutes)
        return

    ws, we = schedule.window_effective
    assert plan.window[0] <= ws < we <= plan.window[1]
    t = datetime.combine(date.min, ws)
    while t.time() < we:  # never touches quiet hours
        assert not is_quiet(t.time(), quiet)
        t += timedelta(minutes=1)

    slots = schedule.slots
    for slot in slots:
        assert slot.start.tzinfo is not None
        assert slot.start.time() == ws and slot.end.time() == we
        assert len(slot.days) == plan.slot_days
        assert slot.start.date() == slot.days[0] and slot.end.date() == slot.days[-1]
        assert slot.sender not in unavailable
        assert slot.start.date() >= plan.start
        if plan.end is not None:
            assert slot.end.date() <= plan.end
        for day in slot.days:
            assert day not in blocked
            if plan.working_days_only:
                assert chinese_calendar.is_workday(day)
    for earlier, later in pairwise(slots):  # in order, never overlapping
        assert earlier.end < later.start
        assert earlier.days[-1] < later.days[0]

    available = set(plan.senders) - set(unavailable)
    cut_rounds = {e["round"] for e in schedule.events if e["kind"] == "out_of_campaign"}
    rounds_seen = sorted({s.round for s in slots})
    for r in rounds_seen:
        in_round = [s for s in slots if s.round == r]
        names = [s.sender for s in in_round]
        assert len(names) == len(set(names))  # nobody twice in a round
        assert [s.position for s in in_round] == list(range(1, len(in_round) + 1))
        if r not in cut_rounds:
            assert set(names) == available  # each available sender exactly once
        else:
            assert set(names) <= available
    if plan.rounds is not None and plan.end is None and available:
        assert rounds_seen == list(range(1, plan.rounds + 1))
    if plan.rounds is not None:
        assert all(r <= plan.rounds for r in rounds_seen)
    for sender in unavailable:
        kind = "skipped" if plan.policy == "shift" else "dropped"
        for r in rounds_seen:
            if r not in cut_rounds:
                assert any(
                    e["kind"] == kind and e["sender"] == sender and e["round"] == r
                    for e in schedule.events
                )
