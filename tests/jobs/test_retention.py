"""The retention job: with the operator's settings on, old final SMS messages lose their body
and number and old closed cases their reporter's contacts, in bulk, counts and statuses kept;
recent rows and open work are left alone; a second run changes nothing; off, nothing changes.
Time travels with :mod:`tests.clock` (time-machine)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from gridserve import crypto
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    AuditEntry,
    CaseFeedback,
    SmsCampaign,
    SmsMessage,
    SmsRecipient,
    SmsSender,
    Task,
)
from gridserve.models.sms.outbox import ANONYMISED_HASH_PREFIX
from gridserve.scope import OPERATOR
from gridserve.services.field import tasks as task_service
from gridserve.services.sms import direct
from gridserve.services.sms import numbers as sms_numbers
from gridserve.timeutil import local_today
from jobs.registry import JOBS, run_job
from tests.api.outreach.test_notices import put_channel
from tests.clock import shift
from tests.conftest import login

DAY = dt.timedelta(days=1)


@pytest.fixture
def channel(cases, client, override_settings, tmp_path):
    override_settings(sms_outbox_path=tmp_path)
    put_channel(client, login(client, "coordinator"), code="CGJ")
    return cases.departments["CGJ"]


def _text(institution_id: int, purpose: str, phone: str, status: str) -> int:
    """A direct text queued now and settled at once in ``status`` (as the dispatcher would)."""
    channel = direct.channel_of(institution_id)
    assert direct.queue(channel, purpose, phone, f"您好 {phone} 的通知", utcnow())
    row_id = db.session.scalar(select(SmsMessage.id).where(SmsMessage.purpose == purpose))
    final = status not in ("queued", "waiting", "submitting")
    db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == row_id)
        .values(status=status, finished_at=utcnow() if final else None)
    )
    return row_id


def _case(cases, name: str, phone: str, *, closed: bool) -> int:
    task = task_service.create_task(
        OPERATOR,
        {"kind": "case", "title": "楼道堆物", "area_id": cases.field.world.community_a},
        local_today(),
    )
    task.category_id = cases.categories["neighbour_dispute"]
    task.reporter_name = name
    task.reporter_phone_enc = crypto.encrypt(phone)
    task.reporter_phone_hash = sms_numbers.hasher()(phone)
    task.callback_consent = True
    if closed:
        task.status, task.closed_at = "closed", utcnow()
        db.session.add(
            CaseFeedback(task_id=task.id, code=f"R{task.id}", phone_hash=task.reporter_phone_hash,
                         sent_at=utcnow())
        )  # fmt: skip
    db.session.flush()
    return task.id


def _snapshot() -> dict[str, object]:
    messages = db.session.execute(
        select(SmsMessage.id, SmsMessage.status, SmsMessage.body, SmsMessage.phone_enc,
               SmsMessage.phone_hash).order_by(SmsMessage.id)
    ).all()  # fmt: skip
    cases = db.session.execute(
        select(Task.id, Task.status, Task.reporter_name, Task.reporter_phone_enc,
               Task.reporter_phone_hash, Task.updated_at).where(Task.kind == "case")
        .order_by(Task.id)
    ).all()  # fmt: skip
    feedback = db.session.execute(
        select(CaseFeedback.id, CaseFeedback.phone_hash).order_by(CaseFeedback.id)
    ).all()
    return {"messages": messages, "cases": cases, "feedback": feedback}


def _retention_audits() -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "retention")
    )


@pytest.fixture
def history(ctx, cases, channel):
    """Forty days ago: two sent texts, a failed one, a queued one, two closed cases with
    reporters and an open one; today: a sent text and a closed case."""
    shift(-40 * DAY)
    old = {
        "delivered": _text(channel, "old-1", "+8613800000001", "delivered"),
        "failed": _text(channel, "old-2", "+8613800000002", "failed"),
        "accepted": _text(channel, "old-3", "+8613800000003", "accepted"),
        "queued": _text(channel, "old-4", "+8613800000004", "queued"),
        "closed": _case(cases, "张三", "+8613900000001", closed=True),
        "closed2": _case(cases, "李四", "+8613900000002", closed=True),
        "open": _case(cases, "王五", "+8613900000003", closed=False),
    }
    shift(40 * DAY)
    recent = {
        "delivered": _text(channel, "new-1", "+8613800000011", "delivered"),
        "closed": _case(cases, "赵六", "+8613900000011", closed=True),
    }
    db.session.flush()
    return old, recent


def test_retention_is_a_daily_job():
    job = JOBS["retention"]
    assert job.trigger == "cron" and not job.commits_in_steps


def test_off_by_default_nothing_changes(history, clean_app):
    cfg = clean_app.extensions["gridserve_settings"]
    assert (cfg.retain_sms_days, cfg.retain_case_reporter_days) == (0, 0)
    before = _snapshot()
    run_job("retention")
    assert _snapshot() == before
    assert _retention_audits() == 0


def test_old_sms_bodies_and_numbers_go_counts_and_statuses_stay(history, override_settings):
    old, recent = history
    override_settings(retain_sms_days=30)
    before = _snapshot()
    counts = dict(
        db.session.execute(
            select(SmsMessage.status, func.count()).group_by(SmsMessage.status)
        ).all()
    )
    result = run_job("retention")
    assert result["sms_messages"] == 3  # delivered, failed, accepted; the queued one waits
    after = {row.id: row for row in _snapshot()["messages"]}
    for key in ("delivered", "failed", "accepted"):
        row = after[old[key]]
        assert row.body == "" and row.phone_enc == b""
        assert row.phone_hash == f"{ANONYMISED_HASH_PREFIX}{old[key]}"
        assert row.status == key
    for kept in (old["queued"], recent["delivered"]):
        assert after[kept] == next(r for r in before["messages"] if r.id == kept)
        assert crypto.decrypt(after[kept].phone_enc).startswith("+86138")
    assert counts == dict(
        db.session.execute(
            select(SmsMessage.status, func.count()).group_by(SmsMessage.status)
        ).all()
    )
    # The case rule is off: reporters untouched.
    assert _snapshot()["cases"] == before["cases"]
    # An anonymised text is no longer found by its number; a rotation of the keys skips it.
    assert not db.session.scalar(
        select(func.count())
        .select_from(SmsMessage)
        .where(SmsMessage.phone_hash == sms_numbers.hasher()("+8613800000001"))
    )
    sms_numbers.rehash_all()
    assert _retention_audits() == 1

    snapshot = _snapshot()
    again = run_job("retention")
    assert again["sms_messages"] == 0
    assert _snapshot() == snapshot
    assert {r.id: r for r in _snapshot()["messages"]}[old["delivered"]] == after[old["delivered"]]
    assert _retention_audits() == 2  # one summary entry per run


def test_closed_cases_lose_their_reporter_after_the_period(history, override_settings):
    old, recent = history
    override_settings(retain_case_reporter_days=30)
    before = {row.id: row for row in _snapshot()["cases"]}
    result = run_job("retention")
    assert result["case_reporters"] == 2 and result["case_feedback"] == 2
    assert "sms_messages" not in result  # that rule is off
    after = {row.id: row for row in _snapshot()["cases"]}
    for key in ("closed", "closed2"):
        row = after[old[key]]
        assert (row.reporter_name, row.reporter_phone_enc, row.reporter_phone_hash) == (
            "", None, None
        )  # fmt: skip
        assert row.status == "closed"
        assert row.updated_at == before[old[key]].updated_at
    assert after[old["open"]] == before[old["open"]]
    assert after[recent["closed"]] == before[recent["closed"]]
    feedback = dict(_snapshot()["feedback"])
    assert [h is None for h in feedback.values()].count(True) == 2
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "retention")).one()
    assert entry.details["case_reporters"] == 2

    snapshot = _snapshot()
    assert run_job("retention") == {**result, "case_reporters": 0, "case_feedback": 0}
    assert _snapshot() == snapshot


def test_a_recent_row_goes_once_its_period_has_passed(history, override_settings):
    old, recent = history
    override_settings(retain_sms_days=30, retain_case_reporter_days=30)
    run_job("retention")
    shift(31 * DAY)
    result = run_job("retention")
    assert result["sms_messages"] == 1 and result["case_reporters"] == 1
    after = {row.id: row for row in _snapshot()["messages"]}
    assert after[recent["delivered"]].body == ""
    assert after[old["queued"]].body != ""  # never sent: kept until it is final


def _campaign_with_recipients(cases, code: str, last_day: dt.date, phones: list[str]) -> list[int]:
    """A campaign of the channel's institution that ended on ``last_day``, with ``phones`` on
    its sender's list; the recipients' ids."""
    campaign = SmsCampaign(
        code=code, name="宣传月", area_id=cases.field.world.community_a,
        start_date=last_day - 10 * DAY, end_date=last_day,
    )  # fmt: skip
    db.session.add(campaign)
    db.session.flush()
    sender = SmsSender(campaign_id=campaign.id, institution_id=cases.departments["CGJ"], position=1)
    db.session.add(sender)
    db.session.flush()
    hasher = sms_numbers.hasher()
    rows = [
        SmsRecipient(sender_id=sender.id, phone_enc=crypto.encrypt(p), phone_hash=hasher(p),
                     name="居民", source="csv")
        for p in phones
    ]  # fmt: skip
    db.session.add_all(rows)
    db.session.flush()
    return [r.id for r in rows]


def test_ended_campaigns_recipient_lists_lose_their_numbers_after_the_period(
    ctx, cases, override_settings
):
    today = local_today()
    old = _campaign_with_recipients(
        cases, "OLD-1", today - 31 * DAY, ["+8613700000001", "+8613700000002"]
    )
    edge = _campaign_with_recipients(cases, "EDGE-1", today - 30 * DAY, ["+8613700000003"])
    running = _campaign_with_recipients(cases, "NOW-1", today + 5 * DAY, ["+8613700000004"])
    override_settings(retain_sms_days=30)
    result = run_job("retention")
    assert result["sms_recipients"] == 2
    rows = {
        r.id: r
        for r in db.session.execute(
            select(SmsRecipient).execution_options(populate_existing=True)
        ).scalars()
    }
    for ident in old:
        assert rows[ident].phone_enc == b"" and rows[ident].name is None
        assert rows[ident].phone_hash == f"{ANONYMISED_HASH_PREFIX}{ident}"
    for ident in edge + running:  # ended 30 days ago (not more), or still running: kept
        assert crypto.decrypt(rows[ident].phone_enc).startswith("+86137")
        assert rows[ident].name == "居民"
    # The list still counts its rows and shows them without a number; keys rotate past them.
    from gridserve.services.sms.recipients import describe_recipient, recipient_count

    assert recipient_count(rows[old[0]].sender_id) == 2
    assert describe_recipient(rows[old[0]])["phone"] is None
    sms_numbers.rehash_all()
    assert run_job("retention")["sms_recipients"] == 0
    # Off: nothing more changes, whatever the age.
    override_settings(retain_sms_days=0)
    assert "sms_recipients" not in run_job("retention")
