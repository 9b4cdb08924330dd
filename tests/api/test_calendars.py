"""Working-day calendars: GET for anyone signed in, PUT for admins (validated, versioned,
audited); working-days campaigns are checked against every day they span."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import AuditEntry, WorkCalendar
from tests.api.sms.calendar_2027 import (
    CALENDAR_2027,
    SPRING_FESTIVAL,
    working_days_campaign_over_2027,
)
from tests.conftest import DEMO_PASSWORD, login

URL = "/api/v1/calendars/CN/{}"


@pytest.fixture
def calendar_demo(clean_app, demo, override_settings, tmp_path):
    """The seeded demo, outbox files in tmp_path: ``(app, client, headers by username)``."""
    override_settings(sms_outbox_path=tmp_path)
    client = clean_app.test_client()
    users = ("coordinator", "bank1", "bank2", "admin", "worker1")
    headers = {user: login(client, user, DEMO_PASSWORD) for user in users}
    return clean_app, client, headers


def _versions(app, year: int) -> list[int]:
    with app.app_context():
        rows = db.session.execute(
            select(WorkCalendar.version).where(WorkCalendar.year == year)
        ).scalars()
        return sorted(rows)


def test_the_package_answers_for_the_years_it_knows(calendar_demo):
    _app, client, headers = calendar_demo
    for user in ("worker1", "bank1", "coordinator"):
        resp = client.get(URL.format(2026), headers=headers[user])
        assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["source"] == "package" and body["version"] is None
    assert {"date": "2026-02-17", "name": "Spring Festival"} in body["holidays"]
    assert "2026-02-14" in body["workdays"]  # a Saturday worked for the Spring Festival
    assert client.get(URL.format(2026)).status_code == 401
    unknown = client.get(URL.format(2027), headers=headers["worker1"])
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["code"] == "calendar_unknown_year"
    assert "PUT /api/v1/calendars/CN/2027" in unknown.get_json()["error"]["message"]
    assert client.get("/api/v1/calendars/US/2026", headers=headers["worker1"]).status_code == 404


def test_an_admin_loads_a_year_and_each_put_is_a_new_audited_version(calendar_demo):
    app, client, headers = calendar_demo
    for user in ("coordinator", "worker1", "bank1"):  # refused before the body is looked at
        for body in (CALENDAR_2027, {"holidays": "nonsense"}):
            resp = client.put(URL.format(2027), json=body, headers=headers[user])
            assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    assert _versions(app, 2027) == []
    with app.app_context():  # SQLite keeps the audit log across tests: read only ours
        before = db.session.execute(select(func.max(AuditEntry.id))).scalar() or 0
    first = client.put(URL.format(2027), json=CALENDAR_2027, headers=headers["admin"])
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["source"] == "operator" and first.get_json()["version"] == 1
    fixed = dict(CALENDAR_2027, workdays=[*CALENDAR_2027["workdays"], "2027-02-21"])
    second = client.put(URL.format(2027), json=fixed, headers=headers["admin"])
    assert second.get_json()["version"] == 2
    got = client.get(URL.format(2027), headers=headers["worker1"]).get_json()
    assert got["source"] == "operator" and got["version"] == 2
    assert (
        "2027-02-21" in got["workdays"]
        and {"date": "2027-02-06", "name": "春节"} in got["holidays"]
    )
    history = client.get(URL.format(2027) + "/versions", headers=headers["worker1"]).get_json()
    assert [v["version"] for v in history] == [2, 1] and history[0]["updated_by"] is not None
    # The operator's data overrides the package for a year it knows, too.
    own = client.put(
        URL.format(2026), json={"holidays": [], "workdays": []}, headers=headers["admin"]
    )
    assert own.get_json()["source"] == "operator" and own.get_json()["holidays"] == []
    with app.app_context():
        loaded = db.session.execute(
            select(AuditEntry.details).where(
                AuditEntry.action == "calendar_loaded", AuditEntry.id > before
            )
        ).scalars()
        assert sorted((d["year"], d["version"]) for d in loaded) == [
            (2026, 1),
            (2027, 1),
            (2027, 2),
        ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"holidays": [{"date": "2028-01-01", "name": "元旦"}], "workdays": []},
            "date_outside_year",
        ),
        ({"holidays": [], "workdays": ["2026-12-31"]}, "date_outside_year"),
        (
            {
                "holidays": [
                    {"date": "2027-01-01", "name": "元旦"},
                    {"date": "2027-01-01", "name": "x"},
                ],
                "workdays": [],
            },
            "duplicate_date",
        ),
        ({"holidays": [], "workdays": ["2027-02-20", "2027-02-20"]}, "duplicate_date"),
        (
            {"holidays": [{"date": "2027-02-20", "name": "春节"}], "workdays": ["2027-02-20"]},
            "holiday_and_workday",
        ),
        ({"holidays": [{"date": "2027-01-01", "name": "  "}], "workdays": []}, "empty_name"),
        (
            {"holidays": [{"date": "2028-01-01", "name": ""}], "workdays": []},
            "invalid_calendar",
        ),
        ({"holidays": [{"date": "2027-02-30", "name": "x"}], "workdays": []}, "validation_error"),
        ({"workdays": []}, "validation_error"),
    ],
)
def test_a_bad_calendar_is_refused_with_its_code_and_nothing_is_stored(calendar_demo, body, code):
    app, client, headers = calendar_demo
    resp = client.put(URL.format(2027), json=body, headers=headers["admin"])
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert _versions(app, 2027) == []


def test_a_year_out_of_range_is_refused(calendar_demo):
    _app, client, headers = calendar_demo
    resp = client.put(
        URL.format(3000), json={"holidays": [], "workdays": []}, headers=headers["admin"]
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_year"


def _post_campaign(client, headers, start: str, end: str, **extra):
    areas = client.get("/api/v1/areas", headers=headers["coordinator"]).get_json()
    district = next(a for a in areas if a["code"] == "XQ")
    return client.post(
        "/api/v1/sms/campaigns",
        json={
            "code": "WD-1",
            "name": "工作日活动",
            "area_id": district["id"],
            "start_date": start,
            "end_date": end,
            "senders": ["ICBC", "ABC"],
            "working_days_only": True,
            **extra,
        },
        headers=headers["coordinator"],
    )


def test_a_working_days_campaign_into_an_unknown_year_is_refused_with_how_to_load_it(calendar_demo):
    _app, client, headers = calendar_demo
    # The rotation itself would end in 2026 (two senders, two days), but the campaign runs on
    # into 2027: every day from start to end is checked.
    resp = _post_campaign(client, headers, "2026-12-28", "2027-01-15")
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "calendar_unknown_year"
    assert error["details"]["year"] == 2027
    assert "PUT /api/v1/calendars/CN/2027" in error["message"]
    # Without working_days_only the calendar does not matter.
    plain = _post_campaign(client, headers, "2026-12-28", "2027-01-15", working_days_only=False)
    assert plain.status_code == 201
    client.put(URL.format(2027), json=CALENDAR_2027, headers=headers["admin"])
    ok = _post_campaign(client, headers, "2026-12-28", "2027-01-15", code="WD-2")
    assert ok.status_code == 201, ok.get_json()


def test_a_2027_working_days_campaign_skips_the_spring_festival_and_works_the_saturday(
    calendar_demo,
):
    app, client, headers = calendar_demo
    campaign = working_days_campaign_over_2027(
        app,
        client,
        headers,
        phones=3,
        code="CNY-2027",
        first=dt.date(2027, 2, 4),
        last=dt.date(2027, 2, 22),
    )
    schedule = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/schedule", headers=headers["coordinator"]
    ).get_json()
    days = [d for slot in schedule["slots"] for d in slot["days"]]
    assert days == [
        "2027-02-04", "2027-02-05",  # Thursday, Friday
        "2027-02-15", "2027-02-16", "2027-02-17", "2027-02-18", "2027-02-19",
        "2027-02-20",  # the adjusted Saturday
        "2027-02-22",
    ]  # fmt: skip
    assert not SPRING_FESTIVAL & set(days)
    skipped = {e["day"]: e["reason"] for e in schedule["events"] if e["kind"] == "day_skipped"}
    assert "春节" in skipped["2027-02-10"] and "2027-02-21" in skipped  # a holiday, a Sunday
    assert schedule["unknown_year"] is None
