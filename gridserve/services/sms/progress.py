"""What a campaign's sending looks like: progress per sender and slot, what one number got,
and the daily summary written to the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    SmsCampaign,
    SmsMessage,
    SmsOptOut,
    SmsSender,
    SmsSlotRun,
)
from gridserve.models.sms.outbox import COUNTED_STATUSES
from gridserve.privacy import mask_phone
from gridserve.scope import Principal
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms.recipients import describe_opt_out, recipient_count
from gridserve.sms import phones, rotation

# --- progress ------------------------------------------------------------------------------


def progress(principal: Principal, campaign_id: int, now: dt.datetime | None = None) -> dict:
    """Per sender: counts by state, and its current and next slot.

    An institution's contact sees its own sender only, and totals over it alone.
    """
    now = now or utcnow()
    campaign = sms_service.get_campaign(principal, campaign_id)
    shown = [
        s
        for s in campaign.senders
        if principal.institution_id is None or s.institution_id == principal.institution_id
    ]
    counts: dict[int, dict[str, int]] = {}
    for sender_id, status, n in db.session.execute(
        select(SmsMessage.sender_id, SmsMessage.status, func.count())
        .where(
            SmsMessage.campaign_id == campaign.id,
            SmsMessage.sender_id.in_([s.id for s in shown]),
        )
        .group_by(SmsMessage.sender_id, SmsMessage.status)
    ):
        counts.setdefault(sender_id, {})[status] = n
    alerts: list[dict[str, Any]] = []
    try:
        computed = sms_service.compute_schedule(campaign)
        slots = computed.slots
    except rotation.ScheduleError as exc:
        slots = []
        alerts.append({"code": exc.code, "message": exc.message, **exc.details})
    else:
        if computed.unknown_year is not None:
            year = computed.unknown_year
            alerts.append(
                {
                    "code": "calendar_unknown_year",
                    "year": year,
                    "message": f"No working-day calendar for {year}: slots from {year} on are "
                    f"not scheduled and nothing is sent in them until an admin loads it with "
                    f"PUT /api/v1/calendars/CN/{year}. Slots before {year} go out as planned.",
                }
            )
    insts = {
        i.id: i
        for i in db.session.execute(
            select(Institution).where(Institution.id.in_([s.institution_id for s in shown]))
        ).scalars()
    }
    runs = {
        (r.sender_id, r.slot_start): r
        for r in db.session.execute(
            select(SmsSlotRun).where(SmsSlotRun.campaign_id == campaign.id)
        ).scalars()
    }
    senders = []
    for sender in shown:
        inst = insts[sender.institution_id]
        mine = [s for s in slots if s.sender == inst.code]
        current = next((s for s in mine if s.start <= now < s.end), None)
        upcoming = next((s for s in mine if s.start > now), None)
        c = counts.get(sender.id, {})
        row = {
            "sender": inst.code,
            "sender_name": inst.short_name,
            "position": sender.position,
            "recipients": recipient_count(sender.id),
            "counts": {k: c.get(k, 0) for k in COUNTED_STATUSES}
            | {"waiting": c.get("waiting", 0), "submitting": c.get("submitting", 0)},
            "current_slot": _slot(current, runs.get((sender.id, _utc(current)))),
            "next_slot": _slot(upcoming, None),
        }
        senders.append(row)
    total = (
        {k: sum(s["counts"][k] for s in senders) for k in senders[0]["counts"]} if senders else {}
    )
    return {
        "campaign": {"id": campaign.id, "code": campaign.code, "name": campaign.name},
        "at": now,
        "mandated_text_approved": sms_service.mandated_text(campaign.id) is not None,
        "alerts": alerts,
        "totals": total,
        "senders": senders,
    }


def _utc(slot: rotation.Slot | None) -> dt.datetime | None:
    return slot.start.astimezone(dt.UTC) if slot else None


def _slot(slot: rotation.Slot | None, run: SmsSlotRun | None) -> dict[str, Any] | None:
    if slot is None:
        return None
    out: dict[str, Any] = {
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "round": slot.round,
        "status": slot.status,
    }
    if run is not None:
        out.update(
            opened_at=run.opened_at.isoformat(),
            first_accepted_at=run.first_accepted_at.isoformat() if run.first_accepted_at else None,
            mandated_done_at=run.mandated_done_at.isoformat() if run.mandated_done_at else None,
        )
    return out


def messages_for(principal: Principal, campaign_id: int, phone: str) -> dict[str, Any]:
    """What one number got in a campaign, in the order it was sent, with times."""
    campaign = sms_service.get_campaign(principal, campaign_id)
    try:
        e164 = phones.to_e164(phone)
    except ValueError as exc:
        raise ValidationFailed(str(exc), details={"fields": {"phone": [str(exc)]}}) from exc
    phone_hash = sms_numbers.hasher()(e164)
    stmt = (
        select(SmsMessage, Institution.code)
        .join(SmsSender, SmsSender.id == SmsMessage.sender_id)
        .join(Institution, Institution.id == SmsSender.institution_id)
        .where(SmsMessage.campaign_id == campaign.id, SmsMessage.phone_hash == phone_hash)
        .order_by(
            func.coalesce(SmsMessage.accepted_at, SmsMessage.finished_at, SmsMessage.slot_end),
            SmsMessage.id,
        )
    )
    if principal.institution_id is not None:
        stmt = stmt.where(SmsSender.institution_id == principal.institution_id)
    out = []
    for row, code in db.session.execute(stmt):
        out.append(
            {
                "id": row.id,
                "sender": code,
                "kind": row.kind,
                "text_id": row.text_id,
                "body": row.body,
                "status": row.status,
                "attempts": row.attempts,
                "error": row.error,
                "segments": row.segments,
                "queued_at": row.created_at,
                "accepted_at": row.accepted_at,
                "finished_at": row.finished_at,
                "slot_start": row.slot_start,
                "slot_end": row.slot_end,
            }
        )
    opted = [
        describe_opt_out(o)
        for o in db.session.execute(
            select(SmsOptOut).where(SmsOptOut.phone_hash == phone_hash)
        ).scalars()
    ]
    return {"phone": mask_phone(e164), "messages": out, "opt_outs": opted}


def daily_summary(day: dt.date | None = None) -> dict[str, Any]:
    """Per campaign, what happened in the last 24 hours (written to the audit log)."""
    now = utcnow()
    since = now - dt.timedelta(days=1)
    summary: dict[str, Any] = {}
    for campaign in db.session.execute(select(SmsCampaign)).scalars():
        rows = db.session.execute(
            select(SmsMessage.status, func.count())
            .where(
                SmsMessage.campaign_id == campaign.id,
                or_(SmsMessage.accepted_at >= since, SmsMessage.finished_at >= since),
            )
            .group_by(SmsMessage.status)
        ).all()
        if rows:
            summary[campaign.code] = dict(rows)
            audit.record("sms_daily_summary", "sms_campaigns", campaign.id, dict(rows))
    return summary
