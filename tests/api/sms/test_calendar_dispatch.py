"""A campaign whose calendar runs out: the slots in known years still go out, progress names
the missing year, and loading (or correcting) a year moves only the slots that have not opened."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete

from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import WorkCalendar
from jobs.registry import run_job
from tests import clock
from tests.api.sms.calendar_2027 import CALENDAR_2027, working_days_campaign_over_2027
from tests.api.sms.campaign_now import load
from tests.conftest import DEMO_PASSWORD, login

URL = "/api/v1/calendars/CN/{}"


@pytest.fixture
def year_end_demo(clean_app, override_settings, tmp_path):
    """The demo at 10:00 on Wednesday 30 December 2026; default quiet hours (window 08-21)."""
    override_settings(sms_outbox_path=tmp_path, sms_retry_base_seconds=0)
    clock.move_to(clock.at_local(dt.date(2026, 12, 30), dt.time(10)))
    client, headers = load(clean_app)
    headers["admin"] = login(client, "admin", DEMO_PASSWORD)
    return clean_app, client, headers


def _campaign_into_2027(app, client, headers) -> dict:
    """A working-days campaign to 8 Jan 2027, made while 2027 was loaded; then the 2027 data
    is deleted (as for a campaign stored before the check existed)."""
    campaign = working_days_campaign_over_2027(
        app,
        client,
        headers,
        phones=5,
        code="NY-2027",
        first=dt.date(2026, 12, 30),
        last=dt.date(2027, 1, 8),
    )
    with app.app_context(), transaction():
        db.session.execute(delete(WorkCalendar).where(WorkCalendar.year == 2027))
    return campaign


def _dispatch(app) -> dict:
    with app.app_context():
        try:
            return run_job("sms-dispatch")
        finally:
            db.session.remove()


def _slot_days(client, headers, campaign_id: int) -> tuple[list[str], dict]:
    body = client.get(
        f"/api/v1/sms/campaigns/{campaign_id}/schedule", headers=headers["coordinator"]
    ).get_json()
    return [d for s in body["slots"] for d in s["days"]], body


def test_the_slots_before_an_unknown_year_still_go_out_and_progress_names_the_year(year_end_demo):
    app, client, headers = year_end_demo
    campaign = _campaign_into_2027(app, client, headers)
    days, schedule = _slot_days(client, headers, campaign["id"])
    assert days == ["2026-12-30", "2026-12-31"]
    assert schedule["unknown_year"] == 2027
    assert any(
        e["kind"] == "calendar_unknown_year" and e["year"] == 2027 for e in schedule["events"]
    )

    report = _dispatch(app)
    assert report.get("accepted") == 10, report  # mandated and custom text to each of five

    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    (alert,) = progress["alerts"]
    assert alert["code"] == "calendar_unknown_year" and alert["year"] == 2027
    assert "PUT /api/v1/calendars/CN/2027" in alert["message"]
    icbc = progress["senders"][0]
    assert icbc["current_slot"]["start"].startswith("2026-12-30")
    assert icbc["next_slot"]["start"].startswith("2026-12-31")
    assert icbc["counts"]["accepted"] == 10

    # Loading 2027 adds its slots; the ones before stay as they were.
    assert (
        client.put(URL.format(2027), json=CALENDAR_2027, headers=headers["admin"]).status_code
        == 200
    )
    days, schedule = _slot_days(client, headers, campaign["id"])
    assert days == [
        "2026-12-30", "2026-12-31",
        "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08",
    ]  # fmt: skip
    assert schedule["unknown_year"] is None
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    assert progress["alerts"] == []


def test_correcting_a_year_moves_only_the_slots_that_have_not_opened(year_end_demo):
    app, client, headers = year_end_demo
    campaign = working_days_campaign_over_2027(
        app,
        client,
        headers,
        phones=2,
        code="NY-2027",
        first=dt.date(2026, 12, 30),
        last=dt.date(2027, 1, 5),
    )
    assert _dispatch(app).get("accepted") == 4  # today's slot opened and sent
    before, _ = _slot_days(client, headers, campaign["id"])
    assert before == ["2026-12-30", "2026-12-31", "2027-01-04", "2027-01-05"]
    # A corrected 2026: the 30th (whose slot already ran) and the 31st become holidays.
    fix = {
        "holidays": [
            {"date": "2026-12-30", "name": "补休"},
            {"date": "2026-12-31", "name": "补休"},
        ],
        "workdays": [],
    }
    assert client.put(URL.format(2026), json=fix, headers=headers["admin"]).status_code == 200
    after, _ = _slot_days(client, headers, campaign["id"])
    assert after == ["2026-12-30", "2027-01-04", "2027-01-05"]
    # The slot that is open stays open and nothing is sent twice.
    assert "accepted" not in _dispatch(app)
    progress = client.get(
        f"/api/v1/sms/campaigns/{campaign['id']}/progress", headers=headers["coordinator"]
    ).get_json()
    assert progress["senders"][0]["current_slot"]["start"].startswith("2026-12-30")
    assert progress["totals"]["accepted"] == 4
