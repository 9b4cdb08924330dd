"""Retention: personal data kept no longer than the operator's settings say.

One pass (the ``retention`` job, daily) applies each rule that is on; a rule set to 0 (the
default) keeps everything forever. Every rule is one set-based UPDATE whose WHERE clause
excludes what is already anonymised, so a second pass changes nothing (the job is idempotent)
and a crash mid-pass loses nothing (one transaction per run). Rows are anonymised, never
deleted: counts, statuses and timestamps stay, so progress figures and reports still add up.

``GRIDSERVE_RETAIN_SMS_DAYS`` (``retain_sms_days``)
    An SMS message in a final status (accepted, delivered, failed, expired, opted out) whose
    last event (finished, else accepted, else created) is more than N days old, and whose slot
    has ended, loses its body (emptied), its encrypted number (emptied) and its number's keyed
    hash (replaced by ``anon:<id>``, see ``ANONYMISED_HASH_PREFIX`` in the outbox model: unique
    per row, so the outbox's unique keys still hold, and never equal to a real hash). Status,
    kind, campaign, sender, text, channel, segments, attempts, error and times are kept. An
    anonymised message is no longer found by number, re-hashed by ``gridserve keys rotate`` or
    re-queued. Choose N longer than any window a text is deduplicated over (the case feedback
    window, reminders): the once-per-number key of an anonymised text no longer matches.
    The same rule empties the recipient lists of campaigns that ended more than N days ago
    (their last day, local time): each recipient loses its encrypted number (emptied), its name
    (cleared) and its keyed hash (``anon:<id>``); the rows stay, so a campaign's recipient
    counts still add up.
``GRIDSERVE_RETAIN_CASE_REPORTER_DAYS`` (``retain_case_reporter_days``)
    A case closed or cancelled more than N days ago (``closed_at``) loses its reporter's name
    (emptied), encrypted phone and phone hash (cleared), and its feedback rows' phone hash
    (cleared: ratings by reply are no longer matched). The case, its history and rating stay;
    its ``updated_at`` too (terminals are not sent the case again for this).

Each pass that has a rule on writes one audit entry, ``retention``, with the cut-offs and the
rows changed per rule.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, cast, literal, or_, select, update

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    CASE_FINAL_STATUSES,
    CaseFeedback,
    SmsCampaign,
    SmsMessage,
    SmsRecipient,
    SmsSender,
    Task,
)
from gridserve.models.sms.outbox import ANONYMISED_HASH_PREFIX, FINAL_STATUSES
from gridserve.timeutil import zone


def anonymise_sms(days: int, now: dt.datetime) -> int:
    """Empty the body and number of final messages older than ``days``; the rows changed."""
    cutoff = now - dt.timedelta(days=days)
    last_event = db.func.coalesce(
        SmsMessage.finished_at, SmsMessage.accepted_at, SmsMessage.created_at
    )
    return db.session.execute(
        update(SmsMessage)
        .where(
            SmsMessage.status.in_(FINAL_STATUSES),
            last_event < cutoff,
            or_(SmsMessage.slot_end.is_(None), SmsMessage.slot_end < now),
            SmsMessage.phone_hash.not_like(f"{ANONYMISED_HASH_PREFIX}%"),
        )
        .values(
            body="",
            phone_enc=b"",
            phone_hash=literal(ANONYMISED_HASH_PREFIX, String) + cast(SmsMessage.id, String),
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def anonymise_recipients(days: int, now: dt.datetime) -> int:
    """Empty the numbers and names on the recipient lists of campaigns whose last day is more
    than ``days`` days before today (local); the rows changed."""
    last_day = now.astimezone(zone()).date() - dt.timedelta(days=days + 1)
    ended = (
        select(SmsSender.id)
        .join(SmsCampaign, SmsCampaign.id == SmsSender.campaign_id)
        .where(SmsCampaign.end_date <= last_day)
    )
    return db.session.execute(
        update(SmsRecipient)
        .where(
            SmsRecipient.sender_id.in_(ended),
            SmsRecipient.phone_hash.not_like(f"{ANONYMISED_HASH_PREFIX}%"),
        )
        .values(
            phone_enc=b"",
            name=None,
            phone_hash=literal(ANONYMISED_HASH_PREFIX, String) + cast(SmsRecipient.id, String),
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def anonymise_case_reporters(days: int, now: dt.datetime) -> dict[str, int]:
    """Clear the reporter contacts of cases closed more than ``days`` ago."""
    cutoff = now - dt.timedelta(days=days)
    old_case = (
        Task.kind == "case",
        Task.status.in_(CASE_FINAL_STATUSES),
        Task.closed_at < cutoff,
    )
    cases = db.session.execute(
        update(Task)
        .where(
            *old_case,
            or_(
                Task.reporter_name != "",
                Task.reporter_phone_enc.is_not(None),
                Task.reporter_phone_hash.is_not(None),
            ),
        )
        .values(
            reporter_name="",
            reporter_phone_enc=None,
            reporter_phone_hash=None,
            updated_at=Task.updated_at,  # not a change terminals or lists need to see
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    feedback = db.session.execute(
        update(CaseFeedback)
        .where(
            CaseFeedback.phone_hash.is_not(None),
            CaseFeedback.task_id.in_(select(Task.id).where(*old_case)),
        )
        .values(phone_hash=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return {"cases": cases, "feedback": feedback}


def run_pass(now: dt.datetime | None = None) -> dict[str, object]:
    """Apply every retention rule that is on (see the module docstring); one audit entry."""
    cfg = settings()
    now = now or utcnow()
    out: dict[str, object] = {
        "retain_sms_days": cfg.retain_sms_days,
        "retain_case_reporter_days": cfg.retain_case_reporter_days,
    }
    if not (cfg.retain_sms_days or cfg.retain_case_reporter_days):
        return out  # both rules off: keep everything, record nothing
    if cfg.retain_sms_days:
        out["sms_messages"] = anonymise_sms(cfg.retain_sms_days, now)
        out["sms_recipients"] = anonymise_recipients(cfg.retain_sms_days, now)
    if cfg.retain_case_reporter_days:
        found = anonymise_case_reporters(cfg.retain_case_reporter_days, now)
        out["case_reporters"] = found["cases"]
        out["case_feedback"] = found["feedback"]
    audit.record("retention", "retention", None, out)
    return out
