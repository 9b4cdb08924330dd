"""Conflicts of an outreach event with the others (and with its programme's dates).

:func:`conflicts_for` gives them as a list of ``{code, message, other_event_id, ...}``:

- ``lead_overlap``: its lead (牵头行) leads another event overlapping it in time;
- ``person_overlap``: one person (a mobile number, by its keyed hash) is on a roster of this
  event and on one of an overlapping event; or on the rosters of two participants of this
  very event (two rosters at the same time and place: ``other_event_id`` null), where the
  person would count towards both teams;
- ``venue_overlap``: another event at the same venue at the same time: the same register
  place, or points closer than ``GRIDSERVE_OUTREACH_SAME_VENUE_M`` metres;
- ``outside_programme``: the event's local dates leave its programme's dates
  (``other_event_id`` null).

Cancelled events never conflict. The event detail shows these as warnings; approval refuses
them (409 ``event_conflict``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select

from gridserve.config import settings
from gridserve.extensions import db
from gridserve.models import OutreachEvent, OutreachTeam, OutreachTeamMember
from gridserve.services.outreach.basics import local, lonlat

EARTH_RADIUS_M = 6_371_008.8


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _local_date(value: dt.datetime, area_id: int) -> dt.date:
    return local(value, area_id).date()  # type: ignore[union-attr]


def _overlapping(event: OutreachEvent) -> list[OutreachEvent]:
    """Other events, not cancelled, overlapping ``event`` in time."""
    return list(
        db.session.scalars(
            select(OutreachEvent)
            .where(
                OutreachEvent.id != event.id,
                OutreachEvent.status != "cancelled",
                OutreachEvent.starts_at < event.ends_at,
                OutreachEvent.ends_at > event.starts_at,
            )
            .order_by(OutreachEvent.starts_at, OutreachEvent.id)
        )
    )


def _other(other: OutreachEvent) -> dict[str, Any]:
    return {
        "other_event_id": other.id,
        "other_title": other.title,
        "other_starts_at": local(other.starts_at, other.area_id).isoformat(),  # type: ignore[union-attr]
        "other_ends_at": local(other.ends_at, other.area_id).isoformat(),  # type: ignore[union-attr]
    }


def _rosters(event_ids: list[int]) -> dict[int, dict[str, set[str]]]:
    """``{event_id: {phone_hash: {institution codes}}}`` of the rosters of ``event_ids``."""
    from gridserve.models import Institution

    found: dict[int, dict[str, set[str]]] = {}
    if not event_ids:
        return found
    rows = db.session.execute(
        select(OutreachTeam.event_id, OutreachTeamMember.phone_hash, Institution.code)
        .join(OutreachTeamMember, OutreachTeamMember.team_id == OutreachTeam.id)
        .join(Institution, Institution.id == OutreachTeam.institution_id)
        .where(OutreachTeam.event_id.in_(event_ids))
    ).all()
    for event_id, phone_hash, code in rows:
        found.setdefault(event_id, {}).setdefault(phone_hash, set()).add(code)
    return found


def conflicts_for(event: OutreachEvent) -> list[dict[str, Any]]:
    """Every conflict of ``event`` (none for a cancelled event), in a stable order."""
    if event.status == "cancelled":
        return []
    found: list[dict[str, Any]] = []
    programme = event.programme
    first, last = (
        _local_date(event.starts_at, event.area_id),
        _local_date(event.ends_at - dt.timedelta(microseconds=1), event.area_id),
    )
    if first < programme.start_date or last > programme.end_date:
        found.append(
            {
                "code": "outside_programme",
                "message": f"The event ({first}..{last}) falls outside programme "
                f"{programme.code} ({programme.start_date}..{programme.end_date}).",
                "other_event_id": None,
                "programme_start_date": programme.start_date.isoformat(),
                "programme_end_date": programme.end_date.isoformat(),
            }
        )
    others = _overlapping(event)
    rosters = _rosters([event.id, *(o.id for o in others)])
    mine = rosters.get(event.id, {})
    twice = sorted(h for h, codes in mine.items() if len(codes) > 1)
    if twice:
        found.append(
            {
                "code": "person_overlap",
                "message": f"{len(twice)} person(s) are on the rosters of two participants of "
                "this event.",
                "people": len(twice),
                "institutions": sorted(set().union(*(mine[h] for h in twice))),
                "other_event_id": None,
            }
        )
    if not others:
        return found
    near_m = float(settings().outreach_same_venue_m)
    here = lonlat(event)
    for other in others:
        if event.lead_id is not None and other.lead_id == event.lead_id:
            found.append(
                {
                    "code": "lead_overlap",
                    "message": f"{event.lead.code} also leads “{other.title}” at the same time.",
                    "institution": event.lead.code,
                    **_other(other),
                }
            )
        shared = sorted(set(mine) & set(rosters.get(other.id, {})))
        if shared:
            codes = sorted(
                set().union(*(mine[h] for h in shared), *(rosters[other.id][h] for h in shared))
            )
            found.append(
                {
                    "code": "person_overlap",
                    "message": f"{len(shared)} person(s) on this event's rosters are also on "
                    f"the rosters of “{other.title}” at the same time.",
                    "people": len(shared),
                    "institutions": codes,
                    **_other(other),
                }
            )
        same_place = event.place_id is not None and other.place_id == event.place_id
        distance = metres_between(here, lonlat(other))
        if same_place or distance <= near_m:
            found.append(
                {
                    "code": "venue_overlap",
                    "message": f"“{other.title}” is at the same venue at the same time.",
                    "distance_m": round(distance, 1),
                    **_other(other),
                }
            )
    return found
