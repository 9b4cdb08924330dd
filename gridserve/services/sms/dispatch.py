"""The dispatcher: the loop that sends what the outbox holds, within the rates and windows.

:func:`dispatch_pass` (the ``sms-dispatch`` job) opens and closes slots, releases custom
phases, claims batches from :mod:`gridserve.services.sms.outbox`, hands them to one gateway
per channel (:class:`GatewayPool`, :func:`send_batch`), records the outcomes and applies the
receipts and replies the gateways return (:mod:`gridserve.services.sms.inbound`).

Texts outside a campaign
    Direct texts (:mod:`gridserve.services.sms.direct`: notices, reminders) go first: every
    round of a pass sends each channel's due direct texts before any campaign batch, and a
    slot's batch is claimed only once its channel has no direct text due. They need no slot,
    only to be outside the quiet hours.

Commits
    The one job that commits several times in a run (declared in :mod:`jobs.registry`): a claim
    must be durable before the network call, and each step's outcome before the next. Every
    commit goes through :func:`commit_step`.

Windows
    A slot sends only inside the campaign's daily window (clipped by the quiet hours), on its
    days, before its end. This is checked when a pass lists the open slots and again with
    ``utcnow()`` just before each gateway call: a batch claimed just before the window's end
    stops there, and its unsent rows go back to ``queued`` (never submitted, so exactly-once
    holds) for the slot's next day or, once the slot is over, for the close job to expire.

Rates
    Each channel's ``rate_per_second`` and the platform-wide cap (``GRIDSERVE_SMS_PLATFORM_RATE``)
    are enforced by token buckets inside a pass; 0 means no limit. Only one scheduler runs
    passes; a pass run by hand at the same time cannot double-send (claims), only add its rate.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from sqlalchemy import update

from gridserve import crypto, metrics
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    SmsChannel,
    SmsSlotRun,
)
from gridserve.services.sms import direct, inbound
from gridserve.services.sms.outbox import (
    Claimed,
    OpenSlot,
    Outcomes,
    claim,
    close_ended_slots,
    open_slots,
    record,
    recover_stale_claims,
    release_custom,
)
from gridserve.sms import gateways

log = logging.getLogger("gridserve.sms")
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


def send_batch(
    gateway: gateways.Gateway,
    slot: OpenSlot | direct.DirectLane,
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
    max_attempts = settings().sms_max_attempts
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


class GatewayPool:
    """One open gateway per channel for the length of a pass."""

    def __init__(self) -> None:
        self._open: dict[int, gateways.Gateway] = {}

    def get(self, channel_id: int) -> gateways.Gateway:
        if channel_id not in self._open:
            channel = db.session.get(SmsChannel, channel_id)
            accounts = settings().sms_accounts
            secrets = accounts.get(channel.credentials_ref or "", {})
            self._open[channel_id] = gateways.build_gateway(
                channel.gateway,
                dict(channel.settings or {}),
                secrets,
                settings().sms_outbox_root,
                allowed_hosts=settings().sms_allowed_hosts,
            )
        return self._open[channel_id]

    def close(self) -> None:
        for gateway in self._open.values():
            try:
                gateway.close()
            except Exception:  # pragma: no cover - best effort on the way out
                log.exception("closing a gateway")
        self._open.clear()


def commit_step() -> None:
    """Make one step of a pass durable: a claim before its network call, outcomes after.

    The dispatcher's only way to commit. ``sms-dispatch`` is the job declared in
    :mod:`jobs.registry` to commit in steps (``commits_in_steps``); every other job and every
    request commits once, at its boundary.
    """
    db.session.commit()


def dispatch_pass(budget_seconds: float = 50.0, until_idle: bool = False) -> dict[str, int]:
    """Open due slots, close ended ones, release custom phases, send what is due.

    Runs until nothing is left to send now (with ``until_idle``: keeps watching for new work
    until the budget is spent) or ``budget_seconds`` have passed; commits after each step (see
    the module docstring). Returns counts for the log.
    """
    deadline = time.monotonic() + budget_seconds
    report: Counter[str] = Counter()
    pool = GatewayPool()
    platform = TokenBucket(settings().sms_platform_rate)
    senders: dict[int, TokenBucket] = {}
    batch_size = settings().sms_batch_size
    lease = settings().sms_claim_lease_seconds
    refreshed = -1.0
    slots: list[OpenSlot] = []
    clear: dict[str, str] = {}  # this pass only: a number's next text needs no decryption

    def direct_first(channel_id: int | None = None) -> bool:
        """One batch of each channel's (or this channel's) due direct texts."""
        sent = False
        for lane in direct.due_lanes():
            if channel_id is None or lane.channel_id == channel_id:
                sent |= _send_direct(lane, pool, senders, platform, deadline, clear, report)
        return sent

    try:
        report.update(recover_stale_claims())
        commit_step()
        while time.monotonic() < deadline:
            if time.monotonic() - refreshed >= 1.0:  # slots start and end while we send
                report["expired"] += close_ended_slots()
                slots = open_slots()
                commit_step()
                refreshed = time.monotonic()
            progressed = direct_first()  # texts outside a campaign first, every round
            for slot in slots:
                report["released"] += release_custom(slot)
                commit_step()
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
                if direct.has_due(slot.channel_id) and direct_first(slot.channel_id):
                    progressed = True  # texts outside the campaign go ahead of its bulk
                    continue
                rows = claim(slot, batch_size)
                commit_step()
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
                metrics.record_sms(slot.channel_id, len(out.accepted), len(out.retry),
                                   len(out.failed))  # fmt: skip
                if out.window_closed:
                    slot.sending = False  # until the next refresh finds its window open again
                _first_accepted(slot, out)
                commit_step()
                report["accepted"] += len(out.accepted)
                report["retry"] += len(out.retry)
                report["failed"] += len(out.failed)
                for event in gateway.poll():
                    ids = [slot.channel_id] if slot.channel_id else None
                    kind, outcome = inbound.apply_event(event, ids)
                    report[f"{kind}_{outcome}"] += 1
                commit_step()
            if not progressed:
                if not until_idle:
                    break
                time.sleep(0.2)
    finally:
        db.session.rollback()
        pool.close()
    return {k: v for k, v in report.items() if v}


def _send_direct(
    lane: direct.DirectLane,
    pool: GatewayPool,
    senders: dict[int, TokenBucket],
    platform: TokenBucket,
    deadline: float,
    clear: dict[str, str],
    report: Counter[str],
) -> bool:
    """Send one batch of a channel's due direct texts; whether anything was claimed."""
    if lane.channel_id not in senders:
        channel = db.session.get(SmsChannel, lane.channel_id)
        senders[lane.channel_id] = TokenBucket(channel.rate_per_second)
    try:
        gateway = pool.get(lane.channel_id)
    except gateways.GatewayError as exc:
        log.error("channel of %s unusable: %s", lane.sender_code, exc.message)
        report["misconfigured"] += 1
        return False
    rows = direct.claim(lane, settings().sms_batch_size)
    commit_step()
    if not rows:
        return False
    out = send_batch(
        gateway,
        lane,
        rows,
        [senders[lane.channel_id], platform],
        min(deadline, time.monotonic() + settings().sms_claim_lease_seconds / 2),
        clear,
    )
    record(out)
    metrics.record_sms(lane.channel_id, len(out.accepted), len(out.retry), len(out.failed))
    commit_step()
    report["direct_accepted"] += len(out.accepted)
    report["direct_retry"] += len(out.retry)
    report["direct_failed"] += len(out.failed)
    for event in gateway.poll():
        kind, outcome = inbound.apply_event(event, [lane.channel_id])
        report[f"{kind}_{outcome}"] += 1
    commit_step()
    return True


def _first_accepted(slot: OpenSlot, out: Outcomes) -> None:
    if out.accepted:
        db.session.execute(
            update(SmsSlotRun)
            .where(SmsSlotRun.id == slot.run_id, SmsSlotRun.first_accepted_at.is_(None))
            .values(first_accepted_at=out.accepted[0]["b_at"])
            .execution_options(synchronize_session=False)
        )
