"""Telling an office about a case: an in-app notice (the outreach notices, addressed to an
area's office or to a department) and a text to its duty mobile (the area's encrypted
``duty_phone_enc``; a department's contacts' mobiles) through the non-campaign outbox.

Texts go out on the SMS channel of the institution named by ``GRIDSERVE_CASE_FEEDBACK_CHANNEL``
(the street office's channel, say); without one the notice is still made, ``texted`` 0 and
``undeliverable`` saying why. Each text's purpose key is ``case:<id>:<reason>:<version>``, so
telling the same office the same thing about the same version of a case again adds nothing:
exactly once per case, step and number (:func:`gridserve.services.sms.direct.queue`), never in
the quiet hours (checked by the dispatcher before each send).
"""

from __future__ import annotations

from sqlalchemy import select

from gridserve.config import settings
from gridserve.extensions import db
from gridserve.models import Area, Institution, OutreachNotice, SmsChannel, Task
from gridserve.services.accounts.institutions import contact_mobiles, find_by_code, mobile
from gridserve.services.cases.basics import office_area_id
from gridserve.services.sms import direct

NO_CHANNEL = "no case channel (GRIDSERVE_CASE_FEEDBACK_CHANNEL)"


def case_channel() -> SmsChannel | None:
    """The SMS channel case texts go out on, or None when none is configured."""
    code = settings().case_feedback_channel
    inst = find_by_code(code) if code else None
    return direct.channel_of(inst.id) if inst is not None else None


def purpose(task: Task, reason: str) -> str:
    """The outbox purpose key of a case text: once per case, reason and version."""
    return f"case:{task.id}:{reason}:{task.version}"


def tell(
    task: Task,
    reason: str,
    message: str,
    *,
    level: str | None = None,
    department_id: int | None = None,
    actor_id: int | None = None,
) -> OutreachNotice:
    """Tell the office holding ``task`` at ``level`` (or the department ``department_id``)
    ``message``: one notice (found again, not duplicated, for the same case version and
    reason) and a text to each duty mobile. ``reason``: ``case_escalated``,
    ``case_dispatched``, ``case_supervised`` or ``case_urgent``."""
    if (level is None) == (department_id is None):
        raise ValueError("tell an office at a level or a department, not both")
    area_id = office_area_id(task.area_id, level) if level is not None else None
    existing = db.session.scalar(
        select(OutreachNotice).where(
            OutreachNotice.task_id == task.id,
            OutreachNotice.reason == reason,
            OutreachNotice.event_version == task.version,
            OutreachNotice.area_id.is_(None) if area_id is None
            else OutreachNotice.area_id == area_id,
            OutreachNotice.institution_id.is_(None) if department_id is None
            else OutreachNotice.institution_id == department_id,
        )
    )  # fmt: skip
    if existing is not None:
        return existing
    if department_id is not None:
        phones, undeliverable = contact_mobiles(db.session.get(Institution, department_id))
    else:
        area = db.session.get(Area, area_id) if area_id is not None else None
        phone = mobile(area.duty_phone_enc) if area is not None else None
        phones = [phone] if phone else []
        undeliverable = [] if phone else [f"{area.name if area else '?'}: no duty mobile"]
    channel = case_channel()
    texted = 0
    if channel is None:
        undeliverable = [*undeliverable, NO_CHANNEL] if phones else undeliverable
    else:
        key = purpose(task, reason)
        for phone in phones:
            direct.queue(channel, key, phone, direct.signed(channel, message))
        texted = direct.count(key)
    notice = OutreachNotice(
        task_id=task.id,
        area_id=area_id,
        institution_id=department_id,
        reason=reason,
        event_version=task.version,
        changes={"level": level} if level else {"department_id": department_id},
        message=message,
        texted=texted,
        undeliverable=undeliverable,
        created_by=actor_id,
    )
    db.session.add(notice)
    db.session.flush()
    return notice
