"""Telling an office about a case: an in-app notice (the outreach notices, addressed to an
area's office or to a department) and a text to its duty mobile (the area's encrypted
``duty_phone_enc``; a department's contacts' mobiles) through the non-campaign outbox.

Texts go out on the SMS channel of the institution named by ``GRIDSERVE_CASE_FEEDBACK_CHANNEL``
(the street office's channel, say); without one the notice is still made, ``texted`` 0 and
``undeliverable`` saying why. Each text's purpose key is ``case:<id>:<reason>:<version>``, so
telling the same office the same thing about the same version of a case again adds nothing:
exactly once per case, step and number (:func:`gridserve.services.sms.direct.queue`), never in
the quiet hours (checked by the dispatcher before each send).

Digests: when one batch tells an office about many cases (the deadline job escalating a
backlog), :func:`tell_many` with a :class:`Digest` texts each office's duty mobile ONE text
naming the batch's cases ("12件事件超时升级至某某社区，请处理：#101、#102…等12件", cut to
:data:`DIGEST_MAX` characters) instead of one text per case; each case still gets its own
notice (``texted`` 1: the digest reached the office). A batch of one case texts that case's
own message. The digest's purpose key is ``case:digest:<reason>:<office area id>:<batch>``:
once per office and batch, like any outbox purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_

from gridserve import audit
from gridserve.config import settings
from gridserve.db import insert_rows, utcnow
from gridserve.extensions import db
from gridserve.models import Area, Institution, OutreachNotice, SmsChannel, SmsMessage, Task
from gridserve.services.accounts.institutions import contact_mobiles, find_by_code, mobile
from gridserve.services.cases.basics import Offices, office_area_id
from gridserve.services.sms import direct
from gridserve.services.sms import numbers as sms_numbers

NO_CHANNEL = "no case channel (GRIDSERVE_CASE_FEEDBACK_CHANNEL)"
# A digest text's length (characters, before the channel's signature): about three SMS parts.
DIGEST_MAX = 180


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


@dataclass(frozen=True)
class Telling:
    """One case to tell an office about in :func:`tell_many`: the case (its id, community and
    version), the level whose office is told and what it reads. ``purpose`` overrides the
    text's outbox key (default :func:`purpose`'s ``case:<id>:<reason>:<version>``);
    ``changes`` the notice's (default ``{"level": level}``)."""

    task_id: int
    area_id: int
    version: int
    level: str
    message: str
    purpose: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Digest:
    """One text per office for a batch in :func:`tell_many` (see the module's rules): ``key``
    names the batch (unique to it: the deadline pass's change number); ``headline`` is
    formatted with ``count`` (the office's cases in the batch) and ``office`` (its area's
    name), and the cases' numbers follow it."""

    key: str
    headline: str


def digest_text(headline: str, task_ids: Sequence[int], limit: int = DIGEST_MAX) -> str:
    """``headline``, then the cases' numbers ("#12、#15") as many as fit in ``limit``
    characters, then how many there are when not all fit ("…等40件")."""
    full = f"{headline}：" + "、".join(f"#{task_id}" for task_id in task_ids)
    if len(full) <= limit:
        return full
    more = f"…等{len(task_ids)}件"
    text = f"{headline}：#{task_ids[0]}"
    for task_id in task_ids[1:]:
        part = f"、#{task_id}"
        if len(text) + len(part) + len(more) > limit:
            break
        text += part
    return text + more


def tell_many(
    items: Sequence[Telling],
    reason: str,
    *,
    actor_id: int | None = None,
    once: bool = True,
    offices: Offices | None = None,
    audited: bool = True,
    digest: Digest | None = None,
) -> dict[int, int]:
    """:func:`tell` for many cases (one item per case) at once, each told to the office of its
    ``level``: the same
    notices and texts in a few statements whatever the number of cases (offices, existing
    notices, duty mobiles, the outbox and the new notices each read or written in bulk; the
    notices audited like :func:`tell`'s). With ``once`` (the default) a case already told for
    this reason at its version by that office is skipped, as :func:`tell` finds it again;
    without, the caller has made sure (a reminder keyed its own way). Returns the new notices'
    ids by case id. ``offices``: the cases' communities already read (:class:`Offices`).
    ``audited`` False: the caller records the notices in its own audit entries (the deadline
    job names each escalation's notice in the case's entry). ``digest``: one text per office
    for the whole batch instead of one per case (:class:`Digest`)."""
    if not items:
        return {}
    offices = offices or Offices({item.area_id for item in items})
    todo = [(item, offices.office(item.area_id, item.level)) for item in items]
    todo = [(item, office) for item, office in todo if office is not None]
    if once and todo:
        told = set()
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            told.update(
                db.session.execute(
                    select(
                        OutreachNotice.task_id, OutreachNotice.event_version, OutreachNotice.area_id
                    ).where(
                        OutreachNotice.reason == reason,
                        tuple_(OutreachNotice.task_id, OutreachNotice.event_version).in_(
                            [(item.task_id, item.version) for item, _ in chunk]
                        ),
                    )
                ).all()
            )
        todo = [(i, office) for i, office in todo if (i.task_id, i.version, office) not in told]
    if not todo:
        return {}
    channel = case_channel()
    reach = duties({office for _, office in todo}, offices, channel)
    # What each office's duty mobile is texted: (office, purpose, message).
    if digest is None:
        outgoing = [
            (office, item.purpose or f"case:{item.task_id}:{reason}:{item.version}", item.message)
            for item, office in todo
        ]
    else:
        by_office: dict[int, tuple[list[int], str]] = {}
        for item, office in todo:
            by_office.setdefault(office, ([], item.message))[0].append(item.task_id)
        outgoing = digests(by_office, reason, digest, offices)
    queue_texts(outgoing, reach, channel)
    now = utcnow()
    rows = [
        {"task_id": item.task_id, "area_id": office, "institution_id": None, "reason": reason,
         "event_version": item.version, "changes": item.changes or {"level": item.level},
         "message": item.message, "texted": reach[office].texted,
         "undeliverable": reach[office].undeliverable, "created_at": now, "created_by": actor_id}
        for item, office in todo
    ]  # fmt: skip
    made = dict(insert_rows(OutreachNotice.__table__, rows, returning=("task_id", "id")))
    if audited:
        audit.record_many("create", "outreach_notices", [(made[r["task_id"]], r) for r in rows])
    return made


@dataclass(frozen=True)
class Duty:
    """An office's duty mobile as a batch of notices reaches it: ``phone`` (None without one
    or without a case channel to text it on) and what its notices say was ``undeliverable``."""

    phone: str | None
    undeliverable: list[str]

    @property
    def texted(self) -> int:
        """What each of its notices says was texted: an office has one duty mobile, and after
        the batch's texts are queued their purposes hold exactly one text to it (made now, or
        already there), what :func:`direct.count` would say."""
        return 1 if self.phone else 0


def duties(office_ids: set[int], offices: Offices, channel: SmsChannel | None) -> dict[int, Duty]:
    """How the offices ``office_ids`` (areas among ``offices``) are reached by text."""
    reach = {}
    for office in office_ids:
        area = offices.areas.get(office)
        phone = mobile(area.duty_phone_enc) if area is not None else None
        if not phone:
            reach[office] = Duty(None, [f"{area.name if area else '?'}: no duty mobile"])
        else:
            reach[office] = Duty(phone, []) if channel is not None else Duty(None, [NO_CHANNEL])
    return reach


def digests(
    told: dict[int, tuple[list[int], str]], reason: str, digest: Digest, offices: Offices
) -> list[tuple[int, str, str]]:
    """The digest texts of a batch (see the module's rules): ``told`` gives by office the
    cases told and the message of one of them (what a single case's text says); one
    ``(office, purpose, message)`` per office."""
    out = []
    for office, (task_ids, message) in told.items():
        if len(task_ids) > 1:
            message = digest_text(
                digest.headline.format(count=len(task_ids), office=offices.areas[office].name),
                sorted(task_ids),
            )
        out.append((office, f"case:digest:{reason}:{office}:{digest.key}", message))
    return out


def queue_texts(
    outgoing: Sequence[tuple[int, str, str]], reach: dict[int, Duty], channel: SmsChannel | None
) -> None:
    """Queue ``(office, purpose, message)`` texts to the offices' duty mobiles in one
    statement (a purpose that has its text already adds nothing)."""
    if channel is None:
        return
    now = utcnow()
    hasher = sms_numbers.hasher()
    texts, stored = [], {}
    for office, key, message in outgoing:
        phone = reach[office].phone
        if not phone:
            continue
        if phone not in stored:
            stored[phone] = hasher.stored(phone)
        texts.append(
            {"kind": direct.DIRECT_KIND, "purpose": key, "channel_id": channel.id,
             "body": direct.signed(channel, message), "status": "queued", "attempts": 0,
             "next_attempt_at": now, "created_at": now, **stored[phone]}
        )  # fmt: skip
    insert_rows(SmsMessage.__table__, texts, skip_conflicts=True)
