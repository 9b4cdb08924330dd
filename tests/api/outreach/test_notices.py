"""Change notices: one per participant, texted once to each contact with a mobile, from the
organiser's channel, never in the quiet hours; acknowledged by the institution, reminded once,
then overdue for the coordinator."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gridserve import audit
from gridserve.db import transaction
from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import Institution, OutreachEvent, OutreachNotice, SmsMessage
from gridserve.scope import OPERATOR
from gridserve.services.outreach import notices as notice_service
from jobs.registry import run_job
from tests import clock
from tests.api.sms.campaign_now import dispatch
from tests.conftest import TEST_ACTOR, login

CST = dt.timezone(dt.timedelta(hours=8))
# A working morning before the programme, outside the quiet hours (21:00-08:00).
MORNING = dt.datetime(2027, 4, 1, 10, 0, tzinfo=CST)
MOVED = {
    "starts_at": {
        "from": dt.datetime(2027, 4, 14, 9, tzinfo=CST),
        "to": dt.datetime(2027, 4, 14, 14, tzinfo=CST),
    },
    "ends_at": {
        "from": dt.datetime(2027, 4, 14, 12, tzinfo=CST),
        "to": dt.datetime(2027, 4, 14, 17, tzinfo=CST),
    },
}
OUTBOX = "out/notices.jsonl"
USERS = ("coordinator", "reg", "bank", "other_bank", "icbc", "abc", "station_a", "station_b")


@pytest.fixture
def desk(outreach, clean_app, client, override_settings, tmp_path):
    """The outreach world at a fixed morning, the regulator's (organiser's) SMS channel writing
    to a file, and everybody signed in: ``(app, client, headers by user, outbox path)``."""
    override_settings(
        quiet_hours="21:00-08:00",
        sms_outbox_path=tmp_path,
        sms_retry_base_seconds=0,
        token_ttl_seconds=30 * 24 * 3600,
    )
    clock.move_to(MORNING)
    headers = {u: login(client, u) for u in USERS}
    put_channel(client, headers["coordinator"])
    return clean_app, client, headers, tmp_path / OUTBOX


def put_channel(client, coordinator, code: str = "DZ-REG") -> None:
    resp = client.put(
        f"/api/v1/sms/channels/{code}",
        json={
            "gateway": "file",
            "settings": {"path": OUTBOX},
            "signature": "达州银保监分局",
            "rate_per_second": 0,
        },
        headers=coordinator,
    )
    assert resp.status_code == 200, resp.get_json()


def announce(
    app, event_id: int, reason: str = "changed", changes: dict | None = None, **event_fields
) -> list[dict]:
    """The event approved, then its change announced (as the life cycle would)."""
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        event = db.session.get(OutreachEvent, event_id)
        event.status = "approved"
        for name, value in event_fields.items():
            setattr(event, name, value)
        made = notice_service.announce(
            OPERATOR, event, reason, MOVED if changes is None else changes
        )
        out = [
            {
                "id": n.id,
                "institution": db.session.get(Institution, n.institution_id).code,
                "texted": n.texted,
                "undeliverable": list(n.undeliverable),
                "message": n.message,
            }
            for n in made
        ]
    with app.app_context():
        db.session.remove()
    return out


def remind(app) -> dict:
    with app.app_context():
        try:
            return run_job("outreach-notice-reminders")
        finally:
            db.session.remove()


def sent(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def outbox_rows(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(SmsMessage.kind, SmsMessage.purpose, SmsMessage.status).order_by(SmsMessage.id)
        ).all()
        db.session.remove()
        return [tuple(r) for r in rows]


def notices(client, headers, **query) -> list[dict]:
    resp = client.get("/api/v1/outreach/notices", query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


# --- one notice per participant, texted once per contact ------------------------------------


def test_a_notice_per_participant_texted_to_each_contact_with_a_mobile(desk, outreach):
    app, client, headers, outbox = desk
    made = announce(app, outreach.launch)
    by_code = {n["institution"]: n for n in made}
    # The host first, then the co-organisers in their order; each institution once.
    assert [n["institution"] for n in made] == ["DZ-REG", "DZCB", "PSBC", "ICBC", "ABC"]
    assert {c: n["texted"] for c, n in by_code.items()} == {
        "DZ-REG": 1,
        "DZCB": 1,
        "PSBC": 0,
        "ICBC": 2,
        "ABC": 0,
    }
    # PSBC's contact has no mobile: shown as undeliverable, not texted.
    assert by_code["PSBC"]["undeliverable"] == ["邮储联系人（无手机）"]
    assert by_code["ICBC"]["undeliverable"] == []
    message = by_code["ICBC"]["message"]
    assert "启动仪式" in message
    assert "开始时间由2027年4月14日 09:00改为2027年4月14日 14:00" in message
    assert "结束时间由2027年4月14日 12:00改为2027年4月14日 17:00" in message

    report = dispatch(app)
    assert report.get("direct_accepted") == 4, report
    lines = sent(outbox)
    assert sorted(m["to"] for m in lines) == [
        "+8613800000001",
        "+8613800000002",
        "+8613800000003",
        "+8613812345678",
    ]
    assert all(m["body"] == f"【达州银保监分局】{message}" for m in lines)
    assert {m["sender"] for m in lines} == {"DZ-REG"}

    # The coordinator sees every notice; a contact only its institution's.
    listed = notices(client, headers["coordinator"])
    assert sorted(n["institution"] for n in listed) == ["ABC", "DZ-REG", "DZCB", "ICBC", "PSBC"]
    psbc = next(n for n in listed if n["institution"] == "PSBC")
    assert psbc["undeliverable"] == ["邮储联系人（无手机）"] and psbc["texted"] == 0
    assert psbc["acknowledged"] is False and psbc["overdue"] is False
    assert psbc["reminded_at"] is None and psbc["event_title"] == "启动仪式"
    mine = notices(client, headers["icbc"])
    assert [(n["institution"], n["texted"]) for n in mine] == [("ICBC", 2)]
    assert notices(client, headers["icbc"], institution="DZCB") == []


def test_a_lead_that_also_co_organises_gets_one_notice_and_a_cancellation_says_why(desk, outreach):
    app, client, headers, outbox = desk
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        site = db.session.get(OutreachEvent, outreach.site)
        site.co_organisers.append(db.session.get(Institution, outreach.inst["ICBC"]))
        site.co_organisers.append(db.session.get(Institution, outreach.inst["DZ-REG"]))
    made = announce(
        app, outreach.site, "cancelled", {}, status="cancelled", cancel_reason="暴雨预警"
    )
    assert [n["institution"] for n in made] == ["DZ-REG", "ICBC", "DZCB", "PSBC", "ABC"]
    message = made[0]["message"]
    assert "乙社区宣传点" in message and "已取消" in message and "暴雨预警" in message
    assert "2027年4月15日 09:00" in message and "乙社区农贸市场" in message
    dispatch(app)
    assert len(sent(outbox)) == 4
    assert {n["reason"] for n in notices(client, headers["coordinator"])} == {"cancelled"}


def test_a_venue_change_names_both_places(desk, outreach):
    app, client, headers, _ = desk
    made = announce(
        app,
        outreach.site,
        changes={
            "venue": {
                "from": {"place_id": outreach.market},
                "to": {"place_id": outreach.school},
            }
        },
    )
    assert "地点由乙社区农贸市场改为甲社区小学" in made[0]["message"]
    listed = notices(client, headers["icbc"])
    assert listed[0]["changes"] == {
        "venue": {"from": {"place_id": outreach.market}, "to": {"place_id": outreach.school}}
    }


def test_announced_twice_each_contact_is_texted_once(desk, outreach):
    app, client, headers, outbox = desk
    first = announce(app, outreach.launch)
    dispatch(app)
    again = announce(app, outreach.launch)
    assert [n["id"] for n in again] == [n["id"] for n in first]
    assert [n["texted"] for n in again] == [n["texted"] for n in first]
    assert "direct_accepted" not in dispatch(app)
    lines = sent(outbox)
    assert len(lines) == 4 and len({m["to"] for m in lines}) == 4
    assert len(notices(client, headers["coordinator"])) == 5
    # A later change (a new version of the event) is a new notice, texted again.
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        db.session.get(OutreachEvent, outreach.launch).version += 1
    announce(app, outreach.launch)
    dispatch(app)
    assert len(sent(outbox)) == 8
    assert len(notices(client, headers["coordinator"])) == 10


def test_never_texted_in_the_quiet_hours(desk, outreach):
    app, _, _, outbox = desk
    clock.move_to(dt.datetime(2027, 4, 1, 22, 30, tzinfo=CST))
    announce(app, outreach.launch)
    assert "direct_accepted" not in dispatch(app)
    clock.move_to(dt.datetime(2027, 4, 2, 7, 59, 30, tzinfo=CST))
    assert "direct_accepted" not in dispatch(app)
    assert sent(outbox) == []
    assert {status for _, _, status in outbox_rows(app)} == {"queued"}
    clock.move_to(dt.datetime(2027, 4, 2, 8, 0, 5, tzinfo=CST))
    assert dispatch(app)["direct_accepted"] == 4
    assert {status for _, _, status in outbox_rows(app)} == {"accepted"}
    assert len(sent(outbox)) == 4


def test_without_the_organisers_channel_nothing_is_stored_and_the_change_fails(
    outreach, clean_app, override_settings, tmp_path
):
    override_settings(sms_outbox_path=tmp_path)
    clock.move_to(MORNING)
    app = clean_app
    with (
        pytest.raises(Conflict) as caught,
        app.app_context(),
        audit.acting_as(TEST_ACTOR),
        transaction(),
    ):
        event = db.session.get(OutreachEvent, outreach.launch)
        event.status = "approved"
        event.starts_at = MOVED["starts_at"]["to"]
        event.ends_at = MOVED["ends_at"]["to"]
        notice_service.announce(OPERATOR, event, "changed", MOVED)
    assert caught.value.status == 409 and caught.value.code == "no_notice_channel"
    assert caught.value.details == {"institution": "DZ-REG"}
    with app.app_context():
        event = db.session.get(OutreachEvent, outreach.launch)
        assert event.status == "draft"
        assert event.starts_at == MOVED["starts_at"]["from"]
        assert db.session.scalar(select(func.count()).select_from(OutreachNotice)) == 0
        assert db.session.scalar(select(func.count()).select_from(SmsMessage)) == 0
        db.session.remove()


# --- acknowledging ------------------------------------------------------------------------


def test_only_the_notified_institution_acknowledges_and_again_changes_nothing(desk, outreach):
    app, client, headers, _ = desk
    made = {n["institution"]: n["id"] for n in announce(app, outreach.launch)}
    icbc = made["ICBC"]
    url = f"/api/v1/outreach/notices/{icbc}/ack"
    # Another bank: as if it did not exist; the coordinator and a station: not their role.
    assert client.post(url, headers=headers["bank"]).status_code == 404
    for user in ("coordinator", "station_a"):
        resp = client.post(url, headers=headers[user])
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    assert client.post(url).status_code == 401
    assert (
        client.post("/api/v1/outreach/notices/999999/ack", headers=headers["icbc"]).status_code
        == 404
    )

    done = client.post(url, headers=headers["icbc"])
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["acknowledged"] is True and body["institution"] == "ICBC"
    clock.shift(dt.timedelta(minutes=5))
    again = client.post(url, headers=headers["icbc"])
    assert again.status_code == 200
    assert again.get_json()["acknowledged_at"] == body["acknowledged_at"]

    open_ = notices(client, headers["coordinator"], acknowledged="false")
    assert sorted(n["institution"] for n in open_) == ["ABC", "DZ-REG", "DZCB", "PSBC"]
    acked = notices(client, headers["coordinator"], acknowledged="true", institution="ICBC")
    assert [n["id"] for n in acked] == [icbc]
    assert notices(client, headers["icbc"], acknowledged="false") == []
    # A station reads the notices about events in its community (and its cases' notices).
    assert icbc in {n["id"] for n in notices(client, headers["station_a"])}
    assert icbc not in {n["id"] for n in notices(client, headers["station_b"])}


# --- reminder once, then overdue ------------------------------------------------------------


def test_unacknowledged_is_reminded_once_then_overdue(desk, outreach, override_settings):
    app, client, headers, outbox = desk
    override_settings(notice_ack_hours=2)
    made = {n["institution"]: n["id"] for n in announce(app, outreach.launch)}
    dispatch(app)
    assert (
        client.post(
            f"/api/v1/outreach/notices/{made['DZCB']}/ack", headers=headers["bank"]
        ).status_code
        == 200
    )

    clock.shift(dt.timedelta(hours=1, minutes=59))
    assert remind(app) == {"reminded": 0, "reminder_texts": 0, "overdue": 0}
    clock.shift(dt.timedelta(minutes=2))
    assert remind(app) == {"reminded": 4, "reminder_texts": 3, "overdue": 0}
    assert remind(app) == {"reminded": 0, "reminder_texts": 0, "overdue": 0}
    report = dispatch(app)
    assert report["direct_accepted"] == 3
    reminders = [m for m in sent(outbox) if "提醒：" in m["body"]]
    assert sorted(m["to"] for m in reminders) == [
        "+8613800000001",
        "+8613800000002",
        "+8613800000003",
    ]
    listed = {n["institution"]: n for n in notices(client, headers["coordinator"])}
    assert listed["DZCB"]["reminded_at"] is None
    assert all(listed[c]["reminded_at"] for c in ("DZ-REG", "PSBC", "ICBC", "ABC"))
    assert notices(client, headers["coordinator"], overdue="true") == []

    clock.shift(dt.timedelta(hours=1))
    # ICBC acknowledges late, after its reminder: never overdue.
    assert (
        client.post(
            f"/api/v1/outreach/notices/{made['ICBC']}/ack", headers=headers["icbc"]
        ).status_code
        == 200
    )
    assert remind(app)["overdue"] == 0
    clock.shift(dt.timedelta(hours=1, minutes=1))
    assert remind(app) == {"reminded": 0, "reminder_texts": 0, "overdue": 3}
    assert remind(app)["overdue"] == 0
    overdue = notices(client, headers["coordinator"], overdue="true")
    assert sorted(n["institution"] for n in overdue) == ["ABC", "DZ-REG", "PSBC"]
    assert all(n["overdue"] and n["overdue_at"] for n in overdue)
    assert "direct_accepted" not in dispatch(app)  # overdue is shown, not texted again
    # The contact sees its own notice overdue and can still acknowledge it.
    mine = notices(client, headers["reg"], overdue="true", acknowledged="false")
    assert [n["institution"] for n in mine] == ["DZ-REG"]
    late = client.post(f"/api/v1/outreach/notices/{mine[0]['id']}/ack", headers=headers["reg"])
    assert late.get_json()["acknowledged"] is True and late.get_json()["overdue"] is True
    outstanding = notices(client, headers["coordinator"], overdue="true", acknowledged="false")
    assert sorted(n["institution"] for n in outstanding) == ["ABC", "PSBC"]


# --- hostile input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"institution": "NOPE"}, "unknown_institution"),
        ({"institution": ""}, "validation_error"),
        ({"institution": "X" * 41}, "validation_error"),
        ({"acknowledged": "maybe"}, "validation_error"),
        ({"overdue": "2"}, "validation_error"),
        ({"event": "0"}, "validation_error"),
        ({"event": "abc"}, "validation_error"),
        ({"event": str(2**31)}, "validation_error"),
        ({"page_size": "0"}, "validation_error"),
    ],
)
def test_hostile_list_queries_are_refused(desk, query, code):
    _, client, headers, _ = desk
    resp = client.get(
        "/api/v1/outreach/notices", query_string=query, headers=headers["coordinator"]
    )
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code
    if code == "unknown_institution":
        assert error["details"]["codes"] == ["NOPE"]  # the one unknown_institution shape


def test_hostile_acknowledgements(desk, outreach):
    app, client, headers, _ = desk
    announce(app, outreach.launch)
    for path in (str(2**31), str(2**63), "0", "-1", "x"):
        resp = client.post(f"/api/v1/outreach/notices/{path}/ack", headers=headers["icbc"])
        assert resp.status_code == 404, (path, resp.get_json())
    # A body is not needed and changes nothing.
    mine = notices(client, headers["icbc"])[0]
    resp = client.post(
        f"/api/v1/outreach/notices/{mine['id']}/ack",
        json={"acknowledged_at": "2000-01-01T00:00:00+00:00", "institution": "ABC"},
        headers=headers["icbc"],
    )
    assert resp.status_code == 200
    assert resp.get_json()["institution"] == "ICBC"
    assert resp.get_json()["acknowledged_at"].startswith("2027-04-01")
