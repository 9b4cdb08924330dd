"""The case deadline job: each overdue case one level up, once (also when two schedulers race),
with its event, audit entry, notice and duty text; paused, closed and not-yet-due cases left
alone; the next level's clock; supervision reminded once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachNotice, SmsMessage, Task, TaskEvent
from gridserve.scope import OPERATOR
from gridserve.services.cases import deadlines
from gridserve.services.field import tasks as task_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.timeutil import local_today
from jobs.registry import run_job
from tests.api.outreach.test_notices import put_channel
from tests.clock import at_local, move_to, zone
from tests.conftest import login

COMMUNITY_DUTY = "+8613700000001"
STREET_DUTY = "+8613700000003"


def _case(
    cases,
    *,
    category: str = "neighbour_dispute",
    level: str = "cell",
    due: dt.timedelta = dt.timedelta(minutes=-5),
    **fields,
) -> int:
    """A case of community A at ``level`` of ``category``, due ``due`` from now (negative:
    overdue); ``fields`` set directly (status, paused_at, supervision...)."""
    task = task_service.create_task(
        OPERATOR,
        {"kind": "case", "title": "楼道堆物", "area_id": cases.field.world.community_a},
        local_today(),
    )
    now = utcnow()
    task.category_id = cases.categories[category]
    task.level = level
    task.level_started_at = now - dt.timedelta(days=1)
    task.level_due_at = now + due
    for name, value in fields.items():
        setattr(task, name, value)
    db.session.flush()
    return task.id


def _texts_to(phone: str) -> int:
    key = sms_numbers.hasher().stored(phone)["phone_hash"]
    return db.session.scalar(
        select(func.count()).select_from(SmsMessage).where(SmsMessage.phone_hash == key)
    )


def _escalations(task_id: int) -> list[TaskEvent]:
    return list(
        db.session.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task_id, TaskEvent.action == "escalate")
        )
    )


def _notices(task_id: int) -> list[OutreachNotice]:
    return list(db.session.scalars(select(OutreachNotice).where(OutreachNotice.task_id == task_id)))


@pytest.fixture
def channel(cases, client, override_settings, tmp_path) -> None:
    override_settings(case_feedback_channel="CGJ", sms_outbox_path=tmp_path)
    put_channel(client, login(client, "coordinator"), code="CGJ")


def test_an_overdue_case_goes_up_once_with_its_event_notice_and_duty_text(
    cases, channel, ctx
) -> None:
    task_id = _case(cases, status="accepted")
    before = db.session.get(Task, task_id)
    version, due = before.version, before.level_due_at
    first = deadlines.run_pass()
    assert first["escalated"] == 1 and first["notified"] == 1
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.level == "community" and task.escalations == 1
    assert task.status == "open"  # an accepted case is open again at the new level
    assert task.version == version + 1 and task.level_started_at > due
    [event] = _escalations(task_id)
    assert (event.from_level, event.to_level) == ("cell", "community")
    assert (event.from_status, event.to_status) == ("accepted", "open")
    assert event.note.startswith("overdue at cell since ")
    assert event.change_seq == task.change_seq
    [notice] = _notices(task_id)
    assert notice.reason == "case_escalated" and notice.area_id == cases.field.world.community_a
    assert notice.event_version == task.version and notice.texted == 1
    assert _texts_to(COMMUNITY_DUTY) == 1
    audited = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "tasks", AuditEntry.entity_id == str(task_id))
    ).all()
    assert any((a.details or {}).get("level") == ["cell", "community"] for a in audited)
    # Run again: nothing new (the case is not overdue at its new level).
    again = deadlines.run_pass()
    assert again["escalated"] == 0
    db.session.expire_all()
    assert db.session.get(Task, task_id).escalations == 1
    assert len(_escalations(task_id)) == 1 and len(_notices(task_id)) == 1
    assert _texts_to(COMMUNITY_DUTY) == 1


def test_a_pass_texts_each_office_once_naming_its_cases(cases, channel, ctx) -> None:
    ids = [_case(cases, due=dt.timedelta(minutes=-i - 1)) for i in range(3)]
    street = _case(cases, level="community")
    _case(cases, level="district")  # overdue with nowhere to go: counted
    result = deadlines.run_pass()
    assert result["escalated"] == 4 and result["notified"] == 4
    assert result["overdue_at_top"] == 1
    # One digest to the community's duty mobile naming its three cases, and the street's own
    # text for its one case; every case has its notice, texted.
    [digest] = db.session.scalars(
        select(SmsMessage).where(
            SmsMessage.phone_hash == sms_numbers.hasher().stored(COMMUNITY_DUTY)["phone_hash"]
        )
    ).all()
    assert digest.body.count("#") == 3 and all(f"#{i}" in digest.body for i in ids)
    assert "3件" in digest.body
    assert _texts_to(STREET_DUTY) == 1
    for task_id in [*ids, street]:
        [notice] = _notices(task_id)
        assert notice.texted == 1 and f"#{task_id}" in notice.message
        [event] = _escalations(task_id)
        # The case's audit entry names its notice and says why, as its event does.
        [entry] = [
            a
            for a in db.session.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity == "tasks", AuditEntry.entity_id == str(task_id)
                )
            )
            if "notice" in (a.details or {})
        ]
        assert entry.details["notice"] == notice.id
        assert entry.details["reason"] == event.note
        version = db.session.get(Task, task_id).version
        assert entry.details["version"] == [version - 1, version]
    # Another pass later escalates nothing more and texts nobody again.
    assert deadlines.run_pass()["escalated"] == 0
    assert _texts_to(COMMUNITY_DUTY) == 1 and _texts_to(STREET_DUTY) == 1


def test_a_digest_names_as_many_cases_as_fit_and_counts_them() -> None:
    from gridserve.services.cases import notify

    ids = list(range(100_000, 100_060))
    text = notify.digest_text("60件事件超时升级至某社区，请处理", ids)
    assert len(text) <= notify.DIGEST_MAX and text.endswith("…等60件")
    assert "#100000、#100001" in text and "#100059" not in text
    assert notify.digest_text("2件", [7, 9]) == "2件：#7、#9"


def test_not_yet_due_paused_and_closed_cases_are_left_alone(cases, ctx) -> None:
    later = _case(cases, due=dt.timedelta(minutes=5))
    paused = _case(cases, paused_at=utcnow() - dt.timedelta(hours=1), pause_reason="等待住户")
    closed = _case(cases, status="closed", closed_at=utcnow(), closed_level="cell")
    cancelled = _case(cases, status="cancelled", closed_at=utcnow())
    plain_task = task_service.create_task(
        OPERATOR, {"title": "走访", "area_id": cases.field.world.community_a}, local_today()
    )
    plain_task.level_due_at = utcnow() - dt.timedelta(hours=1)  # not a case: not the ladder
    db.session.flush()
    at_top = _case(cases, level="district")
    result = deadlines.run_pass()
    assert result["escalated"] == 0 and result["overdue_at_top"] == 1
    db.session.expire_all()
    for task_id in (later, paused, closed, cancelled, plain_task.id, at_top):
        assert db.session.get(Task, task_id).escalations == 0
        assert not _escalations(task_id) and not _notices(task_id)
    assert db.session.get(Task, at_top).level == "district"
    assert db.session.get(Task, paused).level == "cell"


def test_the_next_levels_clock_in_hours_and_working_days(cases, ctx) -> None:
    # Friday 6 March 2026, 10:00 local: a working day with a weekend after it.
    move_to(at_local(dt.date(2026, 3, 6), dt.time(10, 0)))
    hours = _case(cases, category="accident", level="cell")  # community: 4 hours
    days = _case(cases, category="neighbour_dispute", level="cell")  # community: 2 working days
    street = _case(cases, category="neighbour_dispute", level="community")  # street: 3
    now = utcnow()
    assert deadlines.run_pass()["escalated"] == 3
    db.session.expire_all()
    by_hours = db.session.get(Task, hours)
    assert by_hours.level == "community"
    assert abs(by_hours.level_started_at - now) < dt.timedelta(minutes=1)
    assert abs(by_hours.level_due_at - (by_hours.level_started_at + dt.timedelta(hours=4))) < (
        dt.timedelta(seconds=1)
    )
    # Two working days from Friday: Tuesday, at the same local time.
    by_days = db.session.get(Task, days).level_due_at.astimezone(zone())
    assert (by_days.date(), by_days.hour, by_days.minute) == (dt.date(2026, 3, 10), 10, 0)
    by_street = db.session.get(Task, street)
    street_due = by_street.level_due_at.astimezone(zone())
    assert (by_street.level, street_due.date(), street_due.hour) == (
        "street",
        dt.date(2026, 3, 11),
        10,
    )
    # The 4 hours pass: the accident goes on to the street, the others wait for their days.
    move_to(at_local(dt.date(2026, 3, 6), dt.time(14, 1)))
    assert deadlines.run_pass()["escalated"] == 1
    db.session.expire_all()
    assert db.session.get(Task, hours).level == "street"
    assert db.session.get(Task, days).level == "community"


def test_a_supervised_case_past_its_due_time_reminds_the_street_once(cases, channel, ctx) -> None:
    now = utcnow()
    task_id = _case(
        cases,
        due=dt.timedelta(days=3),
        supervised_at=now - dt.timedelta(days=2),
        supervision_due_at=now - dt.timedelta(minutes=1),
    )
    not_yet = _case(
        cases,
        due=dt.timedelta(days=3),
        supervised_at=now - dt.timedelta(days=2),
        supervision_due_at=now + dt.timedelta(hours=1),
    )
    assert deadlines.run_pass()["reminded"] == 1
    assert deadlines.run_pass()["reminded"] == 0
    [notice] = _notices(task_id)
    assert notice.reason == "case_supervised" and notice.area_id == cases.field.world.street
    assert "reminder" in notice.changes and notice.texted == 1
    assert _texts_to(STREET_DUTY) == 1
    assert not _notices(not_yet)
    db.session.expire_all()
    assert db.session.get(Task, task_id).escalations == 0


def test_through_the_job_registry(cases, channel, clean_app) -> None:
    with clean_app.app_context():
        task_id = _case(cases, level="community")
        db.session.commit()
    with clean_app.app_context():
        try:
            first = run_job("case-deadlines")
            second = run_job("case-deadlines")
        finally:
            db.session.remove()
    assert first["escalated"] == 1 and second["escalated"] == 0
    with clean_app.app_context():
        task = db.session.get(Task, task_id)
        assert task.level == "street" and task.escalations == 1
        [event] = _escalations(task_id)
        assert event.actor_id is None and event.to_level == "street"
        [notice] = _notices(task_id)
        assert notice.area_id == cases.field.world.street
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "tasks",
                                     AuditEntry.entity_id == str(task_id),
                                     AuditEntry.actor_type == "job")
        ).one()  # fmt: skip
        assert entry.actor_name == "case-deadlines"
        db.session.remove()


@pytest.mark.real_commits
def test_two_schedulers_racing_escalate_each_case_once(cases, clean_app) -> None:
    with clean_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: two passes cannot overlap there")
        ids = [_case(cases, due=dt.timedelta(minutes=-i - 1)) for i in range(60)]
        db.session.commit()
        db.session.remove()
    barrier = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def one_pass() -> None:
        try:
            with clean_app.app_context():
                try:
                    barrier.wait()
                    results.append(run_job("case-deadlines"))
                finally:
                    db.session.remove()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 2
    assert sum(r["escalated"] for r in results) == len(ids)
    with clean_app.app_context():
        rows = db.session.execute(
            select(Task.escalations, Task.level).where(Task.id.in_(ids))
        ).all()
        assert {tuple(r) for r in rows} == {(1, "community")}
        events = db.session.scalar(
            select(func.count())
            .select_from(TaskEvent)
            .where(TaskEvent.task_id.in_(ids), TaskEvent.action == "escalate")
        )
        notices = db.session.scalar(
            select(func.count()).select_from(OutreachNotice).where(OutreachNotice.task_id.in_(ids))
        )
        assert events == len(ids) and notices == len(ids)
        db.session.remove()


def test_tell_many_finds_what_tell_made_and_texts_like_it(cases, channel, ctx) -> None:
    from gridserve.services.cases import notify

    task_id = _case(cases, due=dt.timedelta(days=1))
    task = db.session.get(Task, task_id)
    first = notify.tell(task, "case_escalated", "请处理", level="community")
    other = _case(cases, due=dt.timedelta(days=1))
    told = notify.tell_many(
        [
            notify.Telling(task_id, task.area_id, task.version, "community", "请处理"),
            notify.Telling(other, task.area_id, 1, "street", "请处理"),
        ],
        "case_escalated",
    )
    assert list(told) == [other]  # the first was told already at this version
    assert len(_notices(task_id)) == 1 and _notices(task_id)[0].id == first.id
    [made] = _notices(other)
    assert made.area_id == cases.field.world.street and made.texted == 1
    assert made.changes == {"level": "street"}
    assert _texts_to(STREET_DUTY) == 1 and _texts_to(COMMUNITY_DUTY) == 1


def test_a_new_supervision_due_time_asks_for_a_new_reminder(cases, channel, ctx) -> None:
    now = utcnow()
    task_id = _case(
        cases,
        due=dt.timedelta(days=3),
        supervised_at=now - dt.timedelta(days=2),
        supervision_due_at=now - dt.timedelta(minutes=1),
    )
    assert deadlines.run_pass()["reminded"] == 1
    move_to(now + dt.timedelta(hours=2))
    task = db.session.get(Task, task_id)
    task.supervision_due_at = utcnow() - dt.timedelta(minutes=1)  # the street set a new one
    db.session.flush()
    assert deadlines.run_pass()["reminded"] == 1
    assert deadlines.run_pass()["reminded"] == 0
    assert len(_notices(task_id)) == 2 and _texts_to(STREET_DUTY) == 2
