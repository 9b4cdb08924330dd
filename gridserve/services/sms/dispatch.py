"""The dispatcher: the loop that sends what the outbox holds, within the rates and windows.

:func:`dispatch_pass` (the ``sms-dispatch`` job) opens and closes slots, releases custom
phases, claims batches from :mod:`gridserve.services.sms.outbox`, hands them to one gateway
per channel (:class:`GatewayPool`, :func:`send_batch`), records the outcomes and applies the
receipts and replies the gateways return (:mod:`gridserve.services.sms.inbound`).

Texts outside a campaign
    Direct texts (:mod:`gridserve.services.sms.direct`: notices, reminders, case feedback) go
    first: every round of a pass sends each channel's due direct texts before any campaign
    batch, and a slot's batch is claimed only once its channel has no direct text due (nor one
    waiting for that channel's tokens). They need no slot, only to be outside the quiet hours.

Slots side by side
    A round gives every open slot one batch, and no batch holds the round for long: a batch is
    at most ``GRIDSERVE_SMS_BATCH_SIZE`` messages, on a rate-limited channel at most half a
    second of its rate, and no more than its gateway took in 0.8 s in the pass's last batch on
    that channel; it stops after :data:`BATCH_SECONDS` (its unsent rows go back to ``queued``,
    never submitted). The open slots are listed again every second of
    :func:`gridserve.db.utcnow` (or of the process's own clock, whichever comes first), so a
    slot that starts while another sender's long list is going out sends its first batch in
    the next round, not after that list.

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
    are carrier segments per second (0: no limit), each a token bucket with a burst of one
    second of its rate: a message takes its segment count (:func:`segments`) from its channel's
    bucket and the platform's. On PostgreSQL the buckets are rows shared by every dispatcher
    process, so the rates hold for all schedulers, nodes and passes run by hand together; on
    SQLite (one scheduler) they live in the process (:mod:`gridserve.services.sms.rates`). A
    batch is claimed only with tokens in hand, takes more in chunks as it sends, and gives back
    what it did not use; a slot short of tokens waits without holding rows while the others
    send, and a pass with nothing to do but wait for tokens sleeps until they are due.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import update

from gridserve import crypto, metrics
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    SmsChannel,
    SmsSlotRun,
)
from gridserve.services.sms import direct, inbound, rates
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
from gridserve.sms import text as sms_text

log = logging.getLogger("gridserve.sms")
STALE_TRANSIENT_LIMIT = 3  # consecutive transient errors before a channel's batch is put back
CLEAR_CACHE_LIMIT = 50_000  # numbers a pass keeps decrypted in memory for their next text


BATCH_SECONDS = 1.0  # a batch stops after this long; its unsent rows go back to the queue
ROUND_SECONDS = 0.5  # a rate-limited channel's batch: at most this much of its rate
REFRESH = dt.timedelta(seconds=1)


# --- segments and rates --------------------------------------------------------------------


def segments(body: str) -> int:
    """The carrier segments a text costs (GSM-7 160/153, UCS-2 70/67; at least one)."""
    return max(1, len(sms_text.split(body)))


def claim_size(allowance: rates.Allowance, batch_size: int) -> int:
    """How many messages a batch claims: the batch size, or half a second of the slowest rate."""
    if not allowance.limited:
        return batch_size
    slowest = min(lim.rate for lim in allowance.limits)
    return max(1, min(batch_size, math.ceil(slowest * ROUND_SECONDS)))


def send_batch(
    gateway: gateways.Gateway,
    slot: OpenSlot | direct.DirectLane,
    rows: list[Claimed],
    allowance: rates.Allowance,
    deadline: float,
    clear: dict[str, str] | None = None,
) -> Outcomes:
    """Submit claimed rows in order; a number whose earlier row did not go is not sent past.

    Each message first holds its segments from ``allowance`` (waiting for them until
    ``deadline`` at most; short of them, the rest goes back to the queue, ``short_of_tokens``).
    Numbers are decrypted here, for the gateway call only; ``clear`` (by hash, kept by the
    caller for one pass and never stored) spares decrypting a number again for its next text.
    """
    out = Outcomes()
    by_body: dict[str, int] = {}  # a batch's texts are few; none is kept past the batch
    costs = [by_body.get(r.body) or by_body.setdefault(r.body, segments(r.body)) for r in rows]
    ahead = costs[:]
    for index in range(len(ahead) - 2, -1, -1):
        ahead[index] += ahead[index + 1]
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
        if not allowance.spend(costs[index], ahead[index], deadline):
            out.put_back.extend(r.id for r in rows[index:])
            out.short_of_tokens = True
            break
        if slot.window is not None and not slot.window.open_at(utcnow()):
            # The window ended (quiet hours began) while this batch was going out: the rest
            # goes back to the queue unsent, for the slot's next day or, if the slot is over,
            # for close_ended_slots to expire.
            out.put_back.extend(r.id for r in rows[index:])
            out.window_closed = True
            allowance.held += costs[index]  # not sent: given back with the rest
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
    sender = _Sender(pool, report, deadline)
    refreshed = -1.0
    refreshed_at: dt.datetime | None = None
    slots: list[OpenSlot] = []

    def direct_first(channel_id: int | None = None) -> str:
        """One batch of each channel's (or this channel's) due direct texts: ``sent`` if any
        went, ``short`` if one waits for its channel's tokens, else ``none``."""
        state = "none"
        for lane in direct.due_lanes():
            if channel_id is None or lane.channel_id == channel_id:
                got = sender.direct(lane)
                if got == "sent" or state == "none":
                    state = got
        return state

    try:
        report.update(recover_stale_claims())
        commit_step()
        while time.monotonic() < deadline:
            now = utcnow()
            if (
                time.monotonic() - refreshed >= REFRESH.total_seconds()
                or refreshed_at is None
                or now - refreshed_at >= REFRESH
            ):  # slots start and end while we send
                report["expired"] += close_ended_slots()
                slots = open_slots()
                commit_step()
                refreshed, refreshed_at = time.monotonic(), now
            sender.wake = None
            progressed = direct_first() == "sent"  # texts outside a campaign first, every round
            for slot in slots:
                report["released"] += release_custom(slot)
                commit_step()
                if not slot.sending or slot.channel_id is None:
                    continue
                if direct.has_due(slot.channel_id):
                    state = direct_first(slot.channel_id)
                    if state != "none":  # texts outside the campaign go ahead of its bulk
                        progressed |= state == "sent"
                        continue
                progressed |= sender.slot(slot)
            if not progressed:
                if sender.wake is not None:  # only waiting for tokens: sleep until they are due
                    time.sleep(max(0.0, min(sender.wake, deadline) - time.monotonic()))
                    continue
                if not until_idle:
                    break
                time.sleep(0.2)
    finally:
        db.session.rollback()
        sender.close()
        pool.close()
    return {k: v for k, v in report.items() if v}


class _Sender:
    """A pass's batches: tokens first, then the claim, the gateway calls and the outcomes."""

    def __init__(self, pool: GatewayPool, report: Counter[str], deadline: float) -> None:
        self.pool = pool
        self.report = report
        self.deadline = deadline
        self.store = rates.buckets()
        self.platform_rate = settings().sms_platform_rate
        self.channel_rates: dict[int, float] = {}
        self.clear: dict[str, str] = {}  # this pass only: a number's next text needs no decryption
        self.wake: float | None = None  # this round: when a slot short of tokens may try again
        self.pace: dict[int, float] = {}  # texts per second each channel's gateway took

    def close(self) -> None:
        self.store.close()

    def _allowance(self, channel_id: int) -> rates.Allowance:
        if channel_id not in self.channel_rates:
            channel = db.session.get(SmsChannel, channel_id)
            self.channel_rates[channel_id] = channel.rate_per_second
        limits = rates.limits(channel_id, self.channel_rates[channel_id], self.platform_rate)
        return rates.Allowance(self.store, limits)

    def _gateway(self, channel_id: int, sender_code: str) -> gateways.Gateway | None:
        try:
            return self.pool.get(channel_id)
        except gateways.GatewayError as exc:
            log.error("channel of %s unusable: %s", sender_code, exc.message)
            self.report["misconfigured"] += 1
            return None

    def _batch(
        self,
        gateway: gateways.Gateway,
        lane: OpenSlot | direct.DirectLane,
        channel_id: int,
        take: Callable[[int], list[Claimed]],
    ) -> tuple[Outcomes | None, bool]:
        """Tokens there, claim, send. Returns the outcomes (None when
        nothing was claimed) and whether the rates held the batch back (then :attr:`wake`
        says when to try again)."""
        allowance = self._allowance(channel_id)
        size = claim_size(allowance, settings().sms_batch_size)
        if channel_id in self.pace:  # what the gateway can take before the batch must stop
            size = max(1, min(size, math.floor(self.pace[channel_id] * BATCH_SECONDS * 0.8)))
        try:
            if not allowance.ready():
                self._wait(allowance)
                return None, True
            rows = take(size)
            commit_step()
            if not rows:
                return None, False
            now = time.monotonic()
            lease = settings().sms_claim_lease_seconds
            out = send_batch(
                gateway,
                lane,
                rows,
                allowance,
                min(self.deadline, now + BATCH_SECONDS, now + lease / 2),
                self.clear,
            )
        finally:
            allowance.release()
        went = len(out.accepted) + len(out.retry) + len(out.failed)
        if went and not out.short_of_tokens:
            self.pace[channel_id] = went / max(time.monotonic() - now, 1e-3)
        if out.short_of_tokens:
            self._wait(allowance)
        return out, out.short_of_tokens

    def _wait(self, allowance: rates.Allowance) -> None:
        at = time.monotonic() + allowance.wait
        self.wake = at if self.wake is None else min(self.wake, at)

    def slot(self, slot: OpenSlot) -> bool:
        """One batch of the slot's texts; whether any was sent (or settled)."""
        gateway = self._gateway(slot.channel_id, slot.sender_code)
        if gateway is None:
            return False
        out, _ = self._batch(gateway, slot, slot.channel_id, lambda n: claim(slot, n))
        if out is None:
            return False
        record(out)
        metrics.record_sms(slot.channel_id, len(out.accepted), len(out.retry), len(out.failed))
        if out.window_closed:
            slot.sending = False  # until the next refresh finds its window open again
        _first_accepted(slot, out)
        commit_step()
        self.report["accepted"] += len(out.accepted)
        self.report["retry"] += len(out.retry)
        self.report["failed"] += len(out.failed)
        self._poll(gateway, slot.channel_id)
        return _moved(out)

    def direct(self, lane: direct.DirectLane) -> str:
        """One batch of a channel's due direct texts: ``sent`` (something went or was settled),
        ``short`` (held back by the rates) or ``none``."""
        gateway = self._gateway(lane.channel_id, lane.sender_code)
        if gateway is None:
            return "none"
        out, short = self._batch(gateway, lane, lane.channel_id, lambda n: direct.claim(lane, n))
        if out is not None:
            record(out)
            metrics.record_sms(lane.channel_id, len(out.accepted), len(out.retry),
                               len(out.failed))  # fmt: skip
            commit_step()
            self.report["direct_accepted"] += len(out.accepted)
            self.report["direct_retry"] += len(out.retry)
            self.report["direct_failed"] += len(out.failed)
            self._poll(gateway, lane.channel_id)
            if _moved(out):
                return "sent"
        return "short" if short else "none"

    def _poll(self, gateway: gateways.Gateway, channel_id: int) -> None:
        for event in gateway.poll():
            kind, outcome = inbound.apply_event(event, [channel_id])
            self.report[f"{kind}_{outcome}"] += 1
        commit_step()


def _moved(out: Outcomes) -> bool:
    """Whether a batch settled anything (else it only put its rows back)."""
    return bool(out.accepted or out.retry or out.failed)


def _first_accepted(slot: OpenSlot, out: Outcomes) -> None:
    if out.accepted:
        db.session.execute(
            update(SmsSlotRun)
            .where(SmsSlotRun.id == slot.run_id, SmsSlotRun.first_accepted_at.is_(None))
            .values(first_accepted_at=out.accepted[0]["b_at"])
            .execution_options(synchronize_session=False)
        )
