"""The one working-day function: operator data first, then the package, else an unknown year;
and what the rotation does with a year nobody knows."""

from __future__ import annotations

from datetime import date

import pytest

from gridserve.sms import rotation
from gridserve.workdays import UnknownYear, WorkingDays, YearCalendar, package_years

Y2027 = YearCalendar(
    2027,
    {date(2027, 2, d): "春节" for d in range(6, 15)},
    frozenset({date(2027, 2, 20)}),
)


def test_operator_data_first_then_the_package_then_unknown():
    days = WorkingDays(lambda year: Y2027 if year == 2027 else None)
    assert days(date(2027, 2, 10)) == (False, "春节")
    assert days(date(2027, 2, 20)) == (True, None)  # an adjusted Saturday
    assert days(date(2027, 2, 21)) == (False, None)  # an ordinary Sunday
    assert days(date(2027, 2, 22)) == (True, None)
    assert days(date(2026, 2, 17)) == (False, "Spring Festival")  # the package's year
    assert days(date(2026, 2, 14)) == (True, None)
    with pytest.raises(UnknownYear) as err:
        days(date(2028, 1, 3))
    assert err.value.year == 2028 and "PUT /api/v1/calendars/CN/2028" in str(err.value)
    assert 2026 in package_years() and 2027 not in package_years()


def test_operator_data_overrides_the_package_for_a_year_it_knows():
    own = YearCalendar(2026, {}, frozenset())
    days = WorkingDays(lambda year: own if year == 2026 else None)
    assert days(date(2026, 2, 17)) == (True, None)


def _plan(**kw) -> rotation.RotationPlan:
    base = dict(
        senders=("A", "B"),
        start=date(2026, 12, 28),
        end=date(2027, 1, 15),
        rounds=None,
        working_days_only=True,
    )
    return rotation.RotationPlan(**(base | kw))


def test_an_unknown_year_raises_by_default_and_stops_the_schedule_on_request():
    with pytest.raises(rotation.ScheduleError) as err:
        rotation.compute(_plan())
    assert err.value.code == "calendar_unknown_year" and err.value.details["year"] == 2027
    stopped = rotation.compute(_plan(), unknown_years="stop")
    assert [s.start.date().isoformat() for s in stopped.slots] == [
        "2026-12-28", "2026-12-29", "2026-12-30", "2026-12-31",
    ]  # fmt: skip
    assert [s.sender for s in stopped.slots] == ["A", "B", "A", "B"]
    assert stopped.unknown_year == 2027
    assert stopped.events[-1]["kind"] == "calendar_unknown_year"
    assert stopped.events[-1]["day"] == "2027-01-01"
    assert not any(e["kind"] == "out_of_campaign" for e in stopped.events)


def test_with_the_year_loaded_the_rotation_walks_on_through_it():
    days = WorkingDays(lambda year: Y2027 if year == 2027 else None)
    got = rotation.compute(_plan(start=date(2027, 2, 4), end=date(2027, 2, 22)), working_days=days)
    assert [(s.sender, s.days[0].isoformat()) for s in got.slots] == [
        ("A", "2027-02-04"), ("B", "2027-02-05"),  # then the Spring Festival, 6-14 Feb
        ("A", "2027-02-15"), ("B", "2027-02-16"), ("A", "2027-02-17"), ("B", "2027-02-18"),
        ("A", "2027-02-19"), ("B", "2027-02-20"),  # the adjusted Saturday
        ("A", "2027-02-22"),
    ]  # fmt: skip
    assert got.unknown_year is None
