"""Telling an office about a case: one notice per case version and reason, a text to the
area's duty mobile (or a department's contacts) from the configured case channel."""

from __future__ import annotations

from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import OutreachNotice, SmsMessage
from gridserve.scope import OPERATOR
from gridserve.services.cases import notify
from gridserve.services.field import tasks as task_service
from gridserve.services.sms import numbers as sms_numbers
from gridserve.timeutil import local_today
from tests.api.outreach.test_notices import put_channel
from tests.conftest import login


def _case(cases):
    return task_service.create_task(
        OPERATOR,
        {"kind": "case", "title": "井盖缺失", "area_id": cases.field.world.community_a},
        local_today(),
    )


def _texts_to(phone: str) -> int:
    key = sms_numbers.hasher().stored(phone)["phone_hash"]
    return db.session.scalar(
        select(func.count()).select_from(SmsMessage).where(SmsMessage.phone_hash == key)
    )


def test_the_street_is_told_once_by_notice_and_duty_text(
    cases, client, ctx, override_settings, tmp_path
) -> None:
    override_settings(case_feedback_channel="CGJ", sms_outbox_path=tmp_path)
    put_channel(client, login(client, "coordinator"), code="CGJ")
    task = _case(cases)
    first = notify.tell(task, "case_urgent", "安全隐患：井盖缺失", level="street")
    again = notify.tell(task, "case_urgent", "安全隐患：井盖缺失", level="street")
    assert again.id == first.id
    assert first.area_id == cases.field.world.street and first.texted == 1
    assert _texts_to("+8613700000003") == 1
    dept = notify.tell(task, "case_dispatched", "请处理", department_id=cases.departments["CGJ"])
    assert dept.institution_id == cases.departments["CGJ"] and dept.texted == 1
    assert _texts_to("+8613600000001") == 1
    assert db.session.scalar(select(func.count()).select_from(OutreachNotice)) == 2


def test_without_a_case_channel_the_notice_says_why_nothing_was_texted(cases, ctx) -> None:
    task = _case(cases)
    notice = notify.tell(task, "case_escalated", "事件上报", level="community")
    assert notice.texted == 0 and notify.NO_CHANNEL in notice.undeliverable
    assert notice.area_id == cases.field.world.community_a


def test_offices_read_and_acknowledge_their_case_notices(cases, client, ctx, auth_as) -> None:
    task = _case(cases)
    street = notify.tell(task, "case_urgent", "安全隐患：井盖缺失", level="street")
    dept = notify.tell(task, "case_dispatched", "请处理", department_id=cases.departments["CGJ"])
    db.session.flush()

    def ids(user: str) -> set[int]:
        resp = client.get("/api/v1/outreach/notices", headers=auth_as(user))
        assert resp.status_code == 200, resp.get_json()
        return {n["id"] for n in resp.get_json()}

    assert ids("centre") == {street.id}  # the street's office; the department's is not its
    assert ids("dept") == {dept.id}
    assert ids("dept2") == set()
    assert street.id not in ids("station_a")  # addressed to the street, above the station
    assert street.id in ids("coordinator")  # the district's view (no 500 for a case notice)
    shown = client.get("/api/v1/outreach/notices", headers=auth_as("centre")).get_json()[0]
    assert shown["task_id"] == task.id and shown["event_id"] is None
    assert shown["area_id"] == cases.field.world.street and shown["reason"] == "case_urgent"
    ack = client.post(f"/api/v1/outreach/notices/{street.id}/ack", headers=auth_as("centre"))
    assert ack.status_code == 200, ack.get_json()
    assert ack.get_json()["acknowledged"] is True
    missing = client.post(f"/api/v1/outreach/notices/{dept.id}/ack", headers=auth_as("centre"))
    assert missing.status_code == 404
