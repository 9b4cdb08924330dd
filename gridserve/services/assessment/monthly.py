"""The monthly grid report of a street or community (网格月报), and what it shares with the
daily summary (:mod:`gridserve.services.assessment.daily`): the period, the figures over it,
the archive of built reports.

Who: the station for its community, the street centre and the district centre (and admins)
for an area in their scope (404 otherwise); other roles 403 — the outreach coordinator too:
the report carries case and personnel figures, the coordinator reads the outreach progress.
The area must be a street or a community (422 ``area``); ``month`` is ``YYYY-MM``, not after
the current local month (422 ``month``); a month not yet over is reported up to today
(``complete: false``).

Sections (each JSON-safe, so a kept report renders exactly like a live one):

- ``patrols``: patrol visits in the area's communities in the month; the (cell, day) pairs
  in force (``cell_days``), those with a patrol (``patrolled``) and those whose three
  windows of the patrol-coverage report (:data:`gridserve.services.field.reports.WINDOWS`,
  local time) each have a patrol (``covered``); the shares; per window the pairs it was
  patrolled in; ``days``: the same per day.
- ``visits``: visits by kind (:data:`gridserve.models.field.visits.VISIT_KINDS`).
- ``households``: household places and registered households at the month's end, registered
  in the month, and the register's completeness (三知道二清楚一掌握: door number, at least one
  member, every member's work unit — ``households.work_units_complete``) as it stands now
  over the households registered by the month's end; ``completeness_share`` complete ÷
  household places.
- ``cases``: the cases report (:mod:`gridserve.services.cases.reports`) over the cases
  received in the month — totals, levels, categories — and ``outcomes``: how they stand now
  (closed, cancelled, settled, verified, pending).
- ``sms``: per campaign of the area (its subtree or an area above it): messages the gateway
  accepted in the month (``sent``), of them delivered and failed.
- ``outreach``: events whose venue is in the area starting in the month, by status; ``held``
  (held or reported), and the participants' reports filed for them (with their counts).
- ``vacant``: cells in force on the month's last day (today for the current month) with no
  worker (:func:`gridserve.services.field.workers.vacant_cells`).
- ``summary``: the headline figures with the previous month's and the change.

Every figure is a few grouped statements whatever the size of the area; nothing here
commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from gridserve.db import insert_for, utcnow
from gridserve.errors import NotFound, ValidationFailed
from gridserve.exports import share_of
from gridserve.extensions import db
from gridserve.models import (
    Area,
    GridCell,
    Household,
    OutreachEvent,
    OutreachReport,
    Place,
    ReportArchive,
    SmsCampaign,
    SmsMessage,
    Visit,
)
from gridserve.models.field.visits import VISIT_KINDS
from gridserve.scope import (
    Principal,
    area_ancestor_ids,
    area_subtree_ids,
    get_visible,
    in_area,
    visible,
)
from gridserve.services.assessment.metrics_base import Period
from gridserve.services.cases import reports as case_reports
from gridserve.services.field.reports import WINDOWS
from gridserve.services.field.workers import vacant_cells
from gridserve.services.geography.areas import zone_of
from gridserve.services.outreach.reports import DONE as HELD

READERS = ("station", "street_centre", "district_centre")
LEVELS = ("street", "community")
FORMATS = ("json", "xlsx", "html", "csv")
SECTIONS = (
    "summary", "patrols", "visits", "households", "cases", "case_outcomes", "sms", "outreach",
    "vacant",
)  # fmt: skip
KIND_NAMES = {"patrol": "巡逻", "household_visit": "入户走访", "sme_visit": "走访企业",
              "place_check": "场所检查"}  # fmt: skip
WINDOW_NAMES = {"morning": "上午", "afternoon": "下午", "evening": "晚间"}
# The headline figures: (key, label, section, figure); shares are compared as shares.
HEADLINES: tuple[tuple[str, str, str, str], ...] = (
    ("patrols", "巡逻次数", "patrols", "patrols"),
    ("patrolled_share", "网格日巡逻率", "patrols", "patrolled_share"),
    ("coverage_share", "三时段覆盖率", "patrols", "covered_share"),
    ("visits", "走访总数", "visits", "total"),
    ("households", "登记户数", "households", "registered"),
    ("households_new", "本月新登记户数", "households", "registered_in_month"),
    ("completeness_share", "户籍信息完整率", "households", "completeness_share"),
    ("cases_received", "受理事件数", "cases", "received"),
    ("cases_settled", "办结事件数", "cases", "settled_total"),
    ("cases_escalated", "上报事件数", "cases", "escalated"),
    ("sms_sent", "短信发送数", "sms", "sent"),
    ("events_held", "宣传活动举办数", "outreach", "held"),
    ("outreach_reports", "活动总结提交数", "outreach", "reports"),
    ("vacant_cells", "空缺网格数", "vacant", "count"),
)
SHARE_KEYS = frozenset(("patrolled_share", "coverage_share", "completeness_share"))


def period_of(area: Area, start: dt.date, end: dt.date) -> Period:
    return Period(start, end, zone_of(area.id))


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    first = month.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def parse_month(text: str | None) -> dt.date:
    """``YYYY-MM`` → its first day (422 ``month`` otherwise)."""
    try:
        if not text or len(text) != 7:
            raise ValueError
        return dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise ValidationFailed(
            "month: YYYY-MM.", details={"fields": {"month": ["A month as YYYY-MM."]}}
        ) from None


def report_area(principal: Principal, area_id: int | None, levels: tuple[str, ...]) -> Area:
    """The area asked for (the caller's own by default): in scope (404), of ``levels`` (422)."""
    if area_id is None:
        area_id = principal.area_id
        if area_id is None:
            raise ValidationFailed(
                "Say which area.", details={"fields": {"area": ["Required for your account."]}}
            )
    area = get_visible(Area, area_id, principal)
    if area.level not in levels:
        raise ValidationFailed(
            f"A report is made for a {' or a '.join(levels)}.",
            details={"fields": {"area": [f"{area.code} is a {area.level}."]}},
        )
    return area


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- figures ---------------------------------------------------------------------------------


def _slots(period: Period) -> tuple[Any, int]:
    """A CASE numbering each visit's local (day, slot): slot 0 the night (before 06:00), then
    the patrol windows; -1 outside the period. Returns (expression, slots per day)."""
    bounds = [("night", 0, WINDOWS[0][1]), *WINDOWS]
    whens = []
    for i, day in enumerate(period.days):
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=period.zone)
        for j, (_name, lo, hi) in enumerate(bounds):
            a = (midnight + dt.timedelta(hours=lo)).astimezone(dt.UTC)
            b = (midnight + dt.timedelta(hours=hi)).astimezone(dt.UTC)
            whens.append((and_(Visit.started_at >= a, Visit.started_at < b), i * len(bounds) + j))
    return case(*whens, else_=-1), len(bounds)


def _communities(area: Area) -> Any:
    return select(Area.id).where(Area.id.in_(area_subtree_ids(area)), Area.level == "community")


def _in_force(area: Area, period: Period) -> dict[str, list[tuple[int, int]]]:
    """Per cell code, the day indexes (first, last inclusive) of the period it was in force."""
    rows = db.session.execute(
        select(GridCell.code, GridCell.valid_from, GridCell.valid_to).where(
            GridCell.community_id.in_(_communities(area)),
            GridCell.valid_from.is_not(None),
            GridCell.valid_from <= period.last_day,
            or_(GridCell.valid_to.is_(None), GridCell.valid_to > period.start),
        )
    ).all()
    spans: dict[str, list[tuple[int, int]]] = {}
    n = len(period.days)
    for code, since, until in rows:
        lo = max((since - period.start).days, 0)
        hi = n - 1 if until is None else min((until - period.start).days - 1, n - 1)
        if lo <= hi:
            spans.setdefault(code, []).append((lo, hi))
    return spans


def patrols(area: Area, period: Period) -> dict[str, Any]:
    """The ``patrols`` section (see the module docstring)."""
    slot, width = _slots(period)
    inner = (
        select(Visit.cell_code.label("cell"), slot.label("slot"))
        .where(
            Visit.kind == "patrol",
            Visit.community_id.in_(_communities(area)),
            Visit.started_at >= period.start_utc,
            Visit.started_at < period.end_utc,
        )
        .subquery()
    )
    counts = db.session.execute(
        select(inner.c.cell, inner.c.slot, func.count())
        .where(inner.c.slot >= 0)
        .group_by(inner.c.cell, inner.c.slot)
    ).all()
    spans = _in_force(area, period)
    n = len(period.days)
    in_force_per_day = [0] * n
    for ranges in spans.values():
        days = set()
        for lo, hi in ranges:
            days.update(range(lo, hi + 1))
        for d in days:
            in_force_per_day[d] += 1
    per_day = [0] * n
    windows: dict[tuple[str, int], set[int]] = {}  # (cell, day) -> windows patrolled
    for cell, number, count in counts:
        day, part = divmod(number, width)
        per_day[day] += count
        if cell is None:
            continue
        parts = windows.setdefault((cell, day), set())
        if part:
            parts.add(part)

    def held(cell: str, day: int) -> bool:
        return any(lo <= day <= hi for lo, hi in spans.get(cell, ()))

    patrolled_day = [0] * n
    covered_day = [0] * n
    by_window = dict.fromkeys((w[0] for w in WINDOWS), 0)
    for (cell, day), parts in windows.items():
        if not held(cell, day):
            continue
        patrolled_day[day] += 1
        if len(parts) == len(WINDOWS):
            covered_day[day] += 1
        for part in parts:
            by_window[WINDOWS[part - 1][0]] += 1
    cell_days, patrolled, covered = sum(in_force_per_day), sum(patrolled_day), sum(covered_day)
    return {
        "patrols": sum(per_day),
        "cell_days": cell_days,
        "patrolled": patrolled,
        "covered": covered,
        "patrolled_share": share_of(patrolled, cell_days),
        "covered_share": share_of(covered, cell_days),
        "windows": by_window,
        "days": [
            {
                "day": _iso(d),
                "patrols": per_day[i],
                "cells": in_force_per_day[i],
                "patrolled": patrolled_day[i],
                "covered": covered_day[i],
            }
            for i, d in enumerate(period.days)
        ],
    }


def visits(area: Area, period: Period) -> dict[str, Any]:
    """The ``visits`` section: visits by kind."""
    rows = dict(
        db.session.execute(
            select(Visit.kind, func.count())
            .where(
                Visit.community_id.in_(_communities(area)),
                Visit.started_at >= period.start_utc,
                Visit.started_at < period.end_utc,
            )
            .group_by(Visit.kind)
        ).all()
    )
    by_kind = {kind: rows.get(kind, 0) for kind in VISIT_KINDS}
    return {"total": sum(by_kind.values()), "by_kind": by_kind}


def households(area: Area, period: Period) -> dict[str, Any]:
    """The ``households`` section (see the module docstring)."""
    end = period.end_utc
    places = db.session.execute(
        select(func.count()).where(
            Place.type == "household", in_area(Place.area_id, area), Place.created_at < end
        )
    ).scalar_one()

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    door = Household.door_number != ""
    members = Household.member_count > 0
    units = Household.work_units_complete.is_(True)
    row = db.session.execute(
        select(
            func.count(),
            count(Household.created_at >= period.start_utc),
            count(door),
            count(members),
            count(and_(members, units)),
            count(and_(door, members, units)),
        ).where(in_area(Household.area_id, area), Household.created_at < end)
    ).one()
    registered, new, with_door, with_members, with_units, complete = (int(v) for v in row)
    return {
        "household_places": places,
        "registered": registered,
        "registered_in_month": new,
        "with_door_number": with_door,
        "with_members": with_members,
        "with_work_units": with_units,
        "complete": complete,
        "completeness_share": share_of(complete, places),
    }


def cases(principal: Principal, area: Area, period: Period) -> dict[str, Any]:
    """The ``cases`` section: the cases report's figures over the cases received in the
    period, and how they stand now."""
    rep = case_reports.report(principal, area.id, period.start, period.end)
    return {
        "area": rep["area"],
        "totals": rep["totals"],
        "levels": rep["levels"],
        "categories": rep["categories"],
        "outcomes": case_reports.outcomes(principal, area.id, period.start, period.end),
    }


def sms(area: Area, period: Period) -> dict[str, Any]:
    """The ``sms`` section: per campaign of the area, messages accepted in the period."""
    accepted = and_(
        SmsMessage.accepted_at >= period.start_utc, SmsMessage.accepted_at < period.end_utc
    )
    rows = db.session.execute(
        select(
            SmsCampaign.code,
            SmsCampaign.name,
            func.count(SmsMessage.id),
            func.coalesce(func.sum(case((SmsMessage.status == "delivered", 1), else_=0)), 0),
            func.coalesce(func.sum(case((SmsMessage.status == "failed", 1), else_=0)), 0),
        )
        .join(SmsMessage, SmsMessage.campaign_id == SmsCampaign.id)
        .where(
            accepted,
            or_(
                SmsCampaign.area_id.in_(area_subtree_ids(area)),
                SmsCampaign.area_id.in_(area_ancestor_ids(area)),
            ),
        )
        .group_by(SmsCampaign.id, SmsCampaign.code, SmsCampaign.name)
        .order_by(SmsCampaign.code)
    ).all()
    campaigns = [
        {"code": code, "name": name, "sent": int(n), "delivered": int(d), "failed": int(f)}
        for code, name, n, d, f in rows
    ]
    return {"sent": sum(c["sent"] for c in campaigns), "campaigns": campaigns}


def outreach(area: Area, period: Period) -> dict[str, Any]:
    """The ``outreach`` section: the area's events starting in the period and their reports."""
    filed = (
        select(
            OutreachReport.event_id.label("event_id"),
            func.count().label("reports"),
            func.sum(case((OutreachReport.late.is_(True), 1), else_=0)).label("late"),
            func.sum(OutreachReport.participants).label("participants"),
            func.sum(OutreachReport.materials).label("materials"),
            func.sum(OutreachReport.consultations).label("consultations"),
        )
        .group_by(OutreachReport.event_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            OutreachEvent.id, OutreachEvent.kind, OutreachEvent.title, OutreachEvent.status,
            OutreachEvent.starts_at, Area.code, filed.c.reports, filed.c.late,
            filed.c.participants, filed.c.materials, filed.c.consultations,
        )
        .join(Area, Area.id == OutreachEvent.area_id)
        .outerjoin(filed, filed.c.event_id == OutreachEvent.id)
        .where(
            in_area(OutreachEvent.area_id, area),
            OutreachEvent.starts_at >= period.start_utc,
            OutreachEvent.starts_at < period.end_utc,
            OutreachEvent.status != "draft",
        )
        .order_by(OutreachEvent.starts_at, OutreachEvent.id)
    ).all()  # fmt: skip
    events = [
        {
            "id": r[0], "kind": r[1], "title": r[2], "status": r[3],
            "starts_at": _iso(r[4].astimezone(period.zone)), "area": r[5],
            "reports": int(r[6] or 0), "late": int(r[7] or 0), "participants": int(r[8] or 0),
            "materials": int(r[9] or 0), "consultations": int(r[10] or 0),
        }
        for r in rows
    ]  # fmt: skip
    by_status: dict[str, int] = {}
    for e in events:
        by_status[e["status"]] = by_status.get(e["status"], 0) + 1

    def total(key: str) -> int:
        return sum(e[key] for e in events)

    return {
        "events": len(events),
        "held": sum(1 for e in events if e["status"] in HELD),
        "cancelled": by_status.get("cancelled", 0),
        "by_status": by_status,
        "reports": total("reports"),
        "late_reports": total("late"),
        "participants": total("participants"),
        "materials": total("materials"),
        "consultations": total("consultations"),
        "list": events,
    }


def vacant(principal: Principal, area: Area, period: Period) -> dict[str, Any]:
    """The ``vacant`` section: cells with nobody assigned on the period's last day counted."""
    cells = vacant_cells(principal, area.id, period.last_day)
    return {"on": _iso(period.last_day), "count": len(cells), "cells": cells}


# --- the report ------------------------------------------------------------------------------


def sections(principal: Principal, area: Area, period: Period) -> dict[str, Any]:
    return {
        "patrols": patrols(area, period),
        "visits": visits(area, period),
        "households": households(area, period),
        "cases": cases(principal, area, period),
        "sms": sms(area, period),
        "outreach": outreach(area, period),
        "vacant": vacant(principal, area, period),
    }


def headline(section_data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, _label, section, figure in HEADLINES:
        data = section_data[section]
        out[key] = (data["totals"] if section == "cases" else data)[figure]
    return out


def build(principal: Principal, area: Area, month: dt.date) -> dict[str, Any]:
    """The report of ``area`` for the month holding ``month`` (no checks: see :func:`report`).
    JSON-safe: kept as is in the archive."""
    start, end = month_bounds(month)
    period = period_of(area, start, end)
    data = sections(principal, area, period)
    prev_start, prev_end = month_bounds(previous_month(start))
    prev = headline(sections(principal, area, period_of(area, prev_start, prev_end)))
    now_ = headline(data)
    summary = []
    for key, label, _section, _figure in HEADLINES:
        value, before = now_[key], prev[key]
        change = None if value is None or before is None else value - before
        if change is not None and key in SHARE_KEYS:
            change = round(change, 4)
        summary.append(
            {"key": key, "label": label, "value": value, "previous": before, "change": change}
        )
    return {
        "kind": "monthly",
        "area": {"id": area.id, "code": area.code, "name": area.name, "level": area.level},
        "month": start.strftime("%Y-%m"),
        "from": _iso(start),
        "to": _iso(end),
        "complete": period.complete,
        "as_of": _iso(utcnow().astimezone(period.zone).replace(microsecond=0)),
        "summary": summary,
        **data,
    }


def report(principal: Principal, area_id: int | None, month: str | None) -> dict[str, Any]:
    """The monthly report as the caller may read it (see the module docstring)."""
    principal.require(*READERS)
    area = report_area(principal, area_id, LEVELS)
    first = parse_month(month)
    today = utcnow().astimezone(zone_of(area.id)).date()
    if first > today:
        raise ValidationFailed(
            "That month has not begun.",
            details={"fields": {"month": [f"Not after {today.strftime('%Y-%m')}."]}},
        )
    return build(principal, area, first)


# --- the archive -----------------------------------------------------------------------------


def keep(kind: str, area_id: int, period_start: dt.date, data: dict[str, Any]) -> bool:
    """Keep a built report unless one is kept already (two schedulers may race: the unique
    key decides); True when this call stored it."""
    table = ReportArchive.__table__
    stmt = (
        insert_for(table)
        .values(kind=kind, area_id=area_id, period_start=period_start, data=data, built_at=utcnow())
        .on_conflict_do_nothing(index_elements=["kind", "area_id", "period_start"])
        .returning(table.c.id)
    )
    return db.session.execute(stmt).scalar_one_or_none() is not None


def kept_periods(kind: str, period_start: dt.date) -> set[int]:
    """The areas that already have a kept ``kind`` report for ``period_start``."""
    return set(
        db.session.execute(
            select(ReportArchive.area_id).where(
                ReportArchive.kind == kind, ReportArchive.period_start == period_start
            )
        ).scalars()
    )


def archive_list(principal: Principal, kind: str, area_id: int | None) -> list[dict[str, Any]]:
    """The kept ``kind`` reports of an area in scope, newest first (without their data)."""
    levels = LEVELS if kind == "monthly" else ("street",)
    area = report_area(principal, area_id, levels)
    rows = db.session.execute(
        visible(ReportArchive, principal)
        .with_only_columns(ReportArchive.id, ReportArchive.period_start, ReportArchive.built_at)
        .where(ReportArchive.kind == kind, ReportArchive.area_id == area.id)
        .order_by(ReportArchive.period_start.desc(), ReportArchive.id.desc())
    ).all()
    area_info = {"id": area.id, "code": area.code, "name": area.name}
    return [
        {"id": r.id, "kind": kind, "area": area_info, "period_start": r.period_start,
         "period": r.period_start.strftime("%Y-%m") if kind == "monthly"
         else r.period_start.isoformat(), "built_at": r.built_at}
        for r in rows
    ]  # fmt: skip


def archived(principal: Principal, kind: str, report_id: int) -> dict[str, Any]:
    """One kept report's data (404 when not of ``kind`` or out of scope)."""
    row = get_visible(ReportArchive, report_id, principal)
    if row.kind != kind:
        raise NotFound("No such report.")
    return {**row.data, "archive": {"id": row.id, "built_at": _iso(row.built_at)}}
