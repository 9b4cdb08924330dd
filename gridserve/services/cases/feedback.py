"""Feedback to residents on closed cases, and their ratings (by SMS reply or on the page).

Sending (:func:`send_due`, the ``case-feedback`` job)
    A case closed less than ``case_feedback_hours`` ago that has no feedback yet: each
    consenting reporter with a mobile (:func:`gridserve.services.cases.intake.reporters`: the
    case's and those of cases merged into it, each number once) gets one text on the case
    channel (:func:`gridserve.services.cases.notify.case_channel`) ending with how to rate and
    a short code — or, with the ``public_url`` setting, the rating page's full address
    ``<public_url>/r/<code>`` — within two segments (:func:`body_of`), and one
    :class:`CaseFeedback` row. The outbox purpose is
    ``case-feedback:<task id>``, so a case and number get one text however often the job runs.
    Texts are only queued: the dispatcher holds them through the quiet hours. A case closed
    longer ago than the window is never texted late (counted ``late`` for a day past it); with
    no channel configured nothing is sent or stored (counted ``no_channel``), so the cases go
    out if a channel is set up while they are still within the window.
Rating (:func:`rate`, :func:`rate_by_reply`, :func:`rate_by_code`)
    One rating per case: a second is 409 ``already_rated``. The page's refusals (unknown code,
    bad rating, already rated) are raised before anything is written and keep the request's
    rate-limit count (``persist``), as Open311's do. The rating is written on the
    feedback row and the task (``rating``, ``rated_at``, version bumped), with a ``rate`` event
    and an audit entry. A reply "1", "2" or "3" (trimmed, full-width digits too) rates the case
    of the most recent feedback sent to that number when it was sent within
    ``case_rating_days``; any other reply (or a late one) is left to the opt-out check.
    Not satisfied (3) reopens the case at the level that closed it (reason "居民不满意") and the
    office at that level is told with reason ``case_escalated`` (the case came back up to it).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import exists, func, select

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import CaseCategory, CaseFeedback, SmsMessage, Task, TaskEvent
from gridserve.services.cases import intake, ladder, notify
from gridserve.services.sms import direct
from gridserve.services.sms import numbers as sms_numbers
from gridserve.sms import phones
from gridserve.sms import text as sms_text
from gridserve.sync import next_seq
from gridserve.timeutil import zone
from gridserve.versioning import update_versioned

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read off a phone screen
CODE_LENGTH = 8
HOW_TO_RATE = "回复1满意 2基本满意 3不满意"
RATINGS = {1: "满意", 2: "基本满意", 3: "不满意"}
REOPEN_REASON = "居民不满意"
_FULL_WIDTH = str.maketrans("１２３", "123")
SEGMENTS = 2  # a feedback text fits two segments (134 UCS-2 units with its signature)
TITLE_MAX, TITLE_MIN = 30, 6


def purpose(task_id: int) -> str:
    """The outbox purpose key of a case's feedback texts."""
    return f"case-feedback:{task_id}"


def new_code() -> str:
    """A fresh short code: 8 characters of an unambiguous alphabet (32^8 ≈ 10^12)."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(select(CaseFeedback.id).where(CaseFeedback.code == code)) is None:
            return code


def _closed_on(task: Task) -> str | None:
    return task.closed_at.astimezone(zone()).date().isoformat() if task.closed_at else None


def rating_url(code: str) -> str | None:
    """The rating page's full address (``<public_url>/r/<code>``), None without a
    ``public_url`` setting."""
    base = settings().public_url
    return f"{base}/r/{code}" if base else None


def body_of(task: Task, code: str, *, signature: str = "") -> str:
    """The feedback text: the case, then how to rate, then the code — or, with the
    ``public_url`` setting, the rating page's full address instead of the code:
    ``…回复1满意 2基本满意 3不满意，或访问 https://…/r/<code>``.

    The case's title (at most 30 characters) is shortened with "…" so that the text, signed
    with ``【signature】``, stays within :data:`SEGMENTS` segments as carriers count them
    (:func:`gridserve.sms.text.split`); never below :data:`TITLE_MIN` characters (a very long
    address then takes another segment)."""
    closed = _closed_on(task) or ""
    url = rating_url(code)
    tail = f"，或访问 {url}" if url else f"（评价码{code}）"
    prefix = f"【{signature}】" if signature else ""

    def render(title: str) -> str:
        return f"您反映的“{title}”已于{closed}办结。请评价：{HOW_TO_RATE}{tail}"

    full = task.title[:TITLE_MAX]
    title = full
    while len(sms_text.split(prefix + render(title))) > SEGMENTS and len(title) > TITLE_MIN:
        title = full[: len(title) - 2] + "…"
    return render(title)


def _mobile(phone: str) -> str | None:
    try:
        return phones.to_e164(phone)
    except ValueError:
        return None


def send_due(now: dt.datetime | None = None) -> dict[str, int]:
    """The ``case-feedback`` job (one pass; the caller's transaction): see the module rules.
    Returns counts: ``cases`` fed back, ``texts`` queued, ``late``, ``no_channel``."""
    now = now or utcnow()
    window = dt.timedelta(hours=settings().case_feedback_hours)
    cutoff = now - window
    unfed = ~exists().where(CaseFeedback.task_id == Task.id)
    closed = (Task.kind == "case", Task.status == "closed", Task.closed_at.is_not(None), unfed)
    late = db.session.scalar(
        select(func.count())
        .select_from(Task)
        .where(*closed, Task.closed_at < cutoff, Task.closed_at >= cutoff - dt.timedelta(days=1))
    )
    due = list(
        db.session.scalars(
            select(Task).where(*closed, Task.closed_at >= cutoff).order_by(Task.closed_at, Task.id)
        )
    )
    out = {"cases": 0, "texts": 0, "late": late or 0, "no_channel": 0}
    channel = notify.case_channel()
    if channel is None:
        out["no_channel"] = len(due)
        return out
    hasher = sms_numbers.hasher()
    for task in due:
        texts = 0
        for _name, phone in intake.reporters(task):
            mobile = _mobile(phone)
            if mobile is None:
                continue
            code = new_code()
            key = purpose(task.id)
            if not direct.queue(
                channel,
                key,
                mobile,
                direct.signed(channel, body_of(task, code, signature=channel.signature or "")),
                now,
            ):
                continue
            phone_hash = hasher(mobile)
            message_id = db.session.scalar(
                select(SmsMessage.id).where(
                    SmsMessage.purpose == key, SmsMessage.phone_hash == phone_hash
                )
            )
            row = CaseFeedback(
                task_id=task.id, code=code, phone_hash=phone_hash, message_id=message_id,
                sent_at=now,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            audit.record("create", "case_feedback", row.id, {"task_id": task.id})
            texts += 1
        out["texts"] += texts
        out["cases"] += 1 if texts else 0
    return out


# --- rating -----------------------------------------------------------------------------------


def by_code(code: str) -> CaseFeedback:
    """The feedback row of ``code`` (any case), else 404 ``unknown_code``."""
    row = db.session.scalar(
        select(CaseFeedback).where(CaseFeedback.code == (code or "").strip().upper()[:16])
    )
    if row is None:
        raise NotFound("No case has this rating code.", code="unknown_code", persist=True)
    return row


def page(code: str) -> dict[str, Any]:
    """What the public rating page shows: no personal data."""
    row = by_code(code)
    task = db.session.get(Task, row.task_id)
    category = db.session.get(CaseCategory, task.category_id) if task.category_id else None
    return {
        "code": row.code,
        "title": task.title,
        "category": category.name if category else "",
        "closed_on": task.closed_at.astimezone(zone()).date().isoformat()
        if task.closed_at
        else None,
        "rating": task.rating,
        "rated": task.rating is not None,
    }


def rate(
    row: CaseFeedback, rating: int, via: str, comment: str = "", now: dt.datetime | None = None
) -> Task:
    """Rate the case of ``row`` (1 satisfied, 2 fairly, 3 not satisfied) once; 3 reopens it."""
    if rating not in RATINGS:
        raise ValueError(f"a rating of 1, 2 or 3, got {rating!r}")
    now = now or utcnow()
    task = db.session.get(Task, row.task_id)
    if task.rating is not None or row.rating is not None:
        raise Conflict("This case has already been rated.", code="already_rated",
                       details={"rating": task.rating}, persist=True)  # fmt: skip
    seq = next_seq()
    version = update_versioned(
        Task, None, Task.id == task.id, Task.rating.is_(None),
        rating=rating, rated_at=now, change_seq=seq, updated_at=now,
    )  # fmt: skip
    if version is None:  # a concurrent rating won
        db.session.expire(task)
        raise Conflict("This case has already been rated.", code="already_rated",
                       details={"rating": task.rating}, persist=True)  # fmt: skip
    db.session.expire(task)
    row.rating, row.rated_at, row.rated_via, row.comment = rating, now, via, comment[:500]
    db.session.add(
        TaskEvent(
            task_id=task.id, action="rate", from_status=task.status, to_status=task.status,
            from_worker_id=task.assigned_worker_id, to_worker_id=task.assigned_worker_id,
            from_level=task.level, to_level=task.level,
            note=f"{RATINGS[rating]}（{via}）" + (f"：{comment[:200]}" if comment else ""),
            change_seq=seq, at=now,
        )
    )  # fmt: skip
    db.session.flush()
    audit.record("update", "tasks", task.id,
                 {"step": "rate", "rating": rating, "via": via, "feedback_id": row.id})  # fmt: skip
    if rating == 3 and task.status == "closed":
        level = task.closed_level or task.level or "cell"
        ladder.reopen_case(None, task, task.version, REOPEN_REASON)
        notify.tell(task, "case_escalated",
                    f"居民对案件“{task.title[:30]}”不满意，案件已重开，请重新处理。",
                    level=level)  # fmt: skip
    return task


def rate_by_code(code: str, rating: Any, comment: Any = "") -> dict[str, Any]:
    """The public page's rating: 404 unknown code, 422 bad rating, 409 ``already_rated``."""
    row = by_code(code)
    try:
        value = int(str(rating).strip().translate(_FULL_WIDTH))
    except ValueError:
        value = 0
    if value not in RATINGS:
        raise ValidationFailed("Rate 1, 2 or 3.", code="invalid_rating",
                               details={"rating": ["1, 2 or 3"]}, persist=True)  # fmt: skip
    rate(row, value, "page", str(comment or "").strip())
    return {**page(code), "rating": value, "rated": True}


def reply_rating(text: str) -> int | None:
    """1, 2 or 3 when the reply is exactly that (trimmed, full-width digits too)."""
    value = (text or "").strip().translate(_FULL_WIDTH)
    return int(value) if value in ("1", "2", "3") else None


def rate_by_reply(phone: str, text: str, now: dt.datetime | None = None) -> str | None:
    """A reply from ``phone`` (E.164): ``"rated"`` or ``"already_rated"`` when it rates the most
    recent case feedback sent to that number within ``case_rating_days``; None when it is no
    rating (left to the opt-out check)."""
    rating = reply_rating(text)
    if rating is None:
        return None
    now = now or utcnow()
    since = now - dt.timedelta(days=settings().case_rating_days)
    row = db.session.scalar(
        select(CaseFeedback)
        .where(CaseFeedback.phone_hash == sms_numbers.hasher()(phone))
        .order_by(CaseFeedback.sent_at.desc(), CaseFeedback.id.desc())
        .limit(1)
    )
    if row is None or row.sent_at < since:
        return None
    try:
        rate(row, rating, "sms", "", now)
    except Conflict:
        return "already_rated"
    return "rated"
