"""Publicity events of a programme: a launch (启动仪式), sites (宣传点), compound visits.

Rules:

- The coordinator (and admin) makes and edits events; readers see them through
  :mod:`gridserve.scope` (contacts of a participant; stations and centres in whose area the
  venue lies). Workers: nothing here (their terminals carry events in the sync bundle).
- Times come with their offset, are kept in UTC and shown in the deployment's zone; the end
  is after the start (422 ``validation_error``).
- The venue is a register place (``place_id``) or a ``location`` with an ``address``, inside
  the programme's area (422 ``venue_outside_area``); the event hangs on the smallest area
  holding it (its community).
- Participants: the ``host`` (default: the organiser), the ``lead`` (牵头行; required for a
  site or compound) and the co-organisers (协办行; default: the programme's other
  institutions), each the organiser or an institution of the programme.
- Every change takes a change number (:func:`gridserve.sync.next_seq`, terminals keep the
  events in their cells) and bumps ``version``; an edit names the version it is based on
  (409 ``stale_version``). Changing the time or venue of an approved event tells its
  participants (:func:`gridserve.services.outreach.notices.announce`).

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import shapely
from geoalchemy2.elements import WKTElement
from sqlalchemy import Select, func, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    DEFAULT_BOOTH,
    Area,
    Institution,
    OutreachEvent,
    OutreachProgramme,
    Place,
    event_co_organisers,
)
from gridserve.pagination import apply_sort
from gridserve.scope import (
    Principal,
    area_contains,
    get_visible,
    in_area,
    participant_clause,
    visible,
    within_area,
)
from gridserve.services.outreach.basics import (
    EDITABLE_STATUSES,
    LED_KINDS,
    PLANNERS,
    READERS,
    institution_by_code,
    institutions_by_code,
    keep_order,
    local,
    lonlat,
    user_id,
)
from gridserve.services.outreach.conflicts import conflicts_for
from gridserve.spatial import intersects, point, to_shapely
from gridserve.sync import next_seq
from gridserve.timeutil import zone
from gridserve.versioning import check_version, refuse_stale, update_versioned

STALE_EVENT = "Someone changed this event since you read it; reload and try again."
SORTABLE = {
    "id": OutreachEvent.id,
    "starts_at": OutreachEvent.starts_at,
    "title": OutreachEvent.title,
    "status": OutreachEvent.status,
    "created_at": OutreachEvent.created_at,
}


def _invalid(field: str, message: str, text: str | None = None) -> ValidationFailed:
    return ValidationFailed(text or message, details={"fields": {field: [message]}})


# --- reading ---------------------------------------------------------------------------------


def venue_of(event: OutreachEvent) -> dict[str, Any]:
    """The venue in API terms: place, location and address."""
    lon, lat = lonlat(event)
    return {
        "place_id": event.place_id,
        "location": {"lon": lon, "lat": lat},
        "address": event.address,
    }


def get_event(principal: Principal, event_id: int) -> OutreachEvent:
    """One event in scope (404 otherwise)."""
    principal.require(*READERS)
    return get_visible(OutreachEvent, event_id, principal)


def present(events: list[OutreachEvent]) -> list[OutreachEvent]:
    """Events ready for their schema: codes for institutions, local times, the venue."""
    for e in events:
        lon, lat = lonlat(e)
        e.location = {"lon": lon, "lat": lat}  # type: ignore[attr-defined]
        e.starts_local = local(e.starts_at, e.area_id)  # type: ignore[attr-defined]
        e.ends_local = local(e.ends_at, e.area_id)  # type: ignore[attr-defined]
        e.host_code = e.host.code  # type: ignore[attr-defined]
        e.lead_code = e.lead.code if e.lead is not None else None  # type: ignore[attr-defined]
        e.co_organiser_codes = [i.code for i in e.co_organisers]  # type: ignore[attr-defined]
        e.booth_rule = {**DEFAULT_BOOTH, **(e.booth or {})}  # type: ignore[attr-defined]
    return events


def present_summaries(events: list[OutreachEvent]) -> list[OutreachEvent]:
    return present(events)


def present_detail(event: OutreachEvent) -> OutreachEvent:
    """``event`` with its conflicts as ``warnings`` (while it may still change)."""
    present([event])
    event.warnings = (  # type: ignore[attr-defined]
        conflicts_for(event) if event.status in EDITABLE_STATUSES else []
    )
    return event


def _envelope(bbox: list[float]) -> WKTElement:
    minx, miny, maxx, maxy = bbox
    wkt = f"POLYGON(({minx} {miny},{maxx} {miny},{maxx} {maxy},{minx} {maxy},{minx} {miny}))"
    return WKTElement(wkt, srid=4326)


def local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone()).astimezone(dt.UTC)


def list_events(
    principal: Principal,
    *,
    programme_id: int | None = None,
    institution: str | None = None,
    area_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    status: str | None = None,
    bbox: list[float] | None = None,
    sort: str | None = None,
) -> Select:
    """Events in the caller's scope; ``date_from``/``date_to`` are local dates (inclusive) the
    event overlaps; ``institution`` a participant's code."""
    principal.require(*READERS)
    stmt = visible(OutreachEvent, principal)
    if programme_id is not None:
        stmt = stmt.where(OutreachEvent.programme_id == programme_id)
    if institution:
        inst = institution_by_code(institution, "institution")
        stmt = stmt.where(participant_clause(inst.id))
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(OutreachEvent.area_id, area))
    if date_from is not None and date_to is not None and date_to < date_from:
        raise _invalid("to", "Must not be before from.", "The date range ends before it starts.")
    if date_from is not None:
        stmt = stmt.where(OutreachEvent.ends_at > local_day_start(date_from))
    if date_to is not None:
        stmt = stmt.where(OutreachEvent.starts_at < local_day_start(date_to + dt.timedelta(days=1)))
    if status:
        stmt = stmt.where(OutreachEvent.status == status)
    if bbox:
        stmt = stmt.where(intersects(OutreachEvent.geom, _envelope(bbox)))
    return apply_sort(stmt, sort, SORTABLE, "starts_at", OutreachEvent.id)


def feature_collection(events: list[OutreachEvent]) -> dict[str, Any]:
    """Presented events as a GeoJSON FeatureCollection of points (for the map)."""
    features = []
    for e in events:
        lon, lat = lonlat(e)
        features.append(
            {
                "type": "Feature",
                "id": e.id,
                "geometry": json.loads(shapely.to_geojson(shapely.Point(lon, lat))),
                "properties": {
                    "id": e.id,
                    "programme_id": e.programme_id,
                    "kind": e.kind,
                    "title": e.title,
                    "status": e.status,
                    "starts_at": local(e.starts_at, e.area_id).isoformat(),  # type: ignore[union-attr]
                    "ends_at": local(e.ends_at, e.area_id).isoformat(),  # type: ignore[union-attr]
                    "place_id": e.place_id,
                    "address": e.address,
                    "area_id": e.area_id,
                    "venue_confirmed": e.venue_confirmed,
                    "host": e.host.code,
                    "lead": e.lead.code if e.lead is not None else None,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- the venue -------------------------------------------------------------------------------


def _outside(programme_area: Area, **details: Any) -> ValidationFailed:
    return ValidationFailed(
        f"The venue is outside the programme's area ({programme_area.name}).",
        code="venue_outside_area",
        details={"area_id": programme_area.id, **details},
    )


def _venue(
    principal: Principal, programme: OutreachProgramme, data: dict[str, Any]
) -> dict[str, Any]:
    """place_id, geom, address and area_id of the venue ``data`` names."""
    place_id, location = data.get("place_id"), data.get("location")
    if place_id is not None and location is not None:
        raise _invalid("location", "Give place_id or location, not both.")
    programme_area = db.session.get(Area, programme.area_id)
    if place_id is not None:
        place = get_visible(Place, place_id, principal)
        place_area = db.session.get(Area, place.area_id)
        if place_area is None or not area_contains(programme_area, place_area):
            raise _outside(programme_area, place_id=place.id)
        p = to_shapely(place.geom)
        return {
            "place_id": place.id,
            "geom": point(p.x, p.y),
            "address": (data.get("address") or "").strip() or place.name,
            "area_id": place.area_id,
        }
    if location is not None:
        lon, lat = float(location["lon"]), float(location["lat"])
        address = (data.get("address") or "").strip()
        if not address:
            raise _invalid("address", "Say where it is (an address) with a location.")
        holder = db.session.execute(
            select(Area)
            .where(
                within_area(programme_area),
                Area.geom.is_not(None),
                intersects(Area.geom, point(lon, lat)),
            )
            .order_by(func.length(Area.path).desc(), Area.id)
            .limit(1)
        ).scalar_one_or_none()
        if holder is None:
            raise _outside(programme_area, location={"lon": lon, "lat": lat})
        return {"place_id": None, "geom": point(lon, lat), "address": address, "area_id": holder.id}
    raise _invalid("place_id", "Give place_id or location (with address).", "Say where it is.")


# --- participants ----------------------------------------------------------------------------


def _allowed(programme: OutreachProgramme) -> set[int]:
    return {programme.organiser_id, *(i.id for i in programme.institutions)}


def _member(programme: OutreachProgramme, inst: Institution, field: str) -> Institution:
    if inst.id not in _allowed(programme):
        raise ValidationFailed(
            f"{inst.code} does not take part in programme {programme.code}.",
            details={"fields": {field: [f"{inst.code} is not in the programme."]}},
        )
    return inst


def _participants(
    programme: OutreachProgramme,
    kind: str,
    data: dict[str, Any],
    current: OutreachEvent | None = None,
) -> tuple[Institution, Institution | None, list[Institution]]:
    """Host, lead and co-organisers from ``data`` (codes), else the event's or the defaults."""
    if data.get("host") is not None:
        host = _member(programme, institution_by_code(data["host"], "host"), "host")
    else:
        host = current.host if current is not None else programme.organiser
    if "lead" in data:
        lead = (
            None
            if data["lead"] is None
            else _member(programme, institution_by_code(data["lead"], "lead"), "lead")
        )
    else:
        lead = current.lead if current is not None else None
    if kind in LED_KINDS and lead is None:
        raise _invalid("lead", f"A {kind} event needs a lead (牵头行).")
    taken = {host.id, lead.id if lead is not None else None}
    if data.get("co_organisers") is not None:
        co = institutions_by_code(data["co_organisers"], "co_organisers")
        for inst in co:
            _member(programme, inst, "co_organisers")
        clash = [i.code for i in co if i.id in taken]
        if clash:
            raise _invalid("co_organisers", f"{', '.join(clash)} already host or lead the event.")
    elif current is not None:
        co = [i for i in current.co_organisers if i.id not in taken]
    else:
        co = [i for i in programme.institutions if i.id not in taken]
    return host, lead, co


# --- writing ---------------------------------------------------------------------------------


def _check_span(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if ends_at <= starts_at:
        raise _invalid("ends_at", "Must be after starts_at.", "The event ends before it starts.")


def _booth(given: dict[str, Any] | None, current: dict[str, Any] | None) -> dict[str, Any]:
    booth = {**DEFAULT_BOOTH, **(current or {}), **(given or {})}
    booth["board_mm"] = list(booth["board_mm"])
    return booth


def create_event(principal: Principal, programme_id: int, data: dict[str, Any]) -> OutreachEvent:
    """A draft event of a programme (coordinator). ``data`` in API terms: kind, title,
    starts_at, ends_at (aware), place_id | location + address, venue_confirmed, host, lead,
    co_organisers (codes), booth, invited."""
    principal.require(*PLANNERS)
    programme = get_visible(OutreachProgramme, programme_id, principal)
    starts_at = data["starts_at"].astimezone(dt.UTC)
    ends_at = data["ends_at"].astimezone(dt.UTC)
    _check_span(starts_at, ends_at)
    host, lead, co = _participants(programme, data["kind"], data)
    venue = _venue(principal, programme, data)
    event = OutreachEvent(
        programme_id=programme.id,
        kind=data["kind"],
        title=data["title"],
        starts_at=starts_at,
        ends_at=ends_at,
        venue_confirmed=bool(data.get("venue_confirmed", False)),
        host_id=host.id,
        lead_id=lead.id if lead is not None else None,
        co_organisers=co,
        booth=_booth(data.get("booth"), None),
        invited=data.get("invited") or "",
        status="draft",
        status_changed_at=utcnow(),
        version=1,
        change_seq=next_seq(),
        created_by=user_id(principal),
        **venue,
    )
    db.session.add(event)
    db.session.flush()
    keep_order(event_co_organisers, event_co_organisers.c.event_id, event.id, co)
    db.session.expire(event, ["co_organisers"])
    return event


def _venue_changes(event: OutreachEvent, venue: dict[str, Any]) -> dict[str, Any]:
    """What of the venue moves (place, point, address): {} when nothing does."""
    old = venue_of(event)
    new_point = shapely.from_wkt(venue["geom"].data)
    new = {
        "place_id": venue["place_id"],
        "location": {"lon": new_point.x, "lat": new_point.y},
        "address": venue["address"],
    }
    if new == old and venue["area_id"] == event.area_id:
        return {}
    return {"venue": {"from": old, "to": new}}


def update_event(principal: Principal, event_id: int, data: dict[str, Any]) -> OutreachEvent:
    """Change an event (coordinator), based on the version the caller read.

    Draft, planned and approved events change; held, reported and cancelled ones do not (409
    ``event_closed``). A change of time or venue of an approved event is announced to its
    participants.
    """
    from gridserve.services.outreach import notices

    principal.require(*PLANNERS)
    event = get_visible(OutreachEvent, event_id, principal)
    based_on = data["version"]
    check_version(STALE_EVENT, expected=based_on, current=event.version)
    if event.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"The event is {event.status}; it cannot change any more.",
            code="event_closed",
            details={"status": event.status},
        )
    programme = event.programme
    values: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    for key in ("title", "invited", "venue_confirmed", "kind"):
        if data.get(key) is not None and data[key] != getattr(event, key):
            values[key] = data[key]
    starts_at = data["starts_at"].astimezone(dt.UTC) if data.get("starts_at") else event.starts_at
    ends_at = data["ends_at"].astimezone(dt.UTC) if data.get("ends_at") else event.ends_at
    _check_span(starts_at, ends_at)
    for key, new in (("starts_at", starts_at), ("ends_at", ends_at)):
        old = getattr(event, key)
        if new != old:
            values[key] = new
            changes[key] = {
                "from": local(old, event.area_id).isoformat(),  # type: ignore[union-attr]
                "to": local(new, event.area_id).isoformat(),  # type: ignore[union-attr]
            }
    kind = values.get("kind", event.kind)
    host, lead, co = _participants(programme, kind, data, event)
    if host.id != event.host_id:
        values["host_id"] = host.id
    if (lead.id if lead else None) != event.lead_id:
        values["lead_id"] = lead.id if lead else None
    co_changed = [i.id for i in co] != [i.id for i in event.co_organisers]
    if data.get("place_id") is not None or data.get("location") is not None:
        venue = _venue(principal, programme, data)
        moved = _venue_changes(event, venue)
        if moved:
            changes.update(moved)
            values.update(venue)
    elif data.get("address") is not None:
        address = data["address"].strip()
        if not address and event.place_id is None:
            raise _invalid("address", "Say where it is (an address) with a location.")
        address = address or db.session.get(Place, event.place_id).name
        if address != event.address:
            before = venue_of(event)
            changes["venue"] = {"from": before, "to": {**before, "address": address}}
            values["address"] = address
    if data.get("booth") is not None:
        booth = _booth(data["booth"], event.booth)
        if booth != event.booth:
            values["booth"] = booth
    if not values and not co_changed:
        return event
    was_approved = event.status == "approved"
    new_version = update_versioned(
        OutreachEvent,
        based_on,
        OutreachEvent.id == event.id,
        OutreachEvent.status.in_(EDITABLE_STATUSES),
        **values,
        change_seq=next_seq(),
        updated_at=utcnow(),
    )
    if new_version is None:
        db.session.expire(event)
        refuse_stale(STALE_EVENT, expected=based_on, current=event.version)
    db.session.expire(event)
    if co_changed:
        event.co_organisers = co
        db.session.flush()
        keep_order(event_co_organisers, event_co_organisers.c.event_id, event.id, co)
        db.session.expire(event, ["co_organisers"])
    fields = sorted(k for k in values if k != "geom") + (["co_organisers"] if co_changed else [])
    audit.record(
        "update",
        "outreach_events",
        event.id,
        {"fields": fields, "version": [based_on, new_version]},
    )
    if was_approved and changes:
        notices.announce(principal, event, "changed", changes)
    return event
