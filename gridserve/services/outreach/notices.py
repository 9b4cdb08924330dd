"""Change notices to an event's participants (如遇特殊情况变更则及时另行通知).

:func:`announce` is the one entry point the event life cycle calls when an approved event's
time or venue changes, or when it is cancelled. It writes one :class:`OutreachNotice` per
participant (host, lead, co-organisers; each institution once) and texts it to each of that
institution's contacts with a mobile number, from the programme organiser's SMS channel
(:mod:`gridserve.services.sms.direct`). Without that channel nothing is stored: 409
``no_notice_channel``, and the change that triggered it fails with it.

Once
    A notice is keyed by (event, institution, event version, reason): announcing the same change
    again returns the notices already made, and every text has the purpose key
    ``notice:<notice id>``, so each number gets it once however often it is announced.
Acknowledgement, reminder, overdue
    A participant's contact acknowledges its notice (:func:`acknowledge`; again: no change).
    Not acknowledged within ``GRIDSERVE_NOTICE_ACK_HOURS`` it is texted once more (purpose
    ``notice-reminder:<id>``) by the ``outreach-notice-reminders`` job (:func:`remind_due`);
    still not acknowledged as many hours after the reminder it is marked overdue, which the
    coordinator sees (``overdue=true``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Forbidden
from gridserve.extensions import db
from gridserve.models import (
    NOTICE_REASONS,
    Area,
    Institution,
    OutreachEvent,
    OutreachNotice,
    Place,
    SmsChannel,
)
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.accounts.institutions import contact_mobiles
from gridserve.services.outreach.basics import institution_by_code, institution_codes
from gridserve.services.sms import direct

# Contacts read their institution's notices (a department: its cases'); the coordinator and the
# area offices those over their area (an office: the case notices addressed to it and below).
READERS = ("coordinator", "institution_contact", "station", "street_centre", "district_centre")
# The notified institution's own contacts; an area office its cases' notices.
ACKNOWLEDGERS = ("institution_contact", "station", "street_centre", "district_centre")
LABELS = {"starts_at": "开始时间", "ends_at": "结束时间", "venue": "地点"}
CLOSING = "请及时在系统中确认收到，并告知本单位参加人员。"


def purpose(notice_id: int) -> str:
    """The outbox purpose key of a notice's texts."""
    return f"notice:{notice_id}"


def reminder_purpose(notice_id: int) -> str:
    return f"notice-reminder:{notice_id}"


# --- the message ---------------------------------------------------------------------------


def _zone(event: OutreachEvent) -> ZoneInfo:
    """The zone of the event's programme area (the nearest area above that names one), else
    the deployment's."""
    area = db.session.get(Area, event.programme.area_id)
    while area is not None:
        if area.timezone:
            return ZoneInfo(area.timezone)
        area = area.parent
    return ZoneInfo(settings().timezone)


def _instant(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _when(value: Any, zone: ZoneInfo) -> str:
    moment = _instant(value)
    if moment is None:
        return "未定" if value in (None, "") else str(value)
    local = moment.astimezone(zone)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _venue(value: Any) -> str:
    if value is None or value == "":
        return "未定"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("address"):
            return str(value["address"])
        if value.get("name"):
            return str(value["name"])
        if value.get("place_id"):
            place = db.session.get(Place, value["place_id"])
            if place is not None:
                return place.name or f"场所 {place.id}"
        where = value.get("location") or {}
        if "lon" in where and "lat" in where:
            return f"经度 {where['lon']}，纬度 {where['lat']}"
    return str(value)


def _shown(field: str, value: Any, zone: ZoneInfo) -> str:
    return _venue(value) if field == "venue" else _when(value, zone)


def compose(event: OutreachEvent, reason: str, changes: dict[str, Any]) -> str:
    """The notice's text (Chinese, local times of the programme's area)."""
    zone = _zone(event)
    name = f"{event.programme.name}“{event.title}”"
    if reason == "cancelled":
        why = changes.get("reason") or changes.get("cancel_reason") or event.cancel_reason
        why = why.get("to") if isinstance(why, dict) else why
        span = f"{_when(event.starts_at, zone)}至{_when(event.ends_at, zone)[-5:]}"
        venue = event.address or _venue({"place_id": event.place_id})
        text = f"活动取消通知：{name}（原定{span}，{venue}）已取消。"
        return text + (f"取消原因：{why}。" if why else "") + CLOSING
    parts = [
        f"{LABELS.get(field, field)}由{_shown(field, change.get('from'), zone)}"
        f"改为{_shown(field, change.get('to'), zone)}"
        for field, change in changes.items()
        if isinstance(change, dict)
    ]
    detail = "；".join(parts) if parts else "时间或地点有调整"
    return f"活动变更通知：{name}{detail}。" + CLOSING


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- announcing ----------------------------------------------------------------------------


def participants(event: OutreachEvent) -> list[Institution]:
    """Host, lead, then the co-organisers: each institution once, in that order."""
    seen: dict[int, Institution] = {}
    for inst in (event.host, event.lead, *event.co_organisers):
        if inst is not None and inst.id not in seen:
            seen[inst.id] = inst
    return list(seen.values())


def _text(inst: Institution, channel: SmsChannel, key: str, body: str) -> tuple[int, list[str]]:
    """Queue ``body`` to each of ``inst``'s mobiles under ``key``: (texts held, undeliverable)."""
    mobiles, undeliverable = contact_mobiles(inst)
    for phone in mobiles:
        direct.queue(channel, key, phone, body)
    return direct.count(key), undeliverable


def announce(
    principal: Principal, event: OutreachEvent, reason: str, changes: dict[str, Any]
) -> list[OutreachNotice]:
    """Tell the host, the lead and every co-organiser of ``event`` (one notice each, texted to
    their contacts with a mobile). ``reason``: ``changed`` or ``cancelled``; ``changes``:
    ``{field: {"from": old, "to": new}}`` in API terms (starts_at, ends_at, venue; times as
    aware datetimes or ISO strings, a venue as text or ``{address | place_id | location}``);
    for a cancellation the reason is ``changes["reason"]`` or else ``event.cancel_reason``.

    409 ``no_notice_channel`` (nothing stored) when the programme's organiser has no SMS
    channel. Announcing the same change (same event version and reason) again returns the
    notices already made and texts nobody twice.
    """
    if reason not in NOTICE_REASONS:
        raise ValueError(f"reason must be one of {NOTICE_REASONS}, got {reason!r}")
    organiser = event.programme.organiser
    channel = direct.require_channel(organiser)
    message = compose(event, reason, changes)
    stored_changes = _jsonable(changes)
    notices: list[OutreachNotice] = []
    for inst in participants(event):
        notice = db.session.execute(
            select(OutreachNotice).where(
                OutreachNotice.event_id == event.id,
                OutreachNotice.institution_id == inst.id,
                OutreachNotice.event_version == event.version,
                OutreachNotice.reason == reason,
            )
        ).scalar_one_or_none()
        if notice is None:
            notice = OutreachNotice(
                event_id=event.id,
                institution_id=inst.id,
                reason=reason,
                event_version=event.version,
                changes=stored_changes,
                message=message,
                created_at=utcnow(),
                created_by=principal.user_id or None,
            )
            db.session.add(notice)
            db.session.flush()
        notice.texted, notice.undeliverable = _text(
            inst, channel, purpose(notice.id), direct.signed(channel, notice.message)
        )
        notices.append(notice)
    db.session.flush()
    audit.record(
        "outreach_notices_sent",
        "outreach_events",
        event.id,
        {
            "reason": reason,
            "event_version": event.version,
            "notices": [n.id for n in notices],
            "texted": sum(n.texted for n in notices),
            "channel": organiser.code,
        },
    )
    return notices


# --- reading and acknowledging -------------------------------------------------------------


def list_notices(
    principal: Principal,
    *,
    institution: str | None = None,
    acknowledged: bool | None = None,
    overdue: bool | None = None,
    event_id: int | None = None,
) -> Select:
    """Notices in the caller's scope (a contact: its institution's), newest first."""
    principal.require(*READERS)
    stmt = visible(OutreachNotice, principal)
    if institution is not None:
        inst = institution_by_code(institution, "institution")
        stmt = stmt.where(OutreachNotice.institution_id == inst.id)
    if acknowledged is not None:
        column = OutreachNotice.acknowledged_at
        stmt = stmt.where(column.is_not(None) if acknowledged else column.is_(None))
    if overdue is not None:
        column = OutreachNotice.overdue_at
        stmt = stmt.where(column.is_not(None) if overdue else column.is_(None))
    if event_id is not None:
        stmt = stmt.where(OutreachNotice.event_id == event_id)
    return stmt.order_by(OutreachNotice.created_at.desc(), OutreachNotice.id.desc())


def present(notices: list[OutreachNotice]) -> list[dict[str, Any]]:
    """Notices ready for their schema (the event's title, the institution's code; a case's
    notice: the case and the office's area, no event)."""
    events = {
        e.id: e
        for e in db.session.execute(
            select(OutreachEvent).where(OutreachEvent.id.in_({n.event_id for n in notices}))
        ).scalars()
    }
    codes = institution_codes(n.institution_id for n in notices)
    return [
        {
            "id": n.id,
            "event_id": n.event_id,
            "event_title": events[n.event_id].title if n.event_id else None,
            "event_status": events[n.event_id].status if n.event_id else None,
            "institution": codes.get(n.institution_id),
            "task_id": n.task_id,
            "area_id": n.area_id,
            "reason": n.reason,
            "event_version": n.event_version,
            "changes": n.changes,
            "message": n.message,
            "texted": n.texted,
            "undeliverable": list(n.undeliverable or []),
            "created_at": n.created_at,
            "acknowledged": n.acknowledged_at is not None,
            "acknowledged_at": n.acknowledged_at,
            "acknowledged_by": n.acknowledged_by,
            "reminded_at": n.reminded_at,
            "overdue": n.overdue_at is not None,
            "overdue_at": n.overdue_at,
        }
        for n in notices
    ]


def acknowledge(principal: Principal, notice_id: int) -> OutreachNotice:
    """The notified institution's contact (or, for a case's notice, a user of the office's own
    area) confirms it read the notice. Again: no change (the first acknowledgement stands).
    Another institution's notice: 404; an area user and a notice not addressed to its own
    area's office: 403."""
    principal.require(*ACKNOWLEDGERS)
    notice = get_visible(OutreachNotice, notice_id, principal)
    if (
        principal.institution_id is None
        and principal.role != "admin"
        and (notice.area_id is None or notice.area_id != principal.area_id)
    ):
        raise Forbidden(
            "Only the office the notice is addressed to acknowledges it.",
            code="forbidden_role",
            details={"role": principal.role},
        )
    if notice.acknowledged_at is None:
        notice.acknowledged_at = utcnow()
        notice.acknowledged_by = principal.user_id or None
        db.session.flush()
    return notice


# --- reminders (the outreach-notice-reminders job) ----------------------------------------


def remind_due(now: dt.datetime | None = None) -> dict[str, int]:
    """Remind once what is unacknowledged after ``notice_ack_hours``; mark overdue what is
    still unacknowledged as long after its reminder."""
    now = now or utcnow()
    period = dt.timedelta(hours=settings().notice_ack_hours)
    overdue = list(
        db.session.execute(
            select(OutreachNotice).where(
                OutreachNotice.event_id.is_not(None),
                OutreachNotice.acknowledged_at.is_(None),
                OutreachNotice.overdue_at.is_(None),
                OutreachNotice.reminded_at.is_not(None),
                OutreachNotice.reminded_at <= now - period,
            )
        ).scalars()
    )
    for notice in overdue:
        notice.overdue_at = now
    due = list(
        db.session.execute(
            select(OutreachNotice).where(
                OutreachNotice.event_id.is_not(None),  # a case's notices follow the case ladder
                OutreachNotice.acknowledged_at.is_(None),
                OutreachNotice.reminded_at.is_(None),
                OutreachNotice.created_at <= now - period,
            )
        ).scalars()
    )
    texted = 0
    for notice in due:
        event = notice.event
        channel = direct.channel_of(event.programme.organiser_id)
        notice.reminded_at = now
        if channel is None:  # removed since: the reminder is recorded, and shows as not texted
            audit.record(
                "outreach_notice_not_reminded", "outreach_notices", notice.id, {"channel": None}
            )
            continue
        body = direct.signed(channel, "提醒：" + notice.message)
        count, _ = _text(notice.institution, channel, reminder_purpose(notice.id), body)
        texted += count
    db.session.flush()
    return {"reminded": len(due), "reminder_texts": texted, "overdue": len(overdue)}
