"""Reminders about deliverables (材料报送提醒): before the due date and on each overdue day.

The ``outreach-deadline-reminders`` job (:func:`remind_due`) derives every programme's
deliverables afresh, then, on each local day of the programme area from
``outreach_reminder_hour`` on, reminds the owner of every deliverable not yet submitted whose
due day is N days ahead (N in ``outreach_reminder_days``, kind ``before``) or already past
(kind ``overdue``, every day after it):

Once
    One :class:`OutreachReminder` per (deliverable, local day): inserted with ON CONFLICT DO
    NOTHING on its unique key, so two schedulers racing, or the job running every few minutes,
    make it once. Only the run that inserted it texts, and every text has the purpose
    ``deliverable:<id>:<day>``, unique per number in the outbox: once per deliverable, day and
    phone.
Who is texted
    From the programme organiser's SMS channel: an institution owner's contacts with a mobile,
    a worker owner's phone, a user owner's worker (the worker linked to that account) or else
    the contacts of the user's institution. Names without a mobile are kept in the reminder's
    ``undeliverable``. Without an organiser channel the reminder is still made (owners read it)
    and the missing channel is audited.
Never in the quiet hours
    A run inside the quiet hours does nothing at all (it makes no reminder either); the first
    run after they end, from the reminder hour on, does that day's reminders.
None after submission
    Submitted deliverables (a filed plan or report included: derivation first) are skipped.
Reading
    Owners read their reminders (:func:`list_reminders`) and acknowledge them; the coordinator
    and admin read all in their scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select

from gridserve import audit
from gridserve.config import settings
from gridserve.db import insert_for, utcnow
from gridserve.errors import Forbidden
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    OutreachDeliverable,
    OutreachProgramme,
    OutreachReminder,
    SmsChannel,
    User,
    Worker,
)
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.accounts.institutions import contact_mobiles, mobile
from gridserve.services.geography.areas import zone_of
from gridserve.services.outreach import deliverables
from gridserve.services.sms import direct
from gridserve.services.sms.send_window import quiet_window

OVERSEERS = ("coordinator",)  # read every reminder in scope (and admin)
READERS = deliverables.OWNERS
REMINDER = OutreachReminder.__table__


def purpose(deliverable_id: int, day: dt.date) -> str:
    """The outbox purpose key of a reminder's texts."""
    return f"deliverable:{deliverable_id}:{day.isoformat()}"


# --- whom to text ----------------------------------------------------------------------------


def _worker_mobiles(worker: Worker) -> tuple[list[str], list[str]]:
    phone = mobile(worker.phone_enc)
    return ([phone], []) if phone else ([], [worker.full_name])


def owner_mobiles(row: OutreachDeliverable) -> tuple[list[str], list[str]]:
    """The owner's mobiles (E.164, each once) and the names that have none."""
    if row.owner_institution_id is not None:
        mobiles, missing = contact_mobiles(db.session.get(Institution, row.owner_institution_id))
    elif row.owner_worker_id is not None:
        mobiles, missing = _worker_mobiles(db.session.get(Worker, row.owner_worker_id))
    else:
        user = db.session.get(User, row.owner_user_id)
        worker = db.session.execute(
            select(Worker).where(Worker.user_id == user.id)
        ).scalar_one_or_none()
        if worker is not None:
            mobiles, missing = _worker_mobiles(worker)
        elif user.institution_id is not None:
            mobiles, missing = contact_mobiles(db.session.get(Institution, user.institution_id))
        else:
            mobiles, missing = [], [user.full_name or user.username]
    return list(dict.fromkeys(mobiles)), missing


# --- the message -----------------------------------------------------------------------------


def compose(programme: OutreachProgramme, row: OutreachDeliverable, day: dt.date) -> str:
    due = f"{row.due_on.month}月{row.due_on.day}日"
    what = f"{programme.name}“{row.title}”"
    if day > row.due_on:
        return f"逾期提醒：{what}应于{due}前报送，已逾期{(day - row.due_on).days}天，请尽快报送。"
    left = (row.due_on - day).days
    when = "今天" if left == 0 else f"还有{left}天"
    return f"报送提醒：{what}应于{due}前报送，距截止{when}，请按时报送。"


# --- the job ---------------------------------------------------------------------------------


def _due_kind(row: OutreachDeliverable, day: dt.date, ahead: tuple[int, ...]) -> str | None:
    if day > row.due_on:
        return "overdue"
    if (row.due_on - day).days in ahead:
        return "before"
    return None


def remind_due(now: dt.datetime | None = None) -> dict[str, Any]:
    """Derive, then remind what is due today (see the module doc). Counts of what it did."""
    now = now or utcnow()
    out: dict[str, Any] = {"reminders": 0, "texts": 0, "undeliverable": 0, "quiet": False}
    if not quiet_window().open_at(now):
        out["quiet"] = True
        return out
    out["derived"] = deliverables.derive_all()
    config = settings()
    ahead = tuple(config.outreach_reminder_days)
    programmes = db.session.scalars(
        select(OutreachProgramme)
        .where(
            OutreachProgramme.id.in_(
                select(OutreachDeliverable.programme_id).where(
                    OutreachDeliverable.submitted_at.is_(None)
                )
            )
        )
        .order_by(OutreachProgramme.id)
    )
    for programme in list(programmes):
        local = now.astimezone(zone_of(programme.area_id))
        if local.hour < config.outreach_reminder_hour:
            continue
        day = local.date()
        rows = db.session.scalars(
            select(OutreachDeliverable)
            .where(
                OutreachDeliverable.programme_id == programme.id,
                OutreachDeliverable.submitted_at.is_(None),
                OutreachDeliverable.due_on <= day + dt.timedelta(days=max(ahead, default=0)),
            )
            .order_by(OutreachDeliverable.due_on, OutreachDeliverable.id)
        )
        channel = direct.channel_of(programme.organiser_id)
        for row in list(rows):
            kind = _due_kind(row, day, ahead)
            if kind is None:
                continue
            made = _remind(programme, row, day, kind, channel, now)
            if made is not None:
                out["reminders"] += 1
                out["texts"] += made.texted
                out["undeliverable"] += len(made.undeliverable)
    db.session.flush()
    return out


def _remind(
    programme: OutreachProgramme,
    row: OutreachDeliverable,
    day: dt.date,
    kind: str,
    channel: SmsChannel | None,
    now: dt.datetime,
) -> OutreachReminder | None:
    """Make the day's reminder and text it, unless it exists already (then None)."""
    message = compose(programme, row, day)
    added = db.session.execute(
        insert_for(REMINDER)
        .values(
            deliverable_id=row.id,
            day=day,
            kind=kind,
            message=message,
            texted=0,
            undeliverable=[],
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(REMINDER.c.id)
    ).first()
    if added is None:
        return None
    reminder = db.session.get(OutreachReminder, added[0])
    mobiles, missing = owner_mobiles(row)
    key = purpose(row.id, day)
    if channel is not None:
        body = direct.signed(channel, message)
        for phone in mobiles:
            direct.queue(channel, key, phone, body, now)
        reminder.texted = direct.count(key)
    reminder.undeliverable = missing
    audit.record(
        "outreach_deliverable_reminded",
        "outreach_deliverables",
        row.id,
        {
            "reminder": reminder.id,
            "day": day,
            "kind": kind,
            "texted": reminder.texted,
            "undeliverable": missing,
            "channel": None if channel is None else channel.id,
        },
    )
    return reminder


# --- reading and acknowledging ---------------------------------------------------------------


def list_reminders(
    principal: Principal,
    *,
    acknowledged: bool | None = None,
    programme_id: int | None = None,
) -> Select:
    """The caller's reminders (the coordinator and admin: all in scope), newest first."""
    principal.require(*READERS)
    stmt = visible(OutreachReminder, principal).join(
        OutreachDeliverable, OutreachDeliverable.id == OutreachReminder.deliverable_id
    )
    if principal.role not in ("admin", *OVERSEERS):
        stmt = stmt.where(deliverables.owned_by(principal))
    if acknowledged is not None:
        column = OutreachReminder.acknowledged_at
        stmt = stmt.where(column.is_not(None) if acknowledged else column.is_(None))
    if programme_id is not None:
        programme = get_visible(OutreachProgramme, programme_id, principal)
        stmt = stmt.where(OutreachDeliverable.programme_id == programme.id)
    return stmt.order_by(OutreachReminder.day.desc(), OutreachReminder.id.desc())


def present(reminders: list[OutreachReminder]) -> list[dict[str, Any]]:
    """Reminders ready for their schema, with their deliverable as the owner sees it."""
    if not reminders:
        return []
    rows = list(
        db.session.scalars(
            select(OutreachDeliverable).where(
                OutreachDeliverable.id.in_({r.deliverable_id for r in reminders})
            )
        )
    )
    shown = {d["id"]: d for d in deliverables.present(rows)}
    return [
        {
            "id": r.id,
            "deliverable_id": r.deliverable_id,
            "deliverable": {
                k: shown[r.deliverable_id][k]
                for k in ("programme_id", "kind", "title", "owner", "due_on", "status")
            },
            "day": r.day,
            "kind": r.kind,
            "message": r.message,
            "texted": r.texted,
            "undeliverable": list(r.undeliverable or []),
            "created_at": r.created_at,
            "acknowledged": r.acknowledged_at is not None,
            "acknowledged_at": r.acknowledged_at,
            "acknowledged_by": r.acknowledged_by,
        }
        for r in reminders
    ]


def acknowledge(principal: Principal, reminder_id: int) -> OutreachReminder:
    """The owner confirms it read the reminder (again: no change). Others who see it: 403
    ``not_the_owner``; the rest: 404."""
    principal.require(*READERS)
    reminder = get_visible(OutreachReminder, reminder_id, principal)
    row = db.session.get(OutreachDeliverable, reminder.deliverable_id)
    if not deliverables.is_owner(principal, row):
        raise Forbidden(
            "Only the deliverable's owner acknowledges its reminders.",
            code="not_the_owner",
            details={"reminder": reminder.id},
        )
    if reminder.acknowledged_at is None:
        reminder.acknowledged_at = utcnow()
        reminder.acknowledged_by = principal.user_id or None
        db.session.flush()
    return reminder
