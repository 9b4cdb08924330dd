"""The outreach calendar: events as iCalendar (RFC 5545), and revocable feed URLs.

A calendar is either one institution's events (those it hosts, leads or co-organises) or one
programme's, always cut down to what the caller may see (:func:`gridserve.scope.visible`);
drafts only for the coordinator. Each event is one ``VEVENT`` with a stable ``UID``
(``outreach-event-{id}@{domain}``) and ``SEQUENCE`` from the event's version, so a calendar
app updates it in place; a cancelled event stays in the feed as ``STATUS:CANCELLED`` so the
app removes it from its view instead of keeping a stale copy.

Calendar apps cannot send a bearer token: a *feed* is a URL carrying its own random token
(shown once, stored as its SHA-256), served as the account that made it, with that
account's scope at read time. A revoked feed, or one whose owner is deactivated or may no
longer read calendars, answers 410; an unknown token 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import selectinload

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import AppError, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    OutreachCalendarFeed,
    OutreachEvent,
    OutreachProgramme,
    Place,
    User,
)
from gridserve.scope import (
    Principal,
    get_visible,
    participant_clause,
    visible,
)
from gridserve.services.accounts.auth import principal_for
from gridserve.services.outreach.basics import institution_by_code
from gridserve.spatial import to_shapely

# Who reads calendars (with a bearer token) and makes feeds; admin always may.
READERS = ("coordinator", "institution_contact", "station", "street_centre")
FEED_MAKERS = READERS
# Who sees draft events in a calendar.
DRAFT_READERS = ("admin", "coordinator")
# Roles whose feeds may only be programme feeds (their area's programmes).
PROGRAMME_FEEDS_ONLY = ("station", "street_centre")

STATUS = {
    "draft": "TENTATIVE",
    "planned": "TENTATIVE",
    "approved": "CONFIRMED",
    "held": "CONFIRMED",
    "reported": "CONFIRMED",
    "cancelled": "CANCELLED",
}
PRODID = "-//gridserve//outreach calendar//ZH"
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Selection:
    """What one calendar shows: one institution's events or one programme's."""

    institution: Institution | None = None
    programme: OutreachProgramme | None = None

    @property
    def name(self) -> str:
        if self.programme is not None:
            return f"{self.programme.code} {self.programme.name}"
        inst = self.institution
        return f"{inst.code} {inst.short_name or inst.name}" if inst is not None else ""


# --- which events -----------------------------------------------------------------------


def select_for(principal: Principal, institution: str | None, programme: int | None) -> Selection:
    """The calendar asked for: exactly one of ``institution`` (a code) and ``programme``.

    422 ``validation_error`` for neither or both, 422 ``unknown_institution`` for an unknown
    code, 404 for a programme the caller cannot see.
    """
    if (institution is None) == (programme is None):
        message = (
            "Name one institution or one programme."
            if institution is None
            else ("Name an institution or a programme, not both.")
        )
        raise ValidationFailed(
            message,
            details={"fields": {"institution": [message], "programme": [message]}},
        )
    if programme is not None:
        return Selection(programme=get_visible(OutreachProgramme, programme, principal))
    return Selection(institution=institution_by_code(institution or "", "institution"))


def events_query(principal: Principal, selection: Selection) -> Select:
    """``SELECT OutreachEvent`` of the selection the caller may see, by start time."""
    stmt = visible(OutreachEvent, principal)
    if selection.programme is not None:
        stmt = stmt.where(OutreachEvent.programme_id == selection.programme.id)
    else:
        stmt = stmt.where(participant_clause(selection.institution.id))  # type: ignore[union-attr]
    if principal.role not in DRAFT_READERS:
        stmt = stmt.where(OutreachEvent.status != "draft")
    return stmt.order_by(OutreachEvent.starts_at, OutreachEvent.id).options(
        selectinload(OutreachEvent.host),
        selectinload(OutreachEvent.lead),
        selectinload(OutreachEvent.co_organisers),
    )


def calendar(principal: Principal, institution: str | None, programme: int | None) -> bytes:
    """The iCalendar text for the caller (bearer token)."""
    principal.require(*READERS)
    selection = select_for(principal, institution, programme)
    return render(principal, selection)


def render(principal: Principal, selection: Selection, name: str | None = None) -> bytes:
    events = list(db.session.execute(events_query(principal, selection)).scalars())
    return to_ical(events, name or selection.name)


# --- iCalendar ------------------------------------------------------------------------------


def uid(event_id: int) -> str:
    """The event's UID: the same in every feed and for ever (RFC 5545 3.8.4.7)."""
    return f"outreach-event-{event_id}@{settings().calendar_uid_domain}"


def _codes(institutions: list[Institution]) -> str:
    return ", ".join(f"{i.code} {i.short_name or i.name}" for i in institutions)


def _booth(event: OutreachEvent) -> str:
    booth = event.booth or {}
    parts = []
    if booth.get("boards") is not None:
        size = booth.get("board_mm") or []
        dims = f" ({size[0]} x {size[1]} mm)" if len(size) == 2 else ""
        parts.append(f"{booth['boards']} boards{dims}")
    if booth.get("min_team") is not None:
        parts.append(f"team of at least {booth['min_team']}")
    if event.kind == "launch" and booth.get("min_group") is not None:
        parts.append(f"group of at least {booth['min_group']}")
    return ", ".join(parts)


def _description(event: OutreachEvent) -> str:
    lines = [f"Kind: {event.kind}", f"Host: {_codes([event.host])}"]
    if event.lead is not None:
        lines.append(f"Lead (牵头行): {_codes([event.lead])}")
    if event.co_organisers:
        lines.append(f"Co-organisers (协办行): {_codes(event.co_organisers)}")
    booth = _booth(event)
    if booth:
        lines.append(f"Booth: {booth}")
    if event.status == "cancelled" and event.cancel_reason:
        lines.append(f"Cancelled: {event.cancel_reason}")
    lines.append(f"Status: {event.status}")
    return "\n".join(lines)


def _location(event: OutreachEvent, places: dict[int, Place]) -> str:
    place = places.get(event.place_id) if event.place_id is not None else None
    if event.address and place is not None and place.name and place.name != event.address:
        return f"{place.name}, {event.address}"
    return event.address or (place.name if place is not None else "")


def to_ical(events: list[OutreachEvent], name: str) -> bytes:
    """One VCALENDAR with one VEVENT per event (times in UTC)."""
    import icalendar  # here: the app (and every terminal sync) starts without it

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", settings().timezone)
    place_ids = {e.place_id for e in events if e.place_id is not None}
    places = (
        {p.id: p for p in db.session.scalars(select(Place).where(Place.id.in_(place_ids)))}
        if place_ids
        else {}
    )
    now = utcnow()
    for event in events:
        item = icalendar.Event()
        item.add("uid", uid(event.id))
        item.add("sequence", max(0, event.version - 1))
        item.add("dtstamp", event.updated_at or now)
        item.add("created", event.created_at or now)
        item.add("last-modified", event.updated_at or now)
        item.add("dtstart", event.starts_at.astimezone(dt.UTC))
        item.add("dtend", event.ends_at.astimezone(dt.UTC))
        item.add("summary", event.title)
        location = _location(event, places)
        if location:
            item.add("location", location)
        point = to_shapely(event.geom)
        item.add("geo", (point.y, point.x))
        item.add("description", _description(event))
        item.add("categories", [event.kind])
        item.add("status", STATUS.get(event.status, "TENTATIVE"))
        item.add("transp", "TRANSPARENT" if event.status == "cancelled" else "OPAQUE")
        cal.add_component(item)
    return cal.to_ical()


# --- feeds ----------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(
    principal: Principal, institution: str | None, programme: int | None, name: str | None
) -> tuple[OutreachCalendarFeed, str]:
    """A new feed of the caller's and its token (returned once, stored hashed).

    A contact makes feeds of its own institution (or of programmes it takes part in);
    stations and street centres make programme feeds (their area's); 403 otherwise.
    """
    principal.require(*FEED_MAKERS)
    selection = select_for(principal, institution, programme)
    if selection.institution is not None:
        if principal.role in PROGRAMME_FEEDS_ONLY:
            raise Forbidden(
                "Stations and street centres make programme feeds: name a programme.",
                code="programme_feeds_only",
                details={"role": principal.role},
            )
        if (
            principal.institution_id is not None
            and selection.institution.id != principal.institution_id
        ):
            raise Forbidden(
                "You may make feeds of your own institution's events only.",
                code="not_your_institution",
                details={"institution": selection.institution.code},
            )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    feed = OutreachCalendarFeed(
        user_id=principal.user_id,
        token_hash=hash_token(token),
        name=(name or "").strip() or selection.name[:100],
        institution_id=selection.institution.id if selection.institution else None,
        programme_id=selection.programme.id if selection.programme else None,
        created_at=utcnow(),
    )
    db.session.add(feed)
    db.session.flush()
    return feed, token


def own_feeds(principal: Principal) -> Select:
    """``SELECT OutreachCalendarFeed`` the caller made, newest first (revoked ones too)."""
    principal.require(*FEED_MAKERS)
    return (
        select(OutreachCalendarFeed)
        .where(OutreachCalendarFeed.user_id == principal.user_id)
        .order_by(OutreachCalendarFeed.id.desc())
    )


def present_feeds(feeds: list[OutreachCalendarFeed]) -> list[dict[str, Any]]:
    """Feeds ready for the schema (the institution by code; never the token)."""
    ids = {f.institution_id for f in feeds if f.institution_id is not None}
    codes = (
        dict(db.session.execute(select(Institution.id, Institution.code).where(
            Institution.id.in_(ids))).all())
        if ids
        else {}
    )  # fmt: skip
    return [
        {
            "id": f.id,
            "name": f.name,
            "institution": codes.get(f.institution_id) if f.institution_id else None,
            "programme_id": f.programme_id,
            "created_at": f.created_at,
            "revoked_at": f.revoked_at,
            "last_used_at": f.last_used_at,
        }
        for f in feeds
    ]


def revoke_feed(principal: Principal, feed_id: int) -> None:
    """Revoke one of the caller's feeds (admin: anyone's); its URL then answers 410."""
    principal.require(*FEED_MAKERS)
    feed = db.session.get(OutreachCalendarFeed, feed_id)
    if feed is None or (feed.user_id != principal.user_id and principal.role != "admin"):
        raise NotFound(f"No calendar feed {feed_id}.")
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
        audit.record("calendar_feed_revoked", "outreach_calendar_feeds", feed.id)


def _gone(message: str, code: str) -> AppError:
    return AppError(message, code=code, status=410)


def read_feed(token: str) -> bytes:
    """The calendar behind a feed token, served as the feed's owner with their scope today.

    404 for a token that names no feed; 410 ``feed_revoked`` once revoked, 410
    ``feed_disabled`` when the owner is deactivated or may no longer read calendars.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise NotFound("No such calendar feed.")
    feed = db.session.execute(
        select(OutreachCalendarFeed).where(OutreachCalendarFeed.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if feed is None:
        raise NotFound("No such calendar feed.")
    if feed.revoked_at is not None:
        raise _gone("This calendar feed has been revoked.", "feed_revoked")
    user = db.session.get(User, feed.user_id)
    if (
        user is None
        or not user.is_active
        or (user.role != "admin" and user.role not in FEED_MAKERS)
    ):
        raise _gone("This calendar feed's account is disabled.", "feed_disabled")
    principal = principal_for(user)
    if feed.programme_id is not None:
        selection = Selection(programme=get_visible(OutreachProgramme, feed.programme_id,
                                                    principal))  # fmt: skip
    else:
        inst = db.session.get(Institution, feed.institution_id)
        if inst is None:
            raise NotFound("No such calendar feed.")
        selection = Selection(institution=inst)
    now = utcnow()
    if feed.last_used_at is None or now - feed.last_used_at > _LAST_USED_RESOLUTION:
        # A plain UPDATE: a calendar app polls, and each poll is not an audited change.
        db.session.execute(
            update(OutreachCalendarFeed)
            .where(OutreachCalendarFeed.id == feed.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return render(principal, selection, feed.name or None)
