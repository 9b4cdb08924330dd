"""Texts outside a campaign: to one person, for one purpose, on a named channel.

Change notices to an event's participants, their reminders, later case feedback: texts to
people that are not a campaign's recipients. They use the same outbox (``sms_messages``, kind
``direct``) and dispatcher as campaign texts, with these differences:

Once per purpose and number
    Each row carries a ``purpose`` key (``notice:12``, ``notice-reminder:12``); the unique key
    (``purpose``, ``phone_hash``) makes a second row, hence a second text, impossible, however
    often the caller queues it.
Named channel, no slot
    The caller names the channel (an institution's :class:`SmsChannel`); there is no campaign,
    sender, slot or daily window. A text waits only for the quiet hours to end
    (:class:`gridserve.services.sms.send_window.QuietWindow`), checked when due texts are listed
    and again before each gateway call, like campaign slots.
Ahead of bulk traffic
    The dispatcher sends a channel's due direct texts before it claims campaign texts for that
    channel (:func:`gridserve.services.sms.dispatch.dispatch_pass`).
Not marketing
    The opt-out register (退订) is about campaigns' marketing texts; a direct text is an
    operational message to the person concerned and is not held back by it.

Campaign progress, slot counts and expiry never see these rows (they have no campaign, sender
or slot).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, update

from gridserve.db import insert_for, utcnow
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import Institution, SmsChannel, SmsMessage
from gridserve.models.sms.outbox import DIRECT_KIND, PURPOSE_MAX
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms.outbox import CLAIMED_COLUMNS, Claimed
from gridserve.services.sms.send_window import QuietWindow, quiet_window

MSG = SmsMessage.__table__


@dataclass
class DirectLane:
    """One channel's due direct texts, as the dispatcher sends them (cf. ``OpenSlot``)."""

    channel_id: int
    institution_id: int
    sender_code: str
    window: QuietWindow


def channel_of(institution_id: int) -> SmsChannel | None:
    """The institution's sending channel, if it has one."""
    return db.session.execute(
        select(SmsChannel).where(SmsChannel.institution_id == institution_id)
    ).scalar_one_or_none()


def require_channel(institution: Institution, code: str = "no_notice_channel") -> SmsChannel:
    """The institution's channel, or 409 ``code`` (naming the institution) without one."""
    channel = channel_of(institution.id)
    if channel is None:
        raise Conflict(
            f"{institution.code} has no SMS channel to send notices from; set one up first "
            f"(PUT /api/v1/sms/channels/{institution.code}).",
            code=code,
            details={"institution": institution.code},
        )
    return channel


def signed(channel: SmsChannel, text: str) -> str:
    """What the recipient reads: 【signature】 text."""
    return f"【{channel.signature}】{text}" if channel.signature else text


def queue(
    channel: SmsChannel, purpose: str, phone: str, body: str, now: dt.datetime | None = None
) -> bool:
    """Put one text to ``phone`` (E.164) for ``purpose`` in the outbox, to go out on
    ``channel``; ``False`` when that purpose already has a text to that number (nothing added).
    """
    if not purpose or len(purpose) > PURPOSE_MAX:
        raise ValueError(f"a purpose key of 1..{PURPOSE_MAX} characters, got {purpose!r}")
    now = now or utcnow()
    stored = sms_numbers.hasher().stored(phone)
    added = db.session.execute(
        insert_for(MSG)
        .values(
            kind=DIRECT_KIND,
            purpose=purpose,
            channel_id=channel.id,
            body=body,
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            **stored,
        )
        .on_conflict_do_nothing()
        .returning(MSG.c.id)
    ).first()
    return added is not None


def count(purpose: str) -> int:
    """How many texts the outbox holds for ``purpose`` (one per number)."""
    return db.session.execute(
        select(func.count()).select_from(SmsMessage).where(SmsMessage.purpose == purpose)
    ).scalar_one()


def _due(now: dt.datetime):
    return (
        SmsMessage.kind == DIRECT_KIND,
        SmsMessage.status == "queued",
        SmsMessage.next_attempt_at <= now,
    )


def due_lanes(now: dt.datetime | None = None) -> list[DirectLane]:
    """Channels (up and running) with direct texts due now; none during the quiet hours."""
    now = now or utcnow()
    window = quiet_window()
    if not window.open_at(now):
        return []
    rows = db.session.execute(
        select(SmsChannel.id, SmsChannel.institution_id, Institution.code)
        .join(Institution, Institution.id == SmsChannel.institution_id)
        .where(
            SmsChannel.is_up.is_(True),
            SmsChannel.id.in_(select(SmsMessage.channel_id).where(*_due(now)).distinct()),
        )
        .order_by(SmsChannel.id)
    )
    return [DirectLane(cid, iid, code, window) for cid, iid, code in rows]


def has_due(channel_id: int, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        db.session.execute(
            select(SmsMessage.id).where(*_due(now), SmsMessage.channel_id == channel_id).limit(1)
        ).first()
        is not None
    )


def claim(lane: DirectLane, limit: int, now: dt.datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` due direct texts of the lane's channel, oldest first, and mark them
    ``submitting`` (the caller commits before sending), as campaign claims do."""
    now = now or utcnow()
    sms_numbers.hold()  # before any row lock: a rotation never interleaves with a claim
    stmt = (
        select(*CLAIMED_COLUMNS)
        .where(*_due(now), SmsMessage.channel_id == lane.channel_id)
        .order_by(SmsMessage.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=SmsMessage)
    rows = [Claimed(*r) for r in db.session.execute(stmt)]
    if rows:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_([r.id for r in rows]))
            .values(status="submitting", claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    return rows
