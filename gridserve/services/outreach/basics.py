"""What every outreach service shares: who plans and reads, institutions by code, an event's
participants, its point and its local times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import Institution, OutreachEvent, OutreachProgramme, User
from gridserve.scope import Principal
from gridserve.services.geography.areas import zone_of
from gridserve.spatial import to_shapely

# Who plans (admin always passes).
PLANNERS = ("coordinator",)
# Who reads programmes and events in their scope; workers do not.
READERS = ("coordinator", "institution_contact", "station", "street_centre", "district_centre")
# Events that may still change (and show their conflicts as warnings).
EDITABLE_STATUSES = ("draft", "planned", "approved")
# Kinds whose lead (牵头行) is required and files a site plan.
LED_KINDS = ("site", "compound")


def user_id(principal: Principal) -> int | None:
    """The acting user for foreign keys (the shell operator is nobody's row)."""
    return principal.user_id or None


def institutions_by_code(codes: Iterable[str], field: str) -> list[Institution]:
    """The institutions named by ``codes``, in order, once each (422 ``unknown_institution``
    naming every unknown code)."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return []
    found = {
        i.code: i
        for i in db.session.scalars(select(Institution).where(Institution.code.in_(wanted)))
    }
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise ValidationFailed(
            f"No institution with code {', '.join(unknown)}.",
            code="unknown_institution",
            details={"codes": unknown, "fields": {field: [f"Unknown: {', '.join(unknown)}."]}},
        )
    return [found[c] for c in wanted]


def institution_by_code(code: str, field: str) -> Institution:
    return institutions_by_code([code], field)[0]


def institution_codes(ids: Iterable[int | None]) -> dict[int, str]:
    """Institution id → code for ``ids`` (None ignored): one query, none for no ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Institution.id, Institution.code).where(Institution.id.in_(wanted))
        ).all()
    )


def usernames(ids: Iterable[int | None]) -> dict[int, str]:
    """User id → username for ``ids`` (None ignored): one query, none for no ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def programme_zones(programme_ids: Iterable[int]) -> dict[int, ZoneInfo]:
    """Programme id → the time zone of its area (local times and days are read in it)."""
    areas = dict(
        db.session.execute(
            select(OutreachProgramme.id, OutreachProgramme.area_id).where(
                OutreachProgramme.id.in_(set(programme_ids))
            )
        ).all()
    )
    zones = {area: zone_of(area) for area in set(areas.values())}
    return {programme: zones[area] for programme, area in areas.items()}


def keep_order(table: Any, owner: Any, owner_id: int, institutions: list[Institution]) -> None:
    """Number an association table's rows (``position``) in the order given."""
    for position, inst in enumerate(institutions):
        db.session.execute(
            update(table)
            .where(owner == owner_id, table.c.institution_id == inst.id)
            .values(position=position)
        )


def local(value: dt.datetime | None, area_id: int) -> dt.datetime | None:
    """A stored UTC time in the zone of ``area_id`` (with its offset)."""
    return None if value is None else value.astimezone(zone_of(area_id))


def due_at(day: dt.date | None, area_id: int) -> dt.datetime | None:
    """When something due on local ``day`` is due: the end of that day in the zone of
    ``area_id`` (23:59:59 local, aware); None for no date."""
    if day is None:
        return None
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=zone_of(area_id))


def is_late(day: dt.date | None, area_id: int, at: dt.datetime) -> bool:
    """Filed at ``at`` on a local day after ``day`` (no due date: never late)."""
    return day is not None and at.astimezone(zone_of(area_id)).date() > day


def decision_due_on(visited_at: dt.datetime, area_id: int) -> dt.date:
    """When a ``product_matched`` visit's decision is due: its local date (zone of
    ``area_id``) plus ``outreach_decision_working_days`` working days."""
    from gridserve.config import settings

    day = visited_at.astimezone(zone_of(area_id)).date()
    from gridserve.services.accounts.calendars import add_working_days

    return add_working_days(day, settings().outreach_decision_working_days)


def lonlat(event: OutreachEvent) -> tuple[float, float]:
    where = to_shapely(event.geom)
    return where.x, where.y


def participants(event: OutreachEvent) -> list[Institution]:
    """Host, lead and co-organisers, once each, in that order."""
    seen: dict[int, Institution] = {}
    for inst in [event.host, event.lead, *event.co_organisers]:
        if inst is not None and inst.id not in seen:
            seen[inst.id] = inst
    return list(seen.values())


def participant_ids(event: OutreachEvent) -> list[int]:
    """The ids of :func:`participants`, in the same order."""
    return [inst.id for inst in participants(event)]
