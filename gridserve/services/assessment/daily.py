"""The street centre's daily summary of a day (每日简报), and the scheduled builds that keep
both reports in ``report_archive``.

The daily summary of a street for a local day: ``patrols`` (patrol visits, cells patrolled,
cells in force), ``visits`` by kind, ``cases``: received that day (``new``), closed that day
(``closed``), escalations that day (``escalations``: escalate events on the street's cases),
pending past their level's due time at the time the summary is built (``overdue_now``), and
``sms``: campaign messages the gateway accepted that day. Readers: the street centre and
above (admins); other roles 403; a community 422 ``area``; ``day`` not after yesterday (422).

Scheduled (``jobs/registry.py``): ``monthly-reports`` runs every morning and, on the month's
first working day (the working-day calendar: the operator's year, else the package's, else
Monday to Friday) or on any later day a build is missing, builds the previous month's report
for every street and community and keeps it; ``daily-summary`` builds yesterday's summary for
every street. Keeping is insert-if-absent on ``(kind, area_id, period_start)``, so a second run
or two racing schedulers add nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select

from gridserve.db import utcnow
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, Task, TaskEvent
from gridserve.scope import OPERATOR, Principal, in_area
from gridserve.services.accounts.calendars import working_days
from gridserve.services.assessment import monthly
from gridserve.services.cases.lists import overdue
from gridserve.services.geography.areas import zone_of
from gridserve.workdays import UnknownYear

READERS = ("street_centre", "district_centre")
LEVELS = ("street",)


def build(principal: Principal, area: Area, day: dt.date) -> dict[str, Any]:
    """The summary of ``area`` for ``day`` (no checks: see :func:`summary`). JSON-safe."""
    period = monthly.period_of(area, day, day)
    now = utcnow()
    pat = monthly.patrols(area, period)
    cases = select(Task.id).where(Task.kind == "case", in_area(Task.area_id, area))
    in_day = and_(
        Task.created_at >= period.start_utc, Task.created_at < period.end_utc
    )  # received that day
    closed = and_(Task.closed_at >= period.start_utc, Task.closed_at < period.end_utc)

    def count(*where: Any) -> int:
        return db.session.execute(cases.with_only_columns(func.count()).where(*where)).scalar_one()

    escalations = db.session.execute(
        select(func.count()).where(
            TaskEvent.action == "escalate",
            TaskEvent.task_id.in_(cases),
            TaskEvent.at >= period.start_utc,
            TaskEvent.at < period.end_utc,
        )
    ).scalar_one()
    sms = monthly.sms(area, period)
    return {
        "kind": "daily",
        "area": {"id": area.id, "code": area.code, "name": area.name, "level": area.level},
        "day": day.isoformat(),
        "as_of": now.astimezone(period.zone).replace(microsecond=0).isoformat(),
        "patrols": {
            "patrols": pat["patrols"],
            "cells": pat["cell_days"],
            "patrolled": pat["patrolled"],
            "covered": pat["covered"],
            "patrolled_share": pat["patrolled_share"],
        },
        "visits": monthly.visits(area, period),
        "cases": {
            "new": count(in_day),
            "closed": count(closed, Task.status == "closed"),
            "escalations": escalations,
            "overdue_now": count(overdue(now)),
        },
        "sms": sms,
    }


def summary(principal: Principal, area_id: int | None, day: dt.date | None) -> dict[str, Any]:
    """The daily summary as the caller may read it (default: yesterday)."""
    principal.require(*READERS)
    area = monthly.report_area(principal, area_id, LEVELS)
    today = utcnow().astimezone(zone_of(area.id)).date()
    day = day or today - dt.timedelta(days=1)
    if day >= today:
        raise ValidationFailed(
            "A day's summary is made once the day is over.",
            details={"fields": {"day": [f"Not after {today - dt.timedelta(days=1)}."]}},
        )
    return build(principal, area, day)


# --- the scheduled builds --------------------------------------------------------------------


def first_working_day(month: dt.date) -> dt.date:
    """The first working day of the month holding ``month`` (an unknown year: Monday to
    Friday)."""
    days = working_days()
    day = month.replace(day=1)
    while True:
        try:
            working = days(day)[0]
        except UnknownYear:
            working = day.weekday() < 5
        if working:
            return day
        day += dt.timedelta(days=1)


def _areas(levels: tuple[str, ...]) -> list[Area]:
    return list(
        db.session.execute(select(Area).where(Area.level.in_(levels)).order_by(Area.path))
        .scalars()
        .all()
    )


def build_monthly_due(today: dt.date) -> dict[str, Any]:
    """From the first working day of ``today``'s month on, keep the previous month's report of
    every street and community not kept yet. Returns what was built."""
    if today < first_working_day(today):
        return {"month": None, "built": 0}
    month = monthly.previous_month(today)
    done = monthly.kept_periods("monthly", month)
    built = 0
    for area in _areas(monthly.LEVELS):
        if area.id in done:
            continue
        if monthly.keep("monthly", area.id, month, monthly.build(OPERATOR, area, month)):
            built += 1
    return {"month": month.strftime("%Y-%m"), "built": built}


def build_daily_due(today: dt.date) -> dict[str, Any]:
    """Keep yesterday's summary of every street not kept yet."""
    day = today - dt.timedelta(days=1)
    done = monthly.kept_periods("daily", day)
    built = 0
    for area in _areas(LEVELS):
        if area.id not in done and monthly.keep("daily", area.id, day, build(OPERATOR, area, day)):
            built += 1
    return {"day": day.isoformat(), "built": built}
