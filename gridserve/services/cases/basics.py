"""What every case service shares: the ladder's levels, the area whose office holds a case at a
level, and when a level's time is up.

The ladder: ``cell`` (the worker holding the cell) → ``community`` (the station) → ``street``
(the street centre) → ``district`` (the supervision centre). A case's ``area_id`` is its
community; the office of a higher level is the community's ancestor of that level.

A level's deadline comes from the case's category: ``{"amount": n, "unit": "hours"}`` counts
calendar hours from the moment the case reached the level; ``"working_days"`` counts working
days of the working-day calendar from that moment's local date (in the zone of the case's area)
and keeps its local time of day. Paused time is added on top by whoever resumes the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import CASE_LEVELS, Area, CaseCategory
from gridserve.scope import area_ancestor_ids
from gridserve.services.accounts.calendars import add_working_days
from gridserve.services.geography.areas import zone_of
from gridserve.timeutil import zone
from gridserve.workdays import WorkingDays

# Which area level holds a case at each ladder level (cell: the worker's community).
OFFICE_LEVEL = {"cell": "community", "community": "community", "street": "street",
                "district": "district"}  # fmt: skip


def next_level(level: str) -> str | None:
    """The level above ``level`` (None above the district)."""
    index = CASE_LEVELS.index(level)
    return CASE_LEVELS[index + 1] if index + 1 < len(CASE_LEVELS) else None


def office_area_id(community_id: int, level: str) -> int | None:
    """The area whose office holds a case of community ``community_id`` at ``level``."""
    community = db.session.get(Area, community_id)
    if community is None:
        return None
    wanted = OFFICE_LEVEL[level]
    if community.level == wanted:
        return community.id
    return db.session.scalar(
        select(Area.id).where(Area.id.in_(area_ancestor_ids(community.path)), Area.level == wanted)
    )


class Offices:
    """:func:`office_area_id` and the areas' time zones (``zone_of``) for many communities at
    once: their areas and all their ancestors read in two queries (an area's ``path`` lists
    its ancestors' ids, ``/1/2/4/``), then answered from memory."""

    def __init__(self, area_ids: set[int] | list[int]) -> None:
        rows = db.session.execute(select(Area.id, Area.path).where(Area.id.in_(list(area_ids))))
        paths = {area_id: path for area_id, path in rows}
        self.paths = {i: [int(x) for x in p.strip("/").split("/") if x] for i, p in paths.items()}
        wanted = {a for chain in self.paths.values() for a in chain}
        self.areas = {a.id: a for a in db.session.scalars(select(Area).where(Area.id.in_(wanted)))}
        self._zones: dict[int, ZoneInfo] = {}

    def office(self, area_id: int, level: str) -> int | None:
        """The area whose office holds a case of community ``area_id`` at ``level``."""
        wanted = OFFICE_LEVEL[level]
        for ancestor in reversed(self.paths.get(area_id, [])):
            area = self.areas.get(ancestor)
            if area is not None and area.level == wanted:
                return area.id
        return None

    def zone(self, area_id: int) -> ZoneInfo:
        """The area's time zone: the nearest area's up the tree that names one, else the
        deployment's."""
        if area_id not in self._zones:
            found = zone()
            for ancestor in reversed(self.paths.get(area_id, [])):
                name = getattr(self.areas.get(ancestor), "timezone", None)
                if name:
                    try:
                        found = ZoneInfo(name)
                        break
                    except (ValueError, KeyError):
                        continue
            self._zones[area_id] = found
        return self._zones[area_id]


def deadline_of(category: CaseCategory | None, level: str) -> dict[str, Any] | None:
    """The category's deadline at ``level`` (``{"amount", "unit"}``), or None."""
    if category is None:
        return None
    rule = (category.deadlines or {}).get(level)
    return rule if rule and rule.get("amount") else None


def level_due_at(
    category: CaseCategory | None,
    level: str,
    reached_at: dt.datetime,
    area_id: int,
    *,
    tz: ZoneInfo | None = None,
    days: WorkingDays | None = None,
) -> dt.datetime | None:
    """When a case that reached ``level`` at ``reached_at`` is due there (no pause counted);
    None when the category sets no deadline for the level. ``tz``: the area's zone when the
    caller knows it already (:class:`Offices`); ``days``: the working-day calendar a caller
    computing many due times keeps (:func:`working_days`)."""
    rule = deadline_of(category, level)
    if rule is None:
        return None
    amount = int(rule["amount"])
    if rule.get("unit") == "working_days":
        local = reached_at.astimezone(tz or zone_of(area_id))
        day = add_working_days(local.date(), amount, days=days)
        return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)
    return reached_at + dt.timedelta(hours=amount)
