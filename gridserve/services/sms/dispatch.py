"""The outbox and its dispatcher: each message once, in order, only inside its sender's slot.

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
    the batch. This is the one place that commits several times in a unit of work: the claim
    must be durable before the network call.

Windows
    A slot sends only inside the campaign's daily window (clipped by the quiet hours), on its
    days, before its end. This is checked when a pass lists the open slots and again with
    ``utcnow()`` just before each gateway call: a batch claimed just before the window's end
    stops there, and its unsent rows go back to ``queued`` (never submitted, so exactly-once
    holds) for the slot's next day or, once the slot is over, for the close job to expire.

Crashes
    A row left ``submitting`` longer than the claim lease belongs to a dispatcher that died. For
    an idempotent gateway (file, http: the key ``gs-<id>`` is deduplicated by the gateway) it is
    re-queued and re-submitted under the same key, so the recipient still gets it once. For a
    gateway that cannot deduplicate (smpp) re-sending could send twice, so it is failed with
    ``outcome_unknown`` for an operator to decide: never sent twice, never silently lost.

Rates
    Each channel's ``rate_per_second`` and the platform-wide cap (``GRIDSERVE_SMS_PLATFORM_RATE``)
    are enforced by token buckets inside a pass; 0 means no limit. Only one scheduler runs
    passes; a pass run by hand at the same time cannot double-send (claims), only add its rate.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, exists, func, literal, or_, select, text, update
from sqlalchemy.orm import aliased

from gridserve import audit, crypto
from gridserve.db import UTCDateTime, insert_for, utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
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
from gridserve.privacy import mask_phone
from gridserve.scope import Principal
from gridserve.services.accounts import calendars
from gridserve.services.sms import campaigns as sms_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.services.sms.recipients import describe_opt_out, recipient_count
from gridserve.sms import gateways, phones, rotation

log = logging.getLogger("gridserve.sms")

MSG = SmsMessage.__table__
TERMINAL = ("accepted", "delivered", "failed", "expired", "opted_out")
IDEMPOTENT_KINDS = frozenset(
    kind
    for kind, cls in (
        ("file", gateways.FileGateway),
        ("http", gateways.HttpGateway),
        ("smpp", gateways.SmppGateway),
    )
    if cls.idempotent
)
STALE_TRANSIENT_LIMIT = 3  # consecutive transient errors before a channel's batch is put back
CLEAR_CACHE_LIMIT = 50_000  # numbers a pass keeps decrypted in memory for their next text


# --- time and rates ------------------------------------------------------------------------


class TokenBucket:
    """At most ``rate`` takes per second (bursts of one second); ``rate`` 0 means no limit."""

    def __init__(self, rate: float) -> None:
        self.rate = float(rate or 0)
        self.tokens = max(self.rate, 1.0)
        self.stamp = time.monotonic()

    def take(self) -> None:
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            time.sleep((1 - self.tokens) / self.rate)


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config["GRIDSERVE_TIMEZONE"])


@dataclass(frozen=True)
class SendWindow:
    """When a slot may send: inside the campaign's window (clipped by the quiet hours), on one
    of the slot's days, before the slot ends. Checked when the slot is listed and again just
    before each gateway call, so a batch claimed near the window's end stops at the end."""

    window: tuple[dt.time, dt.time]
    quiet: tuple[dt.time, dt.time]
    days: tuple[dt.date, ...]
    slot_end: dt.datetime
    zone: Any

    def open_at(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone)
        if now >= self.slot_end or (self.days and local.date() not in self.days):
            return False
        start, end = self.window
        return start <= local.time() < end and not rotation.is_quiet(local.time(), self.quiet)


def send_window(
    campaign: SmsCampaign, slot_days: tuple[dt.date, ...], slot_end: dt.datetime
) -> SendWindow:
    quiet = sms_service.quiet_hours()
    window = rotation.effective_window(
        (sms_service._hhmm(campaign.window_start), sms_service._hhmm(campaign.window_end)), quiet
    )
    return SendWindow(window, quiet, tuple(slot_days), slot_end, _tz())


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
            literal("mandated" if text_row.sender_id is None else "custom"),
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
        .where(SmsMessage.status.in_(("waiting", "queued")), SmsMessage.slot_end <= now)
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
                SmsMessage.status.in_(("queued", "submitting")),
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
            earlier.status.in_(("waiting", "queued", "submitting")),
        ),
    )
    stmt = (
        select(
            SmsMessage.id,
            SmsMessage.phone_enc,
            SmsMessage.phone_hash,
            SmsMessage.body,
            SmsMessage.attempts,
        )
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


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retry number ``attempts`` (1-based): base × 2^(n-1), at most an hour."""
    base = current_app.config["GRIDSERVE_SMS_RETRY_BASE"]
    return dt.timedelta(seconds=min(3600, base * 2 ** max(0, attempts - 1)))


def send_batch(
    gateway: gateways.Gateway,
    slot: OpenSlot,
    rows: list[Claimed],
    buckets: list[TokenBucket],
    deadline: float,
    clear: dict[str, str] | None = None,
) -> Outcomes:
    """Submit claimed rows in order; a number whose earlier row did not go is not sent past.

    Numbers are decrypted here, for the gateway call only; ``clear`` (by hash, kept by the
    caller for one pass and never stored) spares decrypting a number again for its next text.
    """
    out = Outcomes()
    clear = {} if clear is None else clear
    max_attempts = current_app.config["GRIDSERVE_SMS_MAX_ATTEMPTS"]
    blocked: set[str] = set()
    transient_run = 0
    for index, row in enumerate(rows):
        if row.phone_hash in blocked or transient_run >= STALE_TRANSIENT_LIMIT:
            out.put_back.append(row.id)
            continue
        if time.monotonic() > deadline:
            out.put_back.extend(r.id for r in rows[index:])
            break
        try:
            to = clear.get(row.phone_hash) or crypto.decrypt(row.phone_enc) or ""
        except crypto.DecryptionError:
            out.failed.append(
                {
                    "b_id": row.id,
                    "b_attempts": row.attempts,
                    "b_error": "number_unreadable: the number cannot be decrypted with "
                    "GRIDSERVE_DATA_KEYS",
                }
            )
            continue
        for bucket in buckets:
            bucket.take()
        if slot.window is not None and not slot.window.open_at(utcnow()):
            # The window ended (quiet hours began) while this batch was going out: the rest
            # goes back to the queue unsent, for the slot's next day or, if the slot is over,
            # for close_ended_slots to expire.
            out.put_back.extend(r.id for r in rows[index:])
            out.window_closed = True
            break
        message = gateways.OutboundMessage(
            key=f"gs-{row.id}", to=to, body=row.body, sender=slot.sender_code
        )
        try:
            result = gateway.submit(message)
        except gateways.GatewayError as exc:
            attempts = row.attempts + 1
            reason = f"{exc.code}: {exc.message}"[:300]
            if exc.transient:
                transient_run += 1
                blocked.add(row.phone_hash)
            if exc.transient and attempts < max_attempts:
                out.retry.append(
                    {"b_id": row.id, "b_attempts": attempts, "b_error": reason, "b_wait": attempts}
                )
            else:
                if exc.transient:
                    reason = f"retries exhausted after {attempts} attempts; last: {reason}"[:300]
                out.failed.append({"b_id": row.id, "b_attempts": attempts, "b_error": reason})
            continue
        transient_run = 0
        if len(clear) < CLEAR_CACHE_LIMIT:
            clear[row.phone_hash] = to
        out.accepted.append(
            {
                "b_id": row.id,
                "b_gateway_id": result.gateway_id,
                "b_segments": result.segments,
                "b_at": utcnow(),
            }
        )
    return out


def record(out: Outcomes, now: dt.datetime | None = None) -> None:
    """Write a batch's outcomes; only rows still ``submitting`` change."""
    now = now or utcnow()
    claimed = MSG.c.status == "submitting"
    if out.accepted:
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


def recover_stale_claims(now: dt.datetime | None = None) -> dict[str, int]:
    """Settle rows a dead dispatcher left ``submitting`` (see the module docstring)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=current_app.config["GRIDSERVE_SMS_CLAIM_LEASE"])
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


class GatewayPool:
    """One open gateway per channel for the length of a pass."""

    def __init__(self) -> None:
        self._open: dict[int, gateways.Gateway] = {}

    def get(self, channel_id: int) -> gateways.Gateway:
        if channel_id not in self._open:
            channel = db.session.get(SmsChannel, channel_id)
            accounts = current_app.config["GRIDSERVE_SMS_ACCOUNTS"]
            secrets = accounts.get(channel.credentials_ref or "", {})
            self._open[channel_id] = gateways.build_gateway(
                channel.gateway,
                dict(channel.settings or {}),
                secrets,
                Path(current_app.config["GRIDSERVE_SMS_OUTBOX_PATH"]),
                allowed_hosts=tuple(current_app.config["GRIDSERVE_SMS_ALLOWED_HOSTS"]),
            )
        return self._open[channel_id]

    def close(self) -> None:
        for gateway in self._open.values():
            try:
                gateway.close()
            except Exception:  # pragma: no cover - best effort on the way out
                log.exception("closing a gateway")
        self._open.clear()


def dispatch_pass(budget_seconds: float = 50.0, until_idle: bool = False) -> dict[str, int]:
    """Open due slots, close ended ones, release custom phases, send what is due.

    Runs until nothing is left to send now (with ``until_idle``: keeps watching for new work
    until the budget is spent) or ``budget_seconds`` have passed; commits after each step (see
    the module docstring). Returns counts for the log.
    """
    deadline = time.monotonic() + budget_seconds
    report: Counter[str] = Counter()
    pool = GatewayPool()
    platform = TokenBucket(current_app.config["GRIDSERVE_SMS_PLATFORM_RATE"])
    senders: dict[int, TokenBucket] = {}
    batch_size = current_app.config["GRIDSERVE_SMS_BATCH_SIZE"]
    lease = current_app.config["GRIDSERVE_SMS_CLAIM_LEASE"]
    refreshed = -1.0
    slots: list[OpenSlot] = []
    clear: dict[str, str] = {}  # this pass only: a number's next text needs no decryption
    try:
        report.update(recover_stale_claims())
        db.session.commit()
        while time.monotonic() < deadline:
            if time.monotonic() - refreshed >= 1.0:  # slots start and end while we send
                report["expired"] += close_ended_slots()
                slots = open_slots()
                db.session.commit()
                refreshed = time.monotonic()
            progressed = False
            for slot in slots:
                report["released"] += release_custom(slot)
                db.session.commit()
                if not slot.sending or slot.channel_id is None:
                    continue
                if slot.channel_id not in senders:
                    channel = db.session.get(SmsChannel, slot.channel_id)
                    senders[slot.channel_id] = TokenBucket(channel.rate_per_second)
                try:
                    gateway = pool.get(slot.channel_id)
                except gateways.GatewayError as exc:
                    log.error("channel of %s unusable: %s", slot.sender_code, exc.message)
                    report["misconfigured"] += 1
                    continue
                rows = claim(slot, batch_size)
                db.session.commit()
                if not rows:
                    continue
                progressed = True
                out = send_batch(
                    gateway,
                    slot,
                    rows,
                    [senders[slot.channel_id], platform],
                    min(deadline, time.monotonic() + lease / 2),
                    clear,
                )
                record(out)
                if out.window_closed:
                    slot.sending = False  # until the next refresh finds its window open again
                _first_accepted(slot, out)
                db.session.commit()
                report["accepted"] += len(out.accepted)
                report["retry"] += len(out.retry)
                report["failed"] += len(out.failed)
                for event in gateway.poll():
                    report[_apply_event(event, slot.channel_id)] += 1
                db.session.commit()
            if not progressed:
                if not until_idle:
                    break
                time.sleep(0.2)
    finally:
        db.session.rollback()
        pool.close()
    return {k: v for k, v in report.items() if v}


def _first_accepted(slot: OpenSlot, out: Outcomes) -> None:
    if out.accepted:
        db.session.execute(
            update(SmsSlotRun)
            .where(SmsSlotRun.id == slot.run_id, SmsSlotRun.first_accepted_at.is_(None))
            .values(first_accepted_at=out.accepted[0]["b_at"])
            .execution_options(synchronize_session=False)
        )


# --- receipts, replies, decisions ----------------------------------------------------------


def _apply_event(event: gateways.Receipt | gateways.Inbound, channel_id: int | None) -> str:
    if isinstance(event, gateways.Receipt):
        return "receipt_" + apply_receipt(event, [channel_id] if channel_id else None)
    from gridserve.services.sms.recipients import apply_reply

    return "reply_" + apply_reply(event, [channel_id] if channel_id else [])


def apply_receipt(receipt: gateways.Receipt, channel_ids: list[int] | None) -> str:
    """A delivery report: accepted → delivered or failed. Repeats change nothing."""
    cond = [SmsMessage.gateway_id == receipt.gateway_id]
    if channel_ids is not None:
        cond.append(SmsMessage.channel_id.in_(channel_ids))
    row = db.session.execute(select(SmsMessage).where(*cond).limit(1)).scalar_one_or_none()
    if row is None:
        return "unknown"
    if row.status != "accepted":
        return "duplicate"
    status = "delivered" if receipt.status == "delivered" else "failed"
    changed = db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == row.id, SmsMessage.status == "accepted")
        .values(
            status=status,
            finished_at=receipt.at or utcnow(),
            error=None if status == "delivered" else f"{receipt.status}: {receipt.error or ''}",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return status if changed else "duplicate"


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


# --- progress ------------------------------------------------------------------------------

COUNTED = ("queued", "accepted", "delivered", "failed", "expired", "opted_out")


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
            "counts": {k: c.get(k, 0) for k in COUNTED}
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
