"""The outbox and its order rule: each message once, in order, only inside its sender's slot.

Life of a message (one ``sms_messages`` row per campaign, sender, recipient and text; the
unique key makes a second row, hence a second send, impossible)::

    waiting ─┐ (custom: held until the sender's mandated phase is complete)
             v
    queued ──> submitting ──> accepted ──> delivered
       ^  │        │              └──────> failed      (receipt says so)
       │  │        ├─> queued      (transient gateway error: retry with backoff, up to a limit)
       │  │        └─> failed      (permanent error, or retries exhausted)
       │  ├──> opted_out           (number in the opt-out register when its turn came)
       │  └──> expired             (the slot ended first: reported, never dropped)
       └──────── expired           (re-queued only by an explicit decision: ``requeue_expired``)

Order rule
    The mandated rows of a slot are queued when it opens, the custom rows wait. Custom rows are
    released only once no mandated row of that slot is still queued or submitting, and then only
    for recipients whose mandated text was accepted; the others fail (``mandated_not_accepted``)
    or are opted out. Several custom texts go out one after the other per recipient.

Claiming
    A pass claims a batch with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
    transactions take the write lock at BEGIN, so there is one writer at a time), checks the
    opt-out register for those numbers at that moment, and marks the rest ``submitting`` in the
    same committed transaction *before* calling the gateway. Outcomes are written right after
    the batch. The dispatcher commits the claim before the network call: it is the one job that
    commits several times in a run (:mod:`gridserve.services.sms.dispatch`).

Crashes
    A row left ``submitting`` longer than the claim lease belongs to a dispatcher that died. For
    an idempotent gateway (file, http: the key ``gs-<id>`` is deduplicated by the gateway) it is
    re-queued and re-submitted under the same key, so the recipient still gets it once. For a
    gateway that cannot deduplicate (smpp) re-sending could send twice, so it is failed with
    ``outcome_unknown`` for an operator to decide: never sent twice, never silently lost.

Slots
    :func:`open_slots` records a sender's slot run when it starts and queues its mandated rows
    (:func:`materialize`); :func:`close_ended_slots` expires what an ended slot could not send.
    The sending loop that drives all this is :mod:`gridserve.services.sms.dispatch`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, or_, select, text, update
from sqlalchemy.orm import aliased

from gridserve import audit
from gridserve.config import settings
from gridserve.db import UTCDateTime, insert_for, utcnow
from gridserve.errors import Conflict, NotFound
from gridserve.extensions import db
from gridserve.models import (
    Institution,
    SmsCampaign,
    SmsChannel,
    SmsMessage,
    SmsOptOut,
    SmsRecipient,
    SmsSender,
    SmsSlotRun,
    SmsText,
)
from gridserve.models.sms.outbox import (
    ANONYMISED_HASH_PREFIX,
    CLAIMABLE_STATUSES,
    MESSAGE_STATUSES,
    OPEN_STATUSES,
    UNSENT_STATUSES,
)
from gridserve.scope import Principal
from gridserve.services.accounts import calendars
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms.send_window import SendWindow, _tz, send_window
from gridserve.sms import gateways, rotation

log = logging.getLogger("gridserve.sms")


MSG = SmsMessage.__table__
IDEMPOTENT_KINDS = frozenset(
    kind
    for kind, cls in (
        ("file", gateways.FileGateway),
        ("http", gateways.HttpGateway),
        ("smpp", gateways.SmppGateway),
    )
    if cls.idempotent
)


# --- slots ---------------------------------------------------------------------------------


@dataclass
class OpenSlot:
    """A sender's slot that is open now, with what the dispatcher needs to send in it."""

    run_id: int
    campaign_id: int
    sender_id: int
    institution_id: int
    sender_code: str
    channel_id: int | None
    sending: bool  # inside the daily window right now
    slot_end: dt.datetime
    window: SendWindow | None = None  # checked again before each send (None: never closes)


def _final_body(campaign: SmsCampaign, text: SmsText, channel: SmsChannel | None) -> str:
    """What the recipient reads: 【signature】 text (custom: plus the unsubscribe suffix)."""
    if text.sender_id is None:
        return f"【{campaign.leading_group}】{text.body}" if campaign.leading_group else text.body
    body = f"【{channel.signature}】{text.body}" if channel and channel.signature else text.body
    if campaign.unsubscribe_suffix and not body.endswith(campaign.unsubscribe_suffix):
        body += campaign.unsubscribe_suffix
    return body


def _custom_texts(sender_id: int) -> list[SmsText]:
    return list(
        db.session.execute(
            select(SmsText)
            .where(SmsText.sender_id == sender_id, SmsText.status == "approved")
            .order_by(SmsText.id)
        ).scalars()
    )


def materialize(run: SmsSlotRun, now: dt.datetime | None = None) -> int:
    """Put one row per (recipient, text) of the run's sender in the outbox; existing rows stay.

    Safe to repeat (recipients added while the slot is open are picked up); returns the rows
    added.
    """
    now = now or utcnow()
    campaign = db.session.get(SmsCampaign, run.campaign_id)
    sender = db.session.get(SmsSender, run.sender_id)
    mandated = sms_service.mandated_text(campaign.id)
    if mandated is None:
        return 0
    channel = db.session.execute(
        select(SmsChannel).where(SmsChannel.institution_id == sender.institution_id)
    ).scalar_one_or_none()
    added = 0
    sms_numbers.hold()  # rows copy the recipients' hashes: no rotation in between
    texts = [(mandated, "queued")] + [(t, "waiting") for t in _custom_texts(sender.id)]
    ts = UTCDateTime()
    for text_row, status in texts:
        rows = select(
            literal(campaign.id),
            literal(sender.id),
            literal(text_row.id),
            literal(text_row.kind),
            SmsRecipient.phone_enc,
            SmsRecipient.phone_hash,
            literal(_final_body(campaign, text_row, channel)),
            literal(status),
            literal(0),
            literal(max(now, run.slot_start), ts),
            literal(run.slot_start, ts),
            literal(run.slot_end, ts),
            literal(now, ts),
        ).where(SmsRecipient.sender_id == sender.id)
        stmt = (
            insert_for(MSG)
            .from_select(
                [
                    "campaign_id",
                    "sender_id",
                    "text_id",
                    "kind",
                    "phone_enc",
                    "phone_hash",
                    "body",
                    "status",
                    "attempts",
                    "next_attempt_at",
                    "slot_start",
                    "slot_end",
                    "created_at",
                ],
                rows,
            )
            .on_conflict_do_nothing()
        )
        added += db.session.execute(stmt).rowcount or 0
    if added and db.engine.dialect.name == "postgresql":
        # A slot's rows arrive in bulk: fresh statistics keep the release and claim queries
        # on their indexes instead of nested scans.
        db.session.execute(text("ANALYZE sms_messages"))
    return added


def open_slots(now: dt.datetime | None = None) -> list[OpenSlot]:
    """Open every slot that has started and not ended (recording its run once), return them.

    A campaign without an approved mandated text opens nothing: its order rule cannot be kept.
    """
    now = now or utcnow()
    today = now.astimezone(_tz()).date()
    campaigns = db.session.execute(
        select(SmsCampaign).where(
            SmsCampaign.start_date <= today, SmsCampaign.end_date >= today - dt.timedelta(days=1)
        )
    ).scalars()
    out: list[OpenSlot] = []
    for campaign in campaigns:
        if sms_service.mandated_text(campaign.id) is None:
            continue
        days = calendars.campaign_working_days(campaign.id)
        try:
            # Stops before a year no calendar knows: the slots before it still go out.
            plan = sms_service.compute_schedule(campaign, working_days=days)
        except rotation.ScheduleError as exc:
            log.warning("campaign %s: no schedule: %s", campaign.code, exc.message)
            continue
        senders = {s.id: s for s in campaign.senders}
        insts = {
            i.code: i
            for i in db.session.execute(
                select(Institution).where(
                    Institution.id.in_([s.institution_id for s in senders.values()])
                )
            ).scalars()
        }
        by_inst = {s.institution_id: s for s in senders.values()}
        for slot in plan.slots:
            if not (slot.start <= now < slot.end):
                continue
            inst = insts[slot.sender]
            sender = by_inst[inst.id]
            start = slot.start.astimezone(dt.UTC)
            run = db.session.execute(
                select(SmsSlotRun).where(
                    SmsSlotRun.sender_id == sender.id, SmsSlotRun.slot_start == start
                )
            ).scalar_one_or_none()
            if run is None:
                inserted = db.session.execute(
                    insert_for(SmsSlotRun.__table__)
                    .values(
                        campaign_id=campaign.id,
                        sender_id=sender.id,
                        round=slot.round,
                        slot_start=start,
                        slot_end=slot.end.astimezone(dt.UTC),
                        opened_at=now,
                    )
                    .on_conflict_do_nothing()
                ).rowcount
                run = db.session.execute(
                    select(SmsSlotRun).where(
                        SmsSlotRun.sender_id == sender.id, SmsSlotRun.slot_start == start
                    )
                ).scalar_one()
                if inserted:
                    if campaign.working_days_only:  # the days it ran on stay as they were
                        calendars.freeze_days(campaign.id, campaign.start_date, slot.days[-1], days)
                    queued = materialize(run, now)
                    audit.record(
                        "sms_slot_opened",
                        "sms_slot_runs",
                        run.id,
                        {
                            "campaign": campaign.code,
                            "sender": inst.code,
                            "round": slot.round,
                            "start": slot.start.isoformat(),
                            "end": slot.end.isoformat(),
                            "messages": queued,
                            "late_seconds": round((now - start).total_seconds(), 3),
                        },
                    )
            if run.closed_at is not None:
                continue
            channel_id = db.session.execute(
                select(SmsChannel.id).where(
                    SmsChannel.institution_id == inst.id, SmsChannel.is_up.is_(True)
                )
            ).scalar_one_or_none()
            window = send_window(campaign, slot.days, run.slot_end)
            out.append(
                OpenSlot(
                    run_id=run.id,
                    campaign_id=campaign.id,
                    sender_id=sender.id,
                    institution_id=inst.id,
                    sender_code=inst.code,
                    channel_id=channel_id,
                    sending=window.open_at(now),
                    slot_end=run.slot_end,
                    window=window,
                )
            )
    return out


def close_ended_slots(now: dt.datetime | None = None) -> int:
    """Expire what an ended slot could not send (reported, kept) and close its run."""
    now = now or utcnow()
    expired = db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.status.in_(UNSENT_STATUSES), SmsMessage.slot_end <= now)
        .values(status="expired", error="slot ended before it could be sent", finished_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    runs = list(
        db.session.execute(
            select(SmsSlotRun).where(SmsSlotRun.closed_at.is_(None), SmsSlotRun.slot_end <= now)
        ).scalars()
    )
    for run in runs:
        pending = db.session.execute(
            select(func.count())
            .select_from(SmsMessage)
            .where(
                SmsMessage.sender_id == run.sender_id,
                SmsMessage.slot_start == run.slot_start,
                SmsMessage.status == "submitting",
            )
        ).scalar_one()
        if pending:
            continue  # the stale-claim sweep settles them first
        run.closed_at = now
        audit.record(
            "sms_slot_closed",
            "sms_slot_runs",
            run.id,
            {"counts": _counts(run.sender_id, run.slot_start)},
        )
    return expired


def _counts(sender_id: int, slot_start: dt.datetime | None = None) -> dict[str, int]:
    stmt = (
        select(SmsMessage.status, func.count())
        .where(SmsMessage.sender_id == sender_id)
        .group_by(SmsMessage.status)
    )
    if slot_start is not None:
        stmt = stmt.where(SmsMessage.slot_start == slot_start)
    return {status: n for status, n in db.session.execute(stmt)}


def release_custom(slot: OpenSlot, now: dt.datetime | None = None) -> int:
    """Start the custom phase once the mandated phase of the slot is complete (the order rule)."""
    now = now or utcnow()
    run = db.session.get(SmsSlotRun, slot.run_id)
    base = and_(
        SmsMessage.campaign_id == slot.campaign_id,
        SmsMessage.sender_id == slot.sender_id,
        SmsMessage.slot_start == run.slot_start,
    )
    pending = db.session.execute(
        select(
            exists().where(
                base,
                SmsMessage.kind == "mandated",
                SmsMessage.status.in_(CLAIMABLE_STATUSES),
            )
        )
    ).scalar()
    if pending:
        return 0
    if run.mandated_done_at is None:
        run.mandated_done_at = now
    waiting = db.session.execute(
        select(exists().where(base, SmsMessage.status == "waiting"))
    ).scalar()
    if not waiting:
        return 0
    sms_numbers.hold()  # recipients are matched by hash: no rotation in between

    mandated = aliased(SmsMessage)

    def move(statuses: tuple[str, ...], **values: Any) -> int:
        """Waiting custom rows whose recipient's mandated row is in ``statuses``."""
        reached = exists().where(
            mandated.campaign_id == SmsMessage.campaign_id,
            mandated.phone_hash == SmsMessage.phone_hash,
            mandated.sender_id == SmsMessage.sender_id,
            mandated.kind == "mandated",
            mandated.status.in_(statuses),
        )
        return db.session.execute(
            update(SmsMessage)
            .where(base, SmsMessage.status == "waiting", reached)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount

    released = move(("accepted", "delivered"), status="queued", next_attempt_at=now)
    move(("opted_out",), status="opted_out", finished_at=now)
    move(
        ("failed", "expired"),
        status="failed",
        error="mandated_not_accepted: the mandated text did not reach this number",
        finished_at=now,
    )
    return released


# --- claiming and sending ------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    phone_enc: bytes  # decrypted only for the gateway call
    phone_hash: str
    body: str
    attempts: int


# The columns a claim reads, in :class:`Claimed`'s order.
CLAIMED_COLUMNS = (
    SmsMessage.id,
    SmsMessage.phone_enc,
    SmsMessage.phone_hash,
    SmsMessage.body,
    SmsMessage.attempts,
)


def claim(slot: OpenSlot, limit: int, now: dt.datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` due rows of the slot's sender: opted-out numbers are settled here,
    the rest are marked ``submitting`` (the caller commits before sending)."""
    now = now or utcnow()
    sms_numbers.hold()  # before any row lock: a rotation never interleaves with a claim
    earlier = aliased(SmsMessage)
    order_guard = or_(
        SmsMessage.kind == "mandated",
        ~exists().where(
            earlier.campaign_id == SmsMessage.campaign_id,
            earlier.phone_hash == SmsMessage.phone_hash,
            earlier.sender_id == SmsMessage.sender_id,
            earlier.kind == "custom",
            earlier.id < SmsMessage.id,
            earlier.status.in_(OPEN_STATUSES),
        ),
    )
    stmt = (
        select(*CLAIMED_COLUMNS)
        .where(
            SmsMessage.sender_id == slot.sender_id,
            SmsMessage.status == "queued",
            SmsMessage.next_attempt_at <= now,
            SmsMessage.slot_end > now,
            order_guard,
        )
        .order_by(SmsMessage.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=SmsMessage)
    rows = [Claimed(*r) for r in db.session.execute(stmt)]
    if not rows:
        return []
    opted = set(
        db.session.execute(
            select(SmsOptOut.phone_hash).where(
                SmsOptOut.phone_hash.in_({r.phone_hash for r in rows}),
                or_(
                    SmsOptOut.institution_id.is_(None),
                    SmsOptOut.institution_id == slot.institution_id,
                ),
            )
        ).scalars()
    )
    if opted:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_([r.id for r in rows if r.phone_hash in opted]))
            .values(status="opted_out", finished_at=now, error="in the opt-out register")
            .execution_options(synchronize_session=False)
        )
    rows = [r for r in rows if r.phone_hash not in opted]
    if rows:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_([r.id for r in rows]))
            .values(status="submitting", claimed_at=now, channel_id=slot.channel_id)
            .execution_options(synchronize_session=False)
        )
    return rows


@dataclass
class Outcomes:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    retry: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    put_back: list[int] = field(default_factory=list)
    window_closed: bool = False
    short_of_tokens: bool = False  # the rate limits stopped the batch; the rest was put back


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retry number ``attempts`` (1-based): base × 2^(n-1), at most an hour."""
    base = settings().sms_retry_base_seconds
    return dt.timedelta(seconds=min(3600, base * 2 ** max(0, attempts - 1)))


# The accepted rows of a batch on PostgreSQL: the values as one array per column.
_ACCEPT_MANY = text(
    """
    UPDATE sms_messages AS m
    SET status = 'accepted', gateway_id = v.gateway_id, segments = v.segments,
        accepted_at = v.at, attempts = m.attempts + 1, claimed_at = NULL, error = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:gateway_ids AS text[]),
                CAST(:segments AS integer[]), CAST(:ats AS timestamptz[]))
         AS v(id, gateway_id, segments, at)
    WHERE m.id = v.id AND m.status = 'submitting'
    """
)


def record(out: Outcomes, now: dt.datetime | None = None) -> None:
    """Write a batch's outcomes; only rows still ``submitting`` change."""
    now = now or utcnow()
    claimed = MSG.c.status == "submitting"
    if out.accepted and db.engine.dialect.name == "postgresql":
        # One statement for the batch (an executemany is a statement per row).
        db.session.execute(
            _ACCEPT_MANY,
            {
                "ids": [a["b_id"] for a in out.accepted],
                "gateway_ids": [a["b_gateway_id"] for a in out.accepted],
                "segments": [a["b_segments"] for a in out.accepted],
                "ats": [a["b_at"] for a in out.accepted],
            },
        )
    elif out.accepted:
        db.session.execute(
            MSG.update()
            .where(MSG.c.id == bindparam("b_id"), claimed)
            .values(
                status="accepted",
                gateway_id=bindparam("b_gateway_id"),
                segments=bindparam("b_segments"),
                accepted_at=bindparam("b_at", type_=UTCDateTime()),
                attempts=MSG.c.attempts + 1,
                claimed_at=None,
                error=None,
            ),
            out.accepted,
        )
    if out.retry:
        for item in out.retry:
            item["b_next"] = now + backoff(item.pop("b_wait"))
        db.session.execute(
            MSG.update()
            .where(MSG.c.id == bindparam("b_id"), claimed)
            .values(
                status="queued",
                attempts=bindparam("b_attempts"),
                error=bindparam("b_error"),
                next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
                claimed_at=None,
            ),
            out.retry,
        )
    if out.failed:
        db.session.execute(
            MSG.update()
            .where(MSG.c.id == bindparam("b_id"), claimed)
            .values(
                status="failed",
                attempts=bindparam("b_attempts"),
                error=bindparam("b_error"),
                finished_at=now,
                claimed_at=None,
            ),
            out.failed,
        )
    if out.put_back:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_(out.put_back), SmsMessage.status == "submitting")
            .values(status="queued", claimed_at=None)
            .execution_options(synchronize_session=False)
        )


def queue_state(now: dt.datetime | None = None) -> tuple[dict[str, int], float]:
    """The outbox for monitoring: rows per status (every status, 0 included) and the seconds
    the longest-waiting due ``queued`` row has been due (0 when none is). One grouped query."""
    now = now or utcnow()
    due = case(
        (and_(SmsMessage.status == "queued", SmsMessage.next_attempt_at <= now),
         SmsMessage.next_attempt_at),
    )  # fmt: skip
    rows = db.session.execute(
        select(SmsMessage.status, func.count(), func.min(due)).group_by(SmsMessage.status)
    ).all()
    counts = dict.fromkeys(MESSAGE_STATUSES, 0)
    oldest: dt.datetime | None = None
    for status, n, first_due in rows:
        counts[status] = n
        if first_due is not None:
            oldest = first_due if oldest is None else min(oldest, first_due)
    return counts, max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def recover_stale_claims(now: dt.datetime | None = None) -> dict[str, int]:
    """Settle rows a dead dispatcher left ``submitting`` (see the module docstring)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=settings().sms_claim_lease_seconds)
    stale = list(
        db.session.execute(
            select(SmsMessage.id, SmsChannel.gateway)
            .outerjoin(SmsChannel, SmsChannel.id == SmsMessage.channel_id)
            .where(SmsMessage.status == "submitting", SmsMessage.claimed_at < cutoff)
        )
    )
    if not stale:
        return {"requeued": 0, "unknown": 0}
    safe = [i for i, kind in stale if kind in IDEMPOTENT_KINDS]
    unsafe = [i for i, kind in stale if kind not in IDEMPOTENT_KINDS]
    if safe:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_(safe), SmsMessage.status == "submitting")
            .values(
                status="queued",
                claimed_at=None,
                next_attempt_at=now,
                error="resubmitted under the same key after an interrupted dispatch",
            )
            .execution_options(synchronize_session=False)
        )
    if unsafe:
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_(unsafe), SmsMessage.status == "submitting")
            .values(
                status="failed",
                claimed_at=None,
                finished_at=now,
                error="outcome_unknown: the dispatcher stopped while submitting; "
                "re-queue only after checking with the gateway",
            )
            .execution_options(synchronize_session=False)
        )
    result = {"requeued": len(safe), "unknown": len(unsafe)}
    audit.record("sms_stale_claims", "sms_messages", None, result)
    return result


def requeue_expired(
    principal: Principal, campaign_id: int, institution_code: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The explicit decision to send a sender's expired rows again, in its slot open now.

    Mandated rows are queued, custom rows wait for them again (the order rule still holds).
    """
    principal.require(*sms_service.COORDINATORS)
    now = now or utcnow()
    campaign = sms_service.get_campaign(principal, campaign_id)
    sender = _sender_by_code(campaign, institution_code)
    run = db.session.execute(
        select(SmsSlotRun).where(
            SmsSlotRun.sender_id == sender.id,
            SmsSlotRun.slot_start <= now,
            SmsSlotRun.slot_end > now,
            SmsSlotRun.closed_at.is_(None),
        )
    ).scalar_one_or_none()
    if run is None:
        raise Conflict(
            f"{institution_code} has no slot open now; re-queue during its slot.",
            code="no_open_slot",
        )
    counts = {}
    for kind, status in (("mandated", "queued"), ("custom", "waiting")):
        counts[kind] = db.session.execute(
            update(SmsMessage)
            .where(
                SmsMessage.campaign_id == campaign.id,
                SmsMessage.sender_id == sender.id,
                SmsMessage.kind == kind,
                SmsMessage.status == "expired",
                # anonymised by retention: no number or text left to send
                SmsMessage.phone_hash.not_like(f"{ANONYMISED_HASH_PREFIX}%"),
            )
            .values(
                status=status,
                slot_start=run.slot_start,
                slot_end=run.slot_end,
                next_attempt_at=now,
                finished_at=None,
                error=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    run.mandated_done_at = None
    audit.record("sms_requeued", "sms_slot_runs", run.id, {"sender": institution_code, **counts})
    return {"requeued": counts, "slot_end": run.slot_end}


def _sender_by_code(campaign: SmsCampaign, code: str) -> SmsSender:
    inst = db.session.execute(select(Institution).where(Institution.code == code)).scalar()
    sender = next((s for s in campaign.senders if inst and s.institution_id == inst.id), None)
    if sender is None:
        raise NotFound(f"{code} does not send in campaign {campaign.id}.")
    return sender
