"""Feedback to residents on closed cases: one text per case and number within the window, a
reply 1/2/3 within the rating window rates the most recent feedback's case (other replies still
opt out), the public rating page (HTML and JSON, once, 404, 429), and an unsatisfied rating
reopening the case at the level that closed it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gridserve import crypto
from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import (
    Area,
    AuditEntry,
    CaseFeedback,
    OutreachNotice,
    SmsMessage,
    SmsOptOut,
    Task,
    TaskEvent,
)
from gridserve.scope import OPERATOR
from gridserve.services.cases import feedback
from gridserve.services.field import tasks as task_service
from gridserve.services.sms import direct, inbound
from gridserve.services.sms import numbers as sms_numbers
from gridserve.sms import text as sms_text
from gridserve.sms.gateways.base import Inbound
from gridserve.timeutil import local_today
from jobs.registry import run_job
from tests.api.outreach.test_notices import put_channel
from tests.clock import at_local, move_to
from tests.conftest import login

RESIDENT = "+8613812345678"
NEIGHBOUR = "+8613912345678"


def _closed(
    cases,
    *,
    phone: str | None = "13812345678",
    consent: bool = True,
    ago: dt.timedelta = dt.timedelta(hours=1),
    level: str = "community",
    title: str = "楼道堆物",
    **fields,
) -> int:
    """A case of community A closed ``ago`` at ``level`` with its reporter."""
    task = task_service.create_task(
        OPERATOR,
        {"kind": "case", "title": title, "area_id": cases.field.world.community_a},
        local_today(),
    )
    closed_at = utcnow() - ago
    task.category_id = cases.categories["noise"]
    task.level = task.closed_level = level
    task.level_started_at = closed_at - dt.timedelta(hours=2)
    task.status, task.closed_at = "closed", closed_at
    task.reporter_name, task.callback_consent = "张三", consent
    if phone:
        task.reporter_phone_enc = crypto.encrypt(phone)
        task.reporter_phone_hash = sms_numbers.hasher()(RESIDENT)
    for name, value in fields.items():
        setattr(task, name, value)
    db.session.flush()
    return task.id


def _texts(phone: str, task_id: int | None = None) -> list[SmsMessage]:
    key = sms_numbers.hasher()(phone)
    stmt = select(SmsMessage).where(SmsMessage.phone_hash == key)
    if task_id is not None:
        stmt = stmt.where(SmsMessage.purpose == f"case-feedback:{task_id}")
    return list(db.session.scalars(stmt))


def _rows(task_id: int) -> list[CaseFeedback]:
    return list(db.session.scalars(select(CaseFeedback).where(CaseFeedback.task_id == task_id)))


def _reply(phone: str, text: str) -> str:
    return inbound.apply_reply(Inbound(sender_phone=phone, text=text), [])


@pytest.fixture
def channel(cases, client, override_settings, tmp_path) -> None:
    override_settings(case_feedback_channel="CGJ", sms_outbox_path=tmp_path)
    put_channel(client, login(client, "coordinator"), code="CGJ")


# --- sending ---------------------------------------------------------------------------------


def test_each_consenting_reporter_gets_one_text_however_often_the_job_runs(
    cases, channel, ctx
) -> None:
    task_id = _closed(cases)
    merged = _closed(cases, phone="139 1234 5678", duplicate_of_id=task_id)
    db.session.get(Task, merged).status = "cancelled"
    _closed(cases, phone="13700009999", consent=False)  # no consent: no text
    _closed(cases, phone="028 8888 8888")  # a landline: no text
    first = run_job("case-feedback")
    assert first["cases"] == 1 and first["texts"] == 2  # the case's and its duplicate's
    again = run_job("case-feedback")
    assert again == {"cases": 0, "texts": 0, "late": 0, "no_channel": 0}
    db.session.expire_all()
    [mine] = _texts(RESIDENT, task_id)
    assert len(_texts(NEIGHBOUR, task_id)) == 1
    assert mine.body.endswith("）") and feedback.HOW_TO_RATE in mine.body
    rows = _rows(task_id)
    assert len(rows) == 2 and len({r.code for r in rows}) == 2
    row = next(r for r in rows if r.phone_hash == sms_numbers.hasher()(RESIDENT))
    assert mine.body.endswith(f"{feedback.HOW_TO_RATE}（评价码{row.code}）")
    assert len(row.code) == 8 and set(row.code) <= set(feedback.ALPHABET)
    assert row.message_id == mine.id
    assert len(_texts("+8613700009999")) == 0


def test_with_the_public_url_the_text_ends_with_the_rating_pages_address(
    cases, channel, ctx, client, override_settings
) -> None:
    override_settings(public_url="https://grid.example.gov.cn")
    task_id = _closed(cases)
    run_job("case-feedback")
    db.session.expire_all()
    [text] = _texts(RESIDENT, task_id)
    [row] = _rows(task_id)
    url = f"https://grid.example.gov.cn/r/{row.code}"
    assert text.body.endswith(f"{feedback.HOW_TO_RATE}，或访问 {url}")
    assert "评价码" not in text.body and "楼道堆物" in text.body
    assert sms_text.measure(text.body)["segments"] <= feedback.SEGMENTS
    page = client.get(f"/r/{row.code}", headers={"Accept": "application/json"})
    assert page.status_code == 200 and page.get_json()["code"] == row.code


def test_a_long_title_is_shortened_to_keep_the_text_within_two_segments(
    cases, channel, ctx, override_settings
) -> None:
    long_title = "小区东门外人行道上的共享单车长期乱停乱放严重影响老人和孩子通行请尽快处理"
    override_settings(public_url="https://wangge.example-district.gov.cn/public")
    with_url = _closed(cases, title=long_title)
    run_job("case-feedback")
    db.session.expire_all()
    [text] = _texts(RESIDENT, with_url)
    [row] = _rows(with_url)
    assert text.body.endswith(
        f"，或访问 https://wangge.example-district.gov.cn/public/r/{row.code}"
    )
    assert sms_text.measure(text.body)["segments"] == 2
    assert "…”已于" in text.body and long_title[:10] in text.body
    # Without the setting: the code, as ever, and room for the title's first 30 characters.
    override_settings(public_url="")
    plain = _closed(cases, title=long_title, phone="13912345678")
    run_job("case-feedback")
    db.session.expire_all()
    [text] = _texts(NEIGHBOUR, plain)
    [row] = _rows(plain)
    assert text.body.endswith(f"{feedback.HOW_TO_RATE}（评价码{row.code}）")
    assert f"“{long_title[:30]}”" in text.body and "http" not in text.body
    assert sms_text.measure(text.body)["segments"] <= feedback.SEGMENTS


def test_a_case_closed_before_the_window_is_never_texted_late(
    cases, channel, ctx, override_settings
) -> None:
    override_settings(case_feedback_hours=24)
    old = _closed(cases, ago=dt.timedelta(hours=30))
    result = run_job("case-feedback")
    assert result["late"] == 1 and result["texts"] == 0
    assert _texts(RESIDENT, old) == [] and _rows(old) == []


def test_in_the_quiet_hours_texts_are_queued_and_held_by_the_dispatcher(
    cases, channel, ctx
) -> None:
    move_to(at_local(local_today(), dt.time(23, 30)))
    task_id = _closed(cases)
    assert run_job("case-feedback")["texts"] == 1
    [text] = _texts(RESIDENT, task_id)
    assert text.status == "queued"
    assert direct.due_lanes() == []  # nothing goes out before the quiet hours end
    move_to(at_local(local_today() + dt.timedelta(days=1), dt.time(9, 0)))
    assert [lane.sender_code for lane in direct.due_lanes()] == ["CGJ"]


def test_without_a_case_channel_nothing_is_sent_and_it_is_counted(cases, ctx) -> None:
    task_id = _closed(cases)
    result = run_job("case-feedback")
    assert result == {"cases": 0, "texts": 0, "late": 0, "no_channel": 1}
    assert _texts(RESIDENT) == [] and _rows(task_id) == []


# --- replies ---------------------------------------------------------------------------------


def test_a_reply_rates_the_most_recent_feedbacks_case_within_the_window(
    cases, channel, ctx
) -> None:
    first = _closed(cases, ago=dt.timedelta(hours=3))
    run_job("case-feedback")
    second = _closed(cases, ago=dt.timedelta(hours=1))
    for row in _rows(first):
        row.sent_at = utcnow() - dt.timedelta(hours=2)
    run_job("case-feedback")
    assert _reply(RESIDENT, " １ ") == "rated"
    db.session.expire_all()
    assert db.session.get(Task, first).rating is None
    task = db.session.get(Task, second)
    assert task.rating == 1 and task.rated_at is not None and task.status == "closed"
    [row] = _rows(second)
    assert (row.rating, row.rated_via) == (1, "sms")
    [event] = db.session.scalars(
        select(TaskEvent).where(TaskEvent.task_id == second, TaskEvent.action == "rate")
    )
    assert event.note.startswith("满意")
    assert db.session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.entity == "tasks", AuditEntry.entity_id == str(second))
    )
    assert _reply(RESIDENT, "2") == "already_rated"
    db.session.expire_all()
    assert db.session.get(Task, second).rating == 1


def test_after_the_rating_window_a_reply_goes_to_the_opt_out_check(cases, channel, ctx) -> None:
    task_id = _closed(cases)
    run_job("case-feedback")
    for row in _rows(task_id):
        row.sent_at = utcnow() - dt.timedelta(days=8)
    db.session.flush()
    assert _reply(RESIDENT, "1") == "ignored"
    db.session.expire_all()
    assert db.session.get(Task, task_id).rating is None


def test_opt_out_replies_still_opt_out(cases, channel, ctx) -> None:
    _closed(cases)
    run_job("case-feedback")
    assert _reply(RESIDENT, "T") == "opted_out"
    assert _reply(NEIGHBOUR, "退订") == "opted_out"
    assert db.session.scalar(select(func.count()).select_from(SmsOptOut)) >= 2
    assert _reply("+8613600000000", "1") == "ignored"  # no feedback to that number


def test_an_unsatisfied_reply_reopens_the_case_at_the_closing_level(cases, channel, ctx) -> None:
    task_id = _closed(cases, level="community")
    run_job("case-feedback")
    version = db.session.get(Task, task_id).version
    assert _reply(RESIDENT, "3") == "rated"
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.status == "open" and task.level == "community" and task.closed_at is None
    assert task.rating == 3 and task.version == version + 2
    actions = list(
        db.session.scalars(
            select(TaskEvent.action).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
        )
    )
    assert actions[-2:] == ["rate", "reopen"]
    [reopen] = db.session.scalars(
        select(TaskEvent).where(TaskEvent.task_id == task_id, TaskEvent.action == "reopen")
    )
    assert reopen.note == "居民不满意" and reopen.to_level == "community"
    [notice] = db.session.scalars(select(OutreachNotice).where(OutreachNotice.task_id == task_id))
    assert notice.area_id == cases.field.world.community_a
    assert notice.reason == "case_escalated"


# --- the page --------------------------------------------------------------------------------


def _code(task_id: int) -> str:
    return _rows(task_id)[0].code


def test_the_page_shows_the_case_without_personal_data_and_takes_a_form_rating(
    cases, channel, ctx, client
) -> None:
    task_id = _closed(cases, title="路灯不亮")
    run_job("case-feedback")
    code = _code(task_id)
    page = client.get(f"/r/{code}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "路灯不亮" in html and 'name="rating" value="3"' in html and "<script" not in html
    assert "张三" not in html and "5678" not in html
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    assert "Authorization" not in page.request.headers
    as_json = client.get(f"/r/{code}", headers={"Accept": "application/json"}).get_json()
    assert as_json["title"] == "路灯不亮" and as_json["rated"] is False
    assert set(as_json) == {"code", "title", "category", "closed_on", "rating", "rated"}
    done = client.post(f"/r/{code}", data={"rating": "2", "comment": "还行"})
    assert done.status_code == 200 and "基本满意" in done.get_data(as_text=True)
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert task.rating == 2 and task.status == "closed"
    assert (_rows(task_id)[0].rated_via, _rows(task_id)[0].comment) == ("page", "还行")
    again = client.post(f"/r/{code}", data={"rating": "1"})
    assert again.status_code == 409 and "已评价" in again.get_data(as_text=True)
    shown = client.get(f"/r/{code}").get_data(as_text=True)
    assert "已评价" in shown and 'name="rating"' not in shown


def test_the_page_takes_json_once_and_refuses_bad_input(cases, channel, ctx, client) -> None:
    task_id = _closed(cases)
    run_job("case-feedback")
    code = _code(task_id)
    bad = client.post(f"/r/{code}", json={"rating": 4})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_rating"
    ok = client.post(f"/r/{code}", json={"rating": 1})
    assert ok.status_code == 200 and ok.get_json()["rating"] == 1
    twice = client.post(f"/r/{code}", json={"rating": 3})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_rated"
    db.session.expire_all()
    assert db.session.get(Task, task_id).status == "closed"
    # A reply after the page's rating is ignored.
    assert _reply(RESIDENT, "3") == "already_rated"
    missing = client.get("/r/ZZZZZZZZ", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_code"
    assert client.get("/r/ZZZZZZZZ").status_code == 404
    assert client.post("/r/ZZZZZZZZ", json={"rating": 1}).status_code == 404


def test_a_page_rating_of_3_reopens_the_case_at_the_closing_level(
    cases, channel, ctx, client
) -> None:
    task_id = _closed(cases, level="street")
    run_job("case-feedback")
    resp = client.post(f"/r/{_code(task_id)}", json={"rating": 3, "comment": "没修好"})
    assert resp.status_code == 200
    db.session.expire_all()
    task = db.session.get(Task, task_id)
    assert (task.status, task.level, task.rating) == ("open", "street", 3)


def test_the_page_is_rate_limited_per_address(
    cases, channel, ctx, client, override_settings
) -> None:
    override_settings(open311_rate_per_minute=3)
    for _ in range(3):
        assert client.get("/r/ZZZZZZZZ").status_code == 404
    limited = client.get("/r/ZZZZZZZZ", headers={"Accept": "application/json"})
    assert limited.status_code == 429 and limited.headers.get("Retry-After")
    assert limited.get_json()["error"]["code"] == "rate_limited"


# --- key rotation ----------------------------------------------------------------------------


def test_after_a_key_rotation_a_reply_from_the_reporters_number_still_rates_the_case(
    cases, channel, ctx, override_settings
) -> None:
    from cryptography.fernet import Fernet
    from flask.cli import ScriptInfo

    from gridserve.cli import main
    from gridserve.config import settings

    task_id = _closed(cases)
    merged = _closed(cases, phone="139 1234 5678", duplicate_of_id=task_id)
    db.session.get(Task, merged).status = "cancelled"
    other = _closed(cases, phone="13700001111")  # someone else's case, texted too
    assert run_job("case-feedback")["texts"] == 3
    old = sms_numbers.hasher()
    area = db.session.get(Area, cases.field.world.community_a)
    area.duty_phone_enc = crypto.encrypt("+8613600001234")  # re-encrypted too
    db.session.commit()
    before = {r.id: r.phone_hash for r in _rows(task_id)}
    assert set(before.values()) == {old(RESIDENT), old(NEIGHBOUR)}

    configured = settings().data_keys
    new_key = Fernet.generate_key().decode()
    override_settings(data_keys=(new_key, *configured))
    result = ctx.test_cli_runner().invoke(
        main, ["keys", "rotate", "--batch-size", "2"], obj=ScriptInfo(create_app=lambda: ctx)
    )
    assert result.exit_code == 0, result.output
    assert "re-hashed 3 case feedback number(s)" in result.output
    override_settings(data_keys=(new_key,))  # the old key is dropped after the rotation
    db.session.expire_all()
    new = sms_numbers.hasher()
    assert new.key_id != old.key_id
    after = {r.id: r.phone_hash for r in _rows(task_id)}
    assert set(after) == set(before) and set(after.values()) == {new(RESIDENT), new(NEIGHBOUR)}
    case = db.session.get(Task, task_id)
    assert case.reporter_phone_hash == new(RESIDENT)
    assert crypto.decrypt(case.reporter_phone_enc) == "13812345678"  # readable with the new key
    assert db.session.get(Task, merged).reporter_phone_hash == new(NEIGHBOUR)
    duty = db.session.get(Area, cases.field.world.community_a).duty_phone_enc
    assert crypto.decrypt(duty) == "+8613600001234"
    # The merged reporter's reply rates the kept case; the resident's finds it rated.
    assert _reply(NEIGHBOUR, "1") == "rated"
    assert _reply(RESIDENT, "2") == "already_rated"
    assert _reply("+8613700001111", "3") == "rated"
    db.session.expire_all()
    assert db.session.get(Task, task_id).rating == 1
    assert db.session.get(Task, other).status == "open"  # not satisfied: reopened
