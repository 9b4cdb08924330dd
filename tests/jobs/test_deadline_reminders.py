"""The outreach-deadline-reminders job: 3 and 1 days before the due day and each overdue day,
from the morning hour, once per deliverable, day and phone; nothing in the quiet hours, nothing
after submission; texts in the outbox (kind ``direct``) from the organiser's channel."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve import audit, crypto
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import OutreachReminder, SmsChannel, SmsMessage
from gridserve.services.outreach import reminders as reminder_service
from jobs.registry import run_job
from tests.api.outreach.test_notices import put_channel
from tests.api.outreach.test_teams import error, set_event
from tests.clock import at_local, move_to
from tests.conftest import TEST_ACTOR, login

API = "/api/v1/outreach"
USERS = ("coordinator", "bank", "other_bank", "icbc", "abc", "worker_a", "station_a")
DZCB_PHONE = "+8613812345678"
ICBC_PHONES = ["+8613800000002", "+8613800000003"]
WORKER_PHONE = "+8613912345678"


@pytest.fixture
def desk(clean_app, client, override_settings, tmp_path, outreach):
    """Quiet hours 21:00-08:00, reminders at 09:00 on 3 and 1 days before, the organiser's
    (DZ-REG's) channel set up, everybody signed in: ``(app, client, headers)``."""
    override_settings(
        quiet_hours="21:00-08:00",
        outreach_reminder_days=(3, 1),
        outreach_reminder_hour=9,
        sms_outbox_path=tmp_path,
        token_ttl_seconds=400 * 24 * 3600,
    )
    move_to(at_local(dt.date(2027, 4, 1), dt.time(10, 0)))
    headers = {u: login(client, u) for u in USERS}
    put_channel(client, headers["coordinator"])
    return clean_app, client, headers


def at(day: dt.date, hour: int, minute: int = 0) -> None:
    move_to(at_local(day, dt.time(hour, minute)))


def remind(app, job: bool = False) -> dict:
    """One run: the service function in its own transaction, or the registered job."""
    with app.app_context():
        try:
            if job:
                return run_job("outreach-deadline-reminders")
            with audit.acting_as(TEST_ACTOR), transaction():
                return reminder_service.remind_due()
        finally:
            db.session.remove()


def deliverables(client, headers, programme: int, **query) -> list[dict]:
    resp = client.get(
        f"{API}/programmes/{programme}/deliverables",
        query_string={"page_size": 500, **query},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def lists(client, headers, programme: int) -> dict[str, int]:
    """The visit-list deliverables' ids by owner code."""
    rows = deliverables(client, headers["coordinator"], programme, kind="visit_list")
    return {r["owner"]["label"]: r["id"] for r in rows}


def reminders_of(app, ids) -> list[tuple[int, str, str]]:
    """(deliverable, day, kind) of the reminders made for ``ids``."""
    with app.app_context():
        rows = db.session.execute(
            select(OutreachReminder.deliverable_id, OutreachReminder.day, OutreachReminder.kind)
            .where(OutreachReminder.deliverable_id.in_(list(ids)))
            .order_by(OutreachReminder.day, OutreachReminder.deliverable_id)
        ).all()
        db.session.remove()
    return [(d, day.isoformat(), k) for d, day, k in rows]


def texts(app, ids) -> list[tuple[str, str]]:
    """(purpose, phone) of the outbox texts about deliverables ``ids``."""
    wanted = {f"deliverable:{i}:" for i in ids}
    with app.app_context():
        channel = db.session.execute(select(SmsChannel)).scalars().one()
        rows = db.session.execute(
            select(SmsMessage).where(SmsMessage.kind == "direct").order_by(SmsMessage.id)
        ).scalars()
        out = []
        for m in rows:
            if any(m.purpose.startswith(w) for w in wanted):
                assert m.channel_id == channel.id and m.status == "queued"
                assert m.body.startswith("【达州银保监分局】")
                out.append((m.purpose, crypto.decrypt(m.phone_enc)))
        db.session.remove()
    return sorted(out)


def expected_texts(ids: dict[str, int], codes, day: str) -> list[tuple[str, str]]:
    phones = {"DZCB": [DZCB_PHONE], "ICBC": ICBC_PHONES, "PSBC": []}
    return sorted((f"deliverable:{ids[c]}:{day}", phone) for c in codes for phone in phones[c])


def test_three_and_one_day_before_then_each_overdue_day_once_per_phone(desk, visits):
    app, client, headers = desk
    ids = lists(client, headers, visits.programme)
    every = ("DZCB", "ICBC", "PSBC")

    at(dt.date(2027, 5, 12), 8, 30)  # after the quiet hours, before the reminder hour
    assert remind(app)["reminders"] == 0
    assert reminders_of(app, ids.values()) == []

    at(dt.date(2027, 5, 12), 9, 0)  # three days before 15 May
    remind(app)
    made = reminders_of(app, ids.values())
    assert made == sorted((ids[c], "2027-05-12", "before") for c in every)
    assert texts(app, ids.values()) == expected_texts(ids, every, "2027-05-12")
    # Again the same day, by the service and by the job: nothing more.
    at(dt.date(2027, 5, 12), 15, 0)
    remind(app)
    remind(app, job=True)
    assert reminders_of(app, ids.values()) == made
    assert texts(app, ids.values()) == expected_texts(ids, every, "2027-05-12")

    for day in (13, 15):  # two days before, the due day: no reminder
        at(dt.date(2027, 5, day), 9, 30)
        remind(app)
    at(dt.date(2027, 5, 14), 9, 30)
    remind(app)
    at(dt.date(2027, 5, 16), 10, 0)  # overdue: every day after
    remind(app, job=True)
    at(dt.date(2027, 5, 17), 9, 0)
    remind(app)
    days = [(day, kind) for _d, day, kind in reminders_of(app, ids.values())]
    assert sorted(set(days)) == [
        ("2027-05-12", "before"),
        ("2027-05-14", "before"),
        ("2027-05-16", "overdue"),
        ("2027-05-17", "overdue"),
    ]
    assert len(days) == 12
    assert texts(app, ids.values()) == sorted(
        t
        for day in ("2027-05-12", "2027-05-14", "2027-05-16", "2027-05-17")
        for t in expected_texts(ids, every, day)
    )

    # What the owners read: the message, the texts, who could not be texted.
    resp = client.get(
        f"{API}/reminders",
        query_string={"programme": visits.programme, "page_size": 100},
        headers=headers["other_bank"],
    )
    assert resp.status_code == 200, resp.get_json()
    psbc = resp.get_json()
    assert [r["day"] for r in psbc] == ["2027-05-17", "2027-05-16", "2027-05-14", "2027-05-12"]
    assert psbc[0]["kind"] == "overdue" and "已逾期2天" in psbc[0]["message"]
    assert "距截止还有3天" in psbc[-1]["message"]
    assert psbc[0]["texted"] == 0 and psbc[0]["undeliverable"] == ["邮储联系人（无手机）"]
    assert psbc[0]["deliverable"]["status"] == "missing"
    icbc = client.get(
        f"{API}/reminders", query_string={"programme": visits.programme},
        headers=headers["icbc"],
    ).get_json()  # fmt: skip
    assert {r["texted"] for r in icbc} == {2}
    listed = deliverables(client, headers["coordinator"], visits.programme, kind="visit_list")
    assert [(r["day"], r["kind"]) for r in listed[0]["reminders"]] == [
        ("2027-05-12", "before"),
        ("2027-05-14", "before"),
        ("2027-05-16", "overdue"),
        ("2027-05-17", "overdue"),
    ]


def test_none_after_submission(desk, visits):
    app, client, headers = desk
    ids = lists(client, headers, visits.programme)
    at(dt.date(2027, 5, 12), 9, 30)
    remind(app)
    at(dt.date(2027, 5, 13), 11, 0)
    resp = client.post(f"{API}/deliverables/{ids['DZCB']}/submit", json={}, headers=headers["bank"])
    assert resp.status_code == 200, resp.get_json()
    for day in (14, 16, 17):
        at(dt.date(2027, 5, day), 9, 30)
        remind(app)
    assert [day for _d, day, _k in reminders_of(app, [ids["DZCB"]])] == ["2027-05-12"]
    assert {d for d, _day, _k in reminders_of(app, ids.values())} == set(ids.values())
    assert texts(app, [ids["DZCB"]]) == [(f"deliverable:{ids['DZCB']}:2027-05-12", DZCB_PHONE)]
    assert len(texts(app, [ids["ICBC"]])) == 2 * 4


def test_a_filed_plan_stops_its_reminders_and_a_cancelled_event_gets_none(desk, outreach, ctx):
    app, client, headers = desk
    at(dt.date(2027, 4, 3), 9, 30)  # three days before plans are due (6 April)
    remind(app)
    rows = deliverables(client, headers["coordinator"], outreach.programme)
    site_plan = next(r for r in rows if r["kind"] == "site_plan")
    assert reminders_of(app, [site_plan["id"]]) == [(site_plan["id"], "2027-04-03", "before")]
    assert len(texts(app, [site_plan["id"]])) == 2  # ICBC's two contacts
    resp = client.post(
        f"{API}/events/{outreach.site}/plan",
        json={"text": "宣传点方案：两块展板。", "attachments": []},
        headers=headers["icbc"],
    )
    assert resp.status_code == 200, resp.get_json()
    at(dt.date(2027, 4, 5), 9, 30)
    remind(app)
    assert len(reminders_of(app, [site_plan["id"]])) == 1

    # Reports are due 30 April: the launch's participants are reminded on the 27th; the
    # cancelled site's are not (its deliverables are gone).
    set_event(outreach.site, status="cancelled", cancel_reason="场地冲突")
    at(dt.date(2027, 4, 27), 9, 30)
    remind(app)
    rows = deliverables(client, headers["coordinator"], outreach.programme)
    assert {r["event_id"] for r in rows} == {outreach.launch}
    made = reminders_of(app, [r["id"] for r in rows])
    assert len(made) == 5 and {(day, k) for _d, day, k in made} == {("2027-04-27", "before")}


def test_nothing_is_queued_in_the_quiet_hours(desk, visits, override_settings):
    app, client, headers = desk
    ids = lists(client, headers, visits.programme)
    override_settings(quiet_hours="21:00-10:00")  # the reminder hour falls in them
    at(dt.date(2027, 5, 12), 9, 30)
    assert remind(app)["quiet"] is True
    assert remind(app, job=True)["reminders"] == 0
    assert reminders_of(app, ids.values()) == [] and texts(app, ids.values()) == []
    at(dt.date(2027, 5, 12), 10, 5)  # the first run after them does the day's reminders
    assert remind(app)["reminders"] >= 3
    assert len(texts(app, ids.values())) == 3

    override_settings(quiet_hours="21:00-08:00")
    at(dt.date(2027, 5, 16), 22, 0)  # late at night: nothing
    remind(app)
    at(dt.date(2027, 5, 17), 7, 0)  # early morning, still quiet: nothing
    remind(app)
    days = {day for _d, day, _k in reminders_of(app, ids.values())}
    assert days == {"2027-05-12"}
    at(dt.date(2027, 5, 17), 9, 0)
    remind(app)
    days = {day for _d, day, _k in reminders_of(app, ids.values())}
    assert days == {"2027-05-12", "2027-05-17"}


def test_each_kind_of_owner_is_texted_at_its_mobile(desk, visits, field):
    app, client, headers = desk
    made = {}
    for name, owner in {
        "worker": {"worker_id": field.worker_id},
        "worker_account": {"user": "worker_a"},
        "bank_user": {"user": "bank"},
        "psbc_user": {"user": "other_bank"},
        "nobody": {"user": "coordinator"},
    }.items():
        resp = client.post(
            f"{API}/programmes/{visits.programme}/deliverables",
            json={"kind": "other", "title": name, "owner": owner, "due_on": "2027-06-10"},
            headers=headers["coordinator"],
        )
        assert resp.status_code == 201, resp.get_json()
        made[name] = resp.get_json()["id"]
    at(dt.date(2027, 6, 9), 9, 15)  # one day before
    remind(app, job=True)
    sent = texts(app, made.values())
    assert sent == sorted(
        [
            (f"deliverable:{made['worker']}:2027-06-09", WORKER_PHONE),
            (f"deliverable:{made['worker_account']}:2027-06-09", WORKER_PHONE),
            (f"deliverable:{made['bank_user']}:2027-06-09", DZCB_PHONE),
        ]
    )
    with app.app_context():
        undeliverable = dict(
            db.session.execute(
                select(OutreachReminder.deliverable_id, OutreachReminder.undeliverable).where(
                    OutreachReminder.deliverable_id.in_(list(made.values()))
                )
            ).all()
        )
        db.session.remove()
    assert undeliverable[made["psbc_user"]] == ["邮储联系人（无手机）"]
    assert undeliverable[made["nobody"]] == ["coordinator"]
    assert undeliverable[made["worker"]] == []

    # The worker reads its reminders (its own only) and acknowledges them.
    mine = client.get(f"{API}/reminders", headers=headers["worker_a"]).get_json()
    assert {r["deliverable_id"] for r in mine} == {made["worker"], made["worker_account"]}
    for reminder in mine:
        resp = client.post(
            f"{API}/reminders/{reminder['id']}/acknowledge", headers=headers["worker_a"]
        )
        assert resp.status_code == 200 and resp.get_json()["acknowledged"] is True
    left = client.get(
        f"{API}/reminders", query_string={"acknowledged": "false"}, headers=headers["worker_a"]
    )
    assert left.get_json() == []


def test_owners_acknowledge_their_reminders_and_nobody_elses(desk, visits):
    app, client, headers = desk
    ids = lists(client, headers, visits.programme)
    at(dt.date(2027, 5, 12), 9, 30)
    remind(app)
    query = {"programme": visits.programme, "acknowledged": "false"}
    mine = client.get(f"{API}/reminders", query_string=query, headers=headers["icbc"]).get_json()
    assert [r["deliverable_id"] for r in mine] == [ids["ICBC"]]
    ident = mine[0]["id"]
    url = f"{API}/reminders/{ident}/acknowledge"
    error(client.post(url, headers=headers["bank"]), 404, "not_found")
    error(client.post(url, headers=headers["coordinator"]), 403, "not_the_owner")
    first = client.post(url, headers=headers["icbc"]).get_json()
    assert first["acknowledged"] is True and first["acknowledged_at"]
    again = client.post(url, headers=headers["icbc"]).get_json()
    assert again["acknowledged_at"] == first["acknowledged_at"]
    assert (
        client.get(f"{API}/reminders", query_string=query, headers=headers["icbc"]).get_json() == []
    )
    done = client.get(
        f"{API}/reminders", query_string={**query, "acknowledged": "true"}, headers=headers["icbc"]
    ).get_json()
    assert [r["id"] for r in done] == [ident]
    # The coordinator oversees every reminder of the programme.
    every = client.get(
        f"{API}/reminders", query_string={"programme": visits.programme},
        headers=headers["coordinator"],
    ).get_json()  # fmt: skip
    assert {r["deliverable_id"] for r in every} == set(ids.values())
    error(client.get(f"{API}/reminders", query_string={"programme": 999999},
                     headers=headers["coordinator"]), 404, "not_found")  # fmt: skip
