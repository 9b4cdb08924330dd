"""Moving or cancelling an approved event through the API tells every participant: a notice
each, texted once to each contact with a mobile from the organiser's channel (no stand-ins)."""

from __future__ import annotations

from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import OutreachEvent, OutreachNotice, SmsMessage
from tests.api.outreach import test_notices
from tests.api.outreach.test_notices import dispatch, notices, sent

desk = test_notices.desk  # the fixture: the organiser's channel, a fixed morning, signed in

LAUNCH_PARTICIPANTS = {"DZ-REG", "DZCB", "PSBC", "ICBC", "ABC"}


def _approve(client, coordinator, event_id: int) -> dict:
    version = client.get(f"/api/v1/outreach/events/{event_id}", headers=coordinator).get_json()[
        "version"
    ]
    planned = client.post(
        f"/api/v1/outreach/events/{event_id}/publish", json={"version": version},
        headers=coordinator,
    )  # fmt: skip
    assert planned.status_code == 200, planned.get_json()
    approved = client.post(
        f"/api/v1/outreach/events/{event_id}/approve",
        json={"version": planned.get_json()["version"]}, headers=coordinator,
    )  # fmt: skip
    assert approved.status_code == 200, approved.get_json()
    return approved.get_json()


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(OutreachNotice))
        m = db.session.scalar(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.kind == "direct")
        )
        db.session.remove()
        return n, m


def test_moving_an_approved_launch_notifies_each_participant_and_texts_once(desk, outreach):
    app, client, headers, outbox = desk
    event = _approve(client, headers["coordinator"], outreach.launch)
    moved = client.patch(
        f"/api/v1/outreach/events/{outreach.launch}",
        json={"version": event["version"], "starts_at": "2027-04-14T14:00:00+08:00",
              "ends_at": "2027-04-14T17:00:00+08:00"},
        headers=headers["coordinator"],
    )  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    listed = notices(client, headers["coordinator"])
    assert {n["institution"] for n in listed} == LAUNCH_PARTICIPANTS
    by_code = {n["institution"]: n for n in listed}
    # Contacts with a mobile: DZ-REG 1, DZCB 1, ICBC 2; PSBC's contact has none; ABC has none.
    assert by_code["ICBC"]["texted"] == 2 and by_code["DZCB"]["texted"] == 1
    assert by_code["PSBC"]["texted"] == 0 and by_code["PSBC"]["undeliverable"]
    assert "14:00" in by_code["ICBC"]["message"]
    assert _counts(app) == (5, 4)
    dispatch(app)
    texts = sent(outbox)
    assert len(texts) == 4 and len({t["to"] for t in texts}) == 4
    # The bank sees its own notice only, and acknowledges it.
    own = notices(client, headers["bank"])
    assert [n["institution"] for n in own] == ["DZCB"]
    ack = client.post(f"/api/v1/outreach/notices/{own[0]['id']}/ack", headers=headers["bank"])
    assert ack.status_code == 200, ack.get_json()
    assert notices(client, headers["coordinator"], acknowledged="false", institution="DZCB") == []


def test_cancelling_an_approved_event_notifies_and_a_draft_change_does_not(desk, outreach):
    app, client, headers, _outbox = desk
    # A draft moved: nobody is told.
    draft = client.get(f"/api/v1/outreach/events/{outreach.site}", headers=headers["coordinator"])
    moved = client.patch(
        f"/api/v1/outreach/events/{outreach.site}",
        json={"version": draft.get_json()["version"], "title": "乙社区宣传点（改）"},
        headers=headers["coordinator"],
    )  # fmt: skip
    assert moved.status_code == 200 and _counts(app) == (0, 0)
    event = _approve(client, headers["coordinator"], outreach.launch)
    cancelled = client.post(
        f"/api/v1/outreach/events/{outreach.launch}/cancel",
        json={"version": event["version"], "reason": "暴雨预警"}, headers=headers["coordinator"],
    )  # fmt: skip
    assert cancelled.status_code == 200, cancelled.get_json()
    listed = notices(client, headers["coordinator"])
    assert {n["institution"] for n in listed} == LAUNCH_PARTICIPANTS
    assert all("暴雨预警" in n["message"] for n in listed)


def test_without_the_organiser_s_channel_the_move_is_refused_and_nothing_changes(
    outreach, clean_app, client, auth_as
):
    coordinator = auth_as("coordinator")
    event = _approve(client, coordinator, outreach.launch)
    moved = client.patch(
        f"/api/v1/outreach/events/{outreach.launch}",
        json={"version": event["version"], "starts_at": "2027-04-14T14:00:00+08:00",
              "ends_at": "2027-04-14T17:00:00+08:00"},
        headers=coordinator,
    )  # fmt: skip
    assert moved.status_code == 409 and moved.get_json()["error"]["code"] == "no_notice_channel"
    with clean_app.app_context():
        stored = db.session.get(OutreachEvent, outreach.launch)
        assert stored.version == event["version"] and stored.starts_at.hour == 1  # 09:00 +08
        db.session.remove()
    assert _counts(clean_app) == (0, 0)
