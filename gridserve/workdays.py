"""Working days in China: the one function the schedule arithmetic asks.

A day's answer comes from, in order:

1. the operator's calendar for its year (the State Council's notice, loaded with
   ``PUT /api/v1/calendars/CN/{year}``): a listed holiday is off, a listed adjusted working day
   (调休, usually a weekend) is on, any other day is on from Monday to Friday;
2. the ``chinese-calendar`` package, for the years it knows (2004 to its last release's year);
3. otherwise :class:`UnknownYear`: nobody guesses a year's holidays.

Nothing here touches a database or a clock; the service
(:mod:`gridserve.services.accounts.calendars`) loads the operator's years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import chinese_calendar
from chinese_calendar import constants as _package

COUNTRY = "CN"


class UnknownYear(LookupError):
    """No calendar knows ``year``: load the year's arrangement first."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no working-day calendar for {year}: load it with PUT /api/v1/calendars/CN/{year}"
        )


@dataclass(frozen=True)
class YearCalendar:
    """One year's holidays (date → name) and adjusted working days, and where they come from."""

    year: int
    holidays: Mapping[dt.date, str] = field(default_factory=dict)
    workdays: frozenset[dt.date] = frozenset()
    source: str = "operator"  # operator | package

    def day(self, day: dt.date) -> tuple[bool, str | None]:
        """(is it a working day, the holiday's name if it is one)."""
        if day in self.holidays:
            return False, self.holidays[day]
        if day in self.workdays:
            return True, None
        return day.weekday() < 5, None


def package_years() -> range:
    """The years the installed ``chinese-calendar`` knows."""
    years = [d.year for d in _package.holidays]
    return range(min(years), max(years) + 1)


def package_year(year: int) -> YearCalendar | None:
    """The package's data for ``year`` in the operator's form, or None if it does not know it."""
    if year not in package_years():
        return None
    holidays = {d: name for d, name in _package.holidays.items() if d.year == year}
    workdays = frozenset(d for d in _package.workdays if d.year == year)
    return YearCalendar(year, holidays, workdays, source="package")


Loader = Callable[[int], YearCalendar | None]


class WorkingDays:
    """``working_days(day)`` → (working?, holiday name); operator data first, then the package.

    ``operator`` gives the operator's calendar of a year (or None); answers are cached per year.
    """

    def __init__(self, operator: Loader | None = None) -> None:
        self._operator = operator or (lambda _year: None)
        self._years: dict[int, YearCalendar | None] = {}

    def year(self, year: int) -> YearCalendar | None:
        if year not in self._years:
            self._years[year] = self._operator(year) or package_year(year)
        return self._years[year]

    def knows(self, year: int) -> bool:
        return self.year(year) is not None

    def __call__(self, day: dt.date) -> tuple[bool, str | None]:
        calendar = self.year(day.year)
        if calendar is None:
            raise UnknownYear(day.year)
        if calendar.source == "package":  # the package's own rules, exactly
            working = chinese_calendar.is_workday(day)
            return working, None if working else chinese_calendar.get_holiday_detail(day)[1]
        return calendar.day(day)


def unknown_years(working_days: WorkingDays, start: dt.date, end: dt.date) -> list[int]:
    """The years between ``start`` and ``end`` (inclusive) that no calendar knows."""
    return [y for y in range(start.year, end.year + 1) if not working_days.knows(y)]
