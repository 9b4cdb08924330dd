"""The life cycle: draft → planned → approved → held → reported, cancelled before reported;
change notices exactly when an approved event moves or is cancelled."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve import audit
from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachEvent
from gridserve.services.outreach import lifecycle, notices
from jobs.registry import JOBS, run_job
from tests import clock
from tests.api.outreach.event_helpers import API, at, get_event, plan, report, rows, step
from tests.conftest import TEST_ACTOR, login


@pytest.fixture
def announced(monkeypatch) -> list[tuple]:
    """Every call of notices.announce: (event id, reason, changes)."""
    calls: list[tuple] = []

    def record(principal, event, reason, changes):
        calls.append((event.id, reason, changes, event.status))
        return []

    monkeypatch.setattr(notices, "announce", record)
    return calls


def _approve(client, headers, clean_app, outreach, event_id: int) -> dict:
    if event_id == outreach.site:
        plan(clean_app, event_id, outreach.inst["ICBC"])
    version = get_event(client, headers, event_id)["version"]
    planned = step(client, headers, event_id, "publish", version)
    assert planned.status_code == 200, planned.get_json()
    approved = step(client, headers, event_id, "approve", planned.get_json()["version"])
    assert approved.status_code == 200, approved.get_json()
    return approved.get_json()


def _status(app, event_id: int) -> str:
    with app.app_context():
        return db.session.get(OutreachEvent, event_id).status


def test_an_event_goes_from_draft_to_reported(client, auth_as, outreach, clean_app, announced):
    headers = auth_as("coordinator")
    planned = step(client, headers, outreach.site, "publish", 1)
    assert planned.status_code == 200
    assert planned.get_json()["status"] == "planned" and planned.get_json()["version"] == 2
    plan(clean_app, outreach.site, outreach.inst["ICBC"])
    approved = step(client, headers, outreach.site, "approve", 2).get_json()
    assert (
        approved["status"] == "approved"
        and approved["change_seq"] > planned.get_json()["change_seq"]
    )
    # The job marks it held once its end has passed (15 April 12:00 +08:00).
    clock.move_to(dt.datetime(2027, 4, 15, 11, 59, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    with clean_app.app_context():
        assert run_job("outreach-held") == {"held": []}
    clock.shift(dt.timedelta(minutes=2))
    with clean_app.app_context():
        assert run_job("outreach-held") == {"held": [outreach.site]}
        assert run_job("outreach-held") == {"held": []}
    headers = login(client, "coordinator")  # months later: a fresh token
    held = get_event(client, headers, outreach.site)
    assert held["status"] == "held"
    closed = step(client, headers, outreach.site, "close", held["version"])
    assert closed.status_code == 200
    assert closed.get_json()["status"] == "reported"
    with clean_app.app_context():
        actions = db.session.scalars(
            select(AuditEntry.action)
            .where(
                AuditEntry.entity == "outreach_events", AuditEntry.entity_id == str(outreach.site)
            )
            .order_by(AuditEntry.id)
        ).all()
    assert [a for a in actions if a.startswith("outreach_event.")] == [
        "outreach_event.publish", "outreach_event.approve", "outreach_event.held",
        "outreach_event.close",
    ]  # fmt: skip
    assert announced == []


def test_the_held_job_is_registered():
    assert JOBS["outreach-held"].trigger == "interval"


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        ("approve", {}, "draft"),
        ("close", {}, "draft"),
    ],
)
def test_a_step_from_the_wrong_state_is_invalid_transition(
    client, auth_as, outreach, action, body, status
):
    resp = step(client, auth_as("coordinator"), outreach.site, action, 1, **body)
    assert resp.status_code == 409
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_transition" and error["details"]["status"] == status


def test_publishing_twice_and_closing_an_approved_event_are_refused(
    client, auth_as, outreach, clean_app
):
    headers = auth_as("coordinator")
    planned = step(client, headers, outreach.launch, "publish", 1).get_json()
    again = step(client, headers, outreach.launch, "publish", planned["version"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"
    approved = step(client, headers, outreach.launch, "approve", planned["version"]).get_json()
    assert approved["status"] == "approved"  # a launch needs no site plan
    close = step(client, headers, outreach.launch, "close", approved["version"])
    assert close.status_code == 409 and close.get_json()["error"]["code"] == "invalid_transition"


def test_a_stale_version_is_refused_at_every_step(client, auth_as, outreach):
    headers = auth_as("coordinator")
    for action, extra in (("publish", {}), ("approve", {}), ("close", {}),
                          ("cancel", {"reason": "x"})):  # fmt: skip
        resp = step(client, headers, outreach.site, action, 7, **extra)
        assert resp.status_code == 409, action
        error = resp.get_json()["error"]
        assert error["code"] == "stale_version" and error["details"]["current_version"] == 1


def test_a_site_needs_its_approved_plan(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    planned = step(client, headers, outreach.site, "publish", 1).get_json()
    none = step(client, headers, outreach.site, "approve", planned["version"])
    assert none.status_code == 409
    assert none.get_json()["error"]["code"] == "plan_not_approved"
    assert none.get_json()["error"]["details"] == {"plan_status": None, "lead": "ICBC"}
    plan(clean_app, outreach.site, outreach.inst["ICBC"], status="submitted")
    filed = step(client, headers, outreach.site, "approve", planned["version"])
    assert filed.status_code == 409
    assert filed.get_json()["error"]["details"]["plan_status"] == "submitted"
    assert get_event(client, headers, outreach.site)["status"] == "planned"


@pytest.mark.parametrize("who", ["bank", "icbc", "station_b", "centre", "district", "worker_a"])
def test_only_the_coordinator_drives_the_life_cycle(client, auth_as, outreach, who):
    for action in ("publish", "approve", "close", "cancel"):
        resp = client.post(f"{API}/events/{outreach.site}/{action}", json={}, headers=auth_as(who))
        assert resp.status_code == 403, (who, action)
        assert resp.get_json()["error"]["code"] == "forbidden_role"


def test_admin_drives_it_too(client, auth_as, outreach):
    resp = step(client, auth_as("admin"), outreach.launch, "publish", 1)
    assert resp.status_code == 200 and resp.get_json()["status"] == "planned"


@pytest.mark.parametrize(
    "body",
    [
        {"version": 1},
        {"version": 1, "reason": ""},
        {"reason": "雨"},
        {"version": "1", "reason": "雨"},
    ],
)
def test_cancelling_needs_a_reason_and_a_version(client, auth_as, outreach, body):
    resp = client.post(
        f"{API}/events/{outreach.site}/cancel", json=body, headers=auth_as("coordinator")
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"


def test_cancelling_a_draft_tells_nobody(client, auth_as, outreach, announced):
    resp = step(client, auth_as("coordinator"), outreach.site, "cancel", 1, reason="场地冲突")
    assert resp.status_code == 200
    got = resp.get_json()
    assert got["status"] == "cancelled" and got["cancel_reason"] == "场地冲突"
    assert announced == []
    again = step(client, auth_as("coordinator"), outreach.site, "cancel", got["version"],
                 reason="x")  # fmt: skip
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "invalid_transition"


def test_cancelling_an_approved_event_announces_it_once(
    client, auth_as, outreach, clean_app, announced
):
    headers = auth_as("coordinator")
    approved = _approve(client, headers, clean_app, outreach, outreach.site)
    resp = step(client, headers, outreach.site, "cancel", approved["version"], reason="暴雨")
    assert resp.status_code == 200
    assert announced == [(outreach.site, "cancelled", {}, "cancelled")]


def test_a_reported_event_cannot_be_cancelled(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    _approve(client, headers, clean_app, outreach, outreach.launch)
    with rows(clean_app) as session:
        session.execute(
            OutreachEvent.__table__.update()
            .where(OutreachEvent.id == outreach.launch)
            .values(status="reported")
        )
    version = get_event(client, headers, outreach.launch)["version"]
    resp = step(client, headers, outreach.launch, "cancel", version, reason="x")
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "invalid_transition"


def test_moving_an_approved_event_announces_what_changed(
    client, auth_as, outreach, clean_app, announced
):
    headers = auth_as("coordinator")
    approved = _approve(client, headers, clean_app, outreach, outreach.site)
    # Only the title: no notice.
    titled = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": approved["version"], "title": "乙社区宣传点（新）"},
        headers=headers,
    ).get_json()
    assert announced == []
    moved = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": titled["version"], "starts_at": at(15, 14), "ends_at": at(15, 17)},
        headers=headers,
    )
    assert moved.status_code == 200, moved.get_json()
    assert announced == [
        (outreach.site, "changed", {
            "starts_at": {"from": "2027-04-15T09:00:00+08:00", "to": "2027-04-15T14:00:00+08:00"},
            "ends_at": {"from": "2027-04-15T12:00:00+08:00", "to": "2027-04-15T17:00:00+08:00"},
        }, "approved"),
    ]  # fmt: skip
    announced.clear()
    relocated = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": moved.get_json()["version"], "place_id": outreach.school},
        headers=headers,
    )
    assert relocated.status_code == 200
    [(event_id, reason, changes, _status)] = announced
    assert (event_id, reason, list(changes)) == (outreach.site, "changed", ["venue"])
    assert changes["venue"]["from"]["place_id"] == outreach.market
    assert changes["venue"]["to"] == {
        "place_id": outreach.school, "location": {"lon": 104.03, "lat": 30.42},
        "address": "甲社区小学",
    }  # fmt: skip
    # The same venue again is no change and no notice.
    announced.clear()
    same = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": relocated.get_json()["version"], "place_id": outreach.school},
        headers=headers,
    ).get_json()
    assert announced == []
    # Another address at the same place is a change of venue; none given is the place's name.
    gate = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": same["version"], "address": "甲社区小学东门"},
        headers=headers,
    ).get_json()
    assert gate["address"] == "甲社区小学东门"
    [(_, _, changes, _)] = announced
    assert changes["venue"]["from"]["address"] == "甲社区小学"
    assert changes["venue"]["to"]["address"] == "甲社区小学东门"
    back = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": gate["version"], "address": ""},
        headers=headers,
    ).get_json()
    assert back["address"] == "甲社区小学" and len(announced) == 2


def test_moving_a_draft_or_planned_event_announces_nothing(client, auth_as, outreach, announced):
    headers = auth_as("coordinator")
    moved = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": 1, "starts_at": at(15, 8), "place_id": outreach.school},
        headers=headers,
    ).get_json()
    planned = step(client, headers, outreach.site, "publish", moved["version"]).get_json()
    client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": planned["version"], "ends_at": at(15, 13)},
        headers=headers,
    )
    assert announced == []


def test_every_participant_reporting_marks_it_reported(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    _approve(client, headers, clean_app, outreach, outreach.site)
    clock.move_to(dt.datetime(2027, 4, 15, 5, tzinfo=dt.UTC))
    codes = ["DZ-REG", "ICBC", "DZCB", "PSBC"]
    for code in codes:
        report(clean_app, outreach.site, outreach.inst[code])
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        event = db.session.get(OutreachEvent, outreach.site)
        assert lifecycle.missing_reports(event) == ["ABC"]
        assert lifecycle.maybe_mark_reported(event) is False
        db.session.rollback()
    report(clean_app, outreach.site, outreach.inst["ABC"])
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        event = db.session.get(OutreachEvent, outreach.site)
        assert lifecycle.maybe_mark_reported(event) is True
        assert event.status == "reported"
        db.session.commit()
    assert _status(clean_app, outreach.site) == "reported"


def test_reports_before_the_end_do_not_close_the_event(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    _approve(client, headers, clean_app, outreach, outreach.launch)
    for code in ("DZ-REG", "DZCB", "PSBC", "ICBC", "ABC"):
        report(clean_app, outreach.launch, outreach.inst[code])
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        event = db.session.get(OutreachEvent, outreach.launch)
        assert lifecycle.missing_reports(event) == []
        assert lifecycle.maybe_mark_reported(event) is False
    assert _status(clean_app, outreach.launch) == "approved"
