"""Working-day calendars: the operator's data per country and year, the package as fallback.

The State Council publishes each autumn the next year's holidays and adjusted working days
(调休). An admin loads them with ``PUT /api/v1/calendars/CN/{year}``; each PUT adds a version
(the history stays), and the write is audited. Everything that asks whether a day is a working
day goes through :func:`working_days` (see :mod:`gridserve.workdays` for the rule).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import insert_for
from gridserve.errors import NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import SmsCampaignDay, WorkCalendar
from gridserve.scope import Principal
from gridserve.workdays import (
    COUNTRY,
    UnknownYear,
    WorkingDays,
    YearCalendar,
    package_year,
    package_years,
)

COUNTRIES = (COUNTRY,)
YEARS = (2000, 2100)


def _check_country_year(country: str, year: int) -> None:
    if country not in COUNTRIES:
        raise NotFound(f"No calendar for country {country!r}; known: {', '.join(COUNTRIES)}.")
    if not YEARS[0] <= year <= YEARS[1]:
        raise ValidationFailed(
            f"The year must be between {YEARS[0]} and {YEARS[1]}.",
            code="invalid_year",
            details={"year": year},
        )


def _latest(country: str, year: int) -> WorkCalendar | None:
    return db.session.execute(
        select(WorkCalendar)
        .where(WorkCalendar.country == country, WorkCalendar.year == year)
        .order_by(WorkCalendar.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def _as_year(row: WorkCalendar) -> YearCalendar:
    return YearCalendar(
        row.year,
        {dt.date.fromisoformat(h["date"]): h["name"] for h in row.holidays},
        frozenset(dt.date.fromisoformat(d) for d in row.workdays),
    )


def operator_year(year: int, country: str = COUNTRY) -> YearCalendar | None:
    """The operator's calendar in force for ``year``, if one was loaded."""
    row = _latest(country, year)
    return _as_year(row) if row is not None else None


def working_days(country: str = COUNTRY) -> WorkingDays:
    """The working-day function: operator data first, then the package, else UnknownYear."""
    return WorkingDays(lambda year: operator_year(year, country))


def add_working_days(
    day: dt.date, count: int, country: str = COUNTRY, *, days: WorkingDays | None = None
) -> dt.date:
    """The ``count``-th working day after ``day`` by the working-day calendar (the operator's
    year, else the package's). A year no calendar knows yet (next year's arrangement is
    published late in the autumn) counts Monday to Friday: nothing is refused for it.
    ``days``: a :func:`working_days` the caller keeps for many calls (its years read once)."""
    days = days or working_days(country)
    current, left = day, count
    while left > 0:
        current += dt.timedelta(days=1)
        try:
            working = days(current)[0]
        except UnknownYear:
            working = current.weekday() < 5
        if working:
            left -= 1
    return current


def describe(country: str, year: int) -> dict[str, Any]:
    """The calendar in force for a year: the operator's (with its version) or the package's."""
    _check_country_year(country, year)
    row = _latest(country, year)
    if row is not None:
        return {
            "country": country,
            "year": year,
            "source": "operator",
            "version": row.version,
            "updated_at": row.created_at,
            "updated_by": row.created_by,
            "note": row.note,
            "holidays": row.holidays,
            "workdays": row.workdays,
        }
    known = package_year(year)
    if known is None:
        raise NotFound(
            f"No working-day calendar for {year}: load the State Council's holiday arrangement "
            f"with PUT /api/v1/calendars/{country}/{year}.",
            code="calendar_unknown_year",
            details={"year": year, "package_years": _package_span()},
        )
    return {
        "country": country,
        "year": year,
        "source": "package",
        "version": None,
        "updated_at": None,
        "updated_by": None,
        "note": None,
        "holidays": [{"date": d.isoformat(), "name": n} for d, n in sorted(known.holidays.items())],
        "workdays": [d.isoformat() for d in sorted(known.workdays)],
    }


def history(country: str, year: int) -> list[dict[str, Any]]:
    """Every version loaded for a year, newest first (who and when; not the data)."""
    _check_country_year(country, year)
    rows = db.session.execute(
        select(WorkCalendar)
        .where(WorkCalendar.country == country, WorkCalendar.year == year)
        .order_by(WorkCalendar.version.desc())
    ).scalars()
    return [
        {
            "version": r.version,
            "updated_at": r.created_at,
            "updated_by": r.created_by,
            "note": r.note,
            "holidays": len(r.holidays),
            "workdays": len(r.workdays),
        }
        for r in rows
    ]


def _package_span() -> list[int]:
    years = package_years()
    return [years.start, years.stop - 1]


def _validate(year: int, holidays: list[dict[str, Any]], workdays: list[dt.date]) -> None:
    """Dates inside the year, names non-empty, no duplicates, no day both off and on."""
    errors: dict[str, list[str]] = {}
    codes: list[str] = []

    def fail(field: str, code: str, message: str) -> None:
        errors.setdefault(field, []).append(message)
        if code not in codes:
            codes.append(code)

    for i, item in enumerate(holidays):
        if item["date"].year != year:
            fail(f"holidays.{i}.date", "date_outside_year", f"{item['date']} is not in {year}.")
        if not item["name"].strip():
            fail(f"holidays.{i}.name", "empty_name", "A holiday needs a name.")
    for i, day in enumerate(workdays):
        if day.year != year:
            fail(f"workdays.{i}", "date_outside_year", f"{day} is not in {year}.")
    for day, n in Counter(h["date"] for h in holidays).items():
        if n > 1:
            fail("holidays", "duplicate_date", f"{day} is listed {n} times.")
    for day, n in Counter(workdays).items():
        if n > 1:
            fail("workdays", "duplicate_date", f"{day} is listed {n} times.")
    for day in sorted({h["date"] for h in holidays} & set(workdays)):
        fail("workdays", "holiday_and_workday", f"{day} is both a holiday and a working day.")
    if errors:
        raise ValidationFailed(
            "The calendar is not valid: " + ", ".join(codes) + ".",
            code=codes[0] if len(codes) == 1 else "invalid_calendar",
            details={"fields": errors, "codes": codes},
        )


def put_year(
    principal: Principal,
    country: str,
    year: int,
    holidays: list[dict[str, Any]],
    workdays: list[dt.date],
    note: str | None = None,
) -> dict[str, Any]:
    """Admin: store the year's holidays and adjusted working days as its next version.

    Campaign slots that have already opened keep the days they were computed with
    (:func:`freeze_days`); the rest of every schedule follows the new data.
    """
    principal.require()  # admin only
    _check_country_year(country, year)
    _validate(year, holidays, workdays)
    current = db.session.execute(
        select(func.max(WorkCalendar.version)).where(
            WorkCalendar.country == country, WorkCalendar.year == year
        )
    ).scalar()
    row = WorkCalendar(
        country=country,
        year=year,
        version=(current or 0) + 1,
        holidays=[
            {"date": h["date"].isoformat(), "name": h["name"].strip()}
            for h in sorted(holidays, key=lambda h: h["date"])
        ],
        workdays=[d.isoformat() for d in sorted(workdays)],
        note=note,
        created_by=principal.user_id or None,
    )
    db.session.add(row)
    db.session.flush()  # a concurrent PUT of the same version fails here: 409, not a lost write
    audit.record(
        "calendar_loaded",
        "work_calendars",
        row.id,
        {
            "country": country,
            "year": year,
            "version": row.version,
            "previous_version": current,
            "holidays": len(row.holidays),
            "workdays": len(row.workdays),
        },
    )
    return describe(country, year)


def require_known(start: dt.date, end: dt.date, country: str = COUNTRY) -> None:
    """422 ``calendar_unknown_year`` unless every day from ``start`` to ``end`` has a calendar."""
    missing = [y for y in range(start.year, end.year + 1) if not working_days(country).knows(y)]
    if missing:
        year = missing[0]
        raise ValidationFailed(
            f"No working-day calendar for {', '.join(map(str, missing))}: an admin loads the "
            f"State Council's holiday arrangement with PUT /api/v1/calendars/{country}/{year} "
            "before a working-days campaign can run into it.",
            code="calendar_unknown_year",
            details={
                "year": year,
                "years": missing,
                "load": f"PUT /api/v1/calendars/{country}/{year}",
            },
        )


# --- a campaign's days ---------------------------------------------------------------------


def campaign_working_days(campaign_id: int, country: str = COUNTRY) -> WorkingDays:
    """The working-day function for one campaign: the days its opened slots used come first
    (frozen), then the live calendar."""
    frozen = {
        row.day: (row.working, row.name)
        for row in db.session.execute(
            select(SmsCampaignDay).where(SmsCampaignDay.campaign_id == campaign_id)
        ).scalars()
    }
    live = working_days(country)

    class _Frozen(WorkingDays):
        def __call__(self, day: dt.date) -> tuple[bool, str | None]:
            if day in frozen:
                return frozen[day]
            return live(day)

        def year(self, year: int) -> YearCalendar | None:
            return live.year(year)

    return _Frozen()


def freeze_days(campaign_id: int, start: dt.date, last: dt.date, days: WorkingDays) -> int:
    """Record how ``days`` describes each day from ``start`` to ``last`` (once; kept after)."""
    rows = []
    day = start
    while day <= last:
        working, name = days(day)
        rows.append({"campaign_id": campaign_id, "day": day, "working": working, "name": name})
        day += dt.timedelta(days=1)
    if not rows:
        return 0
    stmt = insert_for(SmsCampaignDay.__table__).values(rows).on_conflict_do_nothing()
    return db.session.execute(stmt).rowcount or 0
