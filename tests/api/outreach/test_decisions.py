"""Decisions on product_matched visits: the due date in working days, who decides and how
often, and the open and overdue lists as time passes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import AuditEntry
from tests.api.outreach.visits_helpers import (
    API,
    body,
    enterprise_of,
    heads,
    local_time,
    post_visit,
    travel,
)
from tests.api.sms.calendar_2027 import CALENDAR_2027

# 2027-06-01 is a Tuesday; the Dragon Boat holiday of CALENDAR_2027 is 9-11 June (Wed-Fri).
VISIT_DAY = dt.date(2027, 6, 1)


@pytest.fixture
def calendar(client, visits):
    travel(dt.date(2027, 6, 2))
    admin = heads(client, "admin")["admin"]
    resp = client.put("/api/v1/calendars/CN/2027", json=CALENDAR_2027, headers=admin)
    assert resp.status_code == 200, resp.get_json()


def _matched(client, headers, enterprise, visited_at):
    resp = post_visit(client, headers, body(enterprise, "product_matched", visited_at=visited_at))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_the_due_date_is_ten_working_days_after_the_local_date_skipping_holidays(
    client, visits, calendar
):
    h = heads(client, "bank")
    enterprise = enterprise_of(visits, "bank")
    # 2, 3, 4, 7, 8 June; 9-11 June are holidays; 14, 15, 16, 17, 18 June.
    late_evening = _matched(client, h["bank"], enterprise, local_time(VISIT_DAY, dt.time(23, 30)))
    assert late_evening["decision_due_on"] == "2027-06-18"
    # 00:30 on 2 June local is still 1 June in UTC: it counts from its local date, 2 June.
    just_after = _matched(client, h["bank"], enterprise, "2027-06-01T16:30:00+00:00")
    assert just_after["visited_at"] == "2027-06-02T00:30:00+08:00"
    assert just_after["decision_due_on"] == "2027-06-21"


def test_without_a_calendar_for_the_year_days_count_monday_to_friday(client, visits):
    travel(dt.date(2027, 6, 2))
    h = heads(client, "bank")
    got = _matched(
        client, h["bank"], enterprise_of(visits, "bank"), local_time(VISIT_DAY, dt.time(10, 0))
    )
    assert got["decision_due_on"] == "2027-06-15"


def test_the_working_days_are_a_setting(client, visits, override_settings):
    override_settings(outreach_decision_working_days=3)
    travel(dt.date(2027, 6, 2))
    h = heads(client, "bank")
    got = _matched(
        client, h["bank"], enterprise_of(visits, "bank"), local_time(VISIT_DAY, dt.time(10, 0))
    )
    assert got["decision_due_on"] == "2027-06-04"


def test_deciding_once_by_the_enterprises_institution(client, visits, clean_app):
    travel(dt.date(2027, 6, 2))
    h = heads(client, "bank", "icbc", "coordinator", "admin")
    visit = _matched(
        client, h["bank"], enterprise_of(visits, "bank"), local_time(VISIT_DAY, dt.time(10, 0))
    )
    url = f"{API}/visits/{visit['id']}/decision"

    assert (
        client.post(url, json={"decision": "approved"}, headers=h["coordinator"]).status_code == 403
    )
    assert client.post(url, json={"decision": "approved"}, headers=h["icbc"]).status_code == 404
    bad = client.post(url, json={"decision": "rejected", "reason": " "}, headers=h["bank"])
    assert bad.status_code == 422
    assert "reason" in bad.get_json()["error"]["details"]["fields"]
    bad = client.post(url, json={"decision": "maybe"}, headers=h["bank"])
    assert bad.status_code == 422
    stale = client.post(url, json={"decision": "approved", "version": 7}, headers=h["bank"])
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"

    done = client.post(
        url, json={"decision": "rejected", "reason": "额度不足", "version": 1}, headers=h["bank"]
    )
    assert done.status_code == 200, done.get_json()
    got = done.get_json()
    assert (got["decision"], got["decision_reason"], got["decided_by"]) == (
        "rejected",
        "额度不足",
        "bank",
    )
    assert got["decided_at"].endswith("+08:00")
    assert got["version"] == 2

    again = client.post(url, json={"decision": "approved"}, headers=h["admin"])
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "already_decided"
    assert client.get(f"{API}/visits/{visit['id']}", headers=h["bank"]).get_json()["decision"] == (
        "rejected"
    )
    with clean_app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "decide_visit")
        ).all()
        assert [(e.entity_id, e.details["decision"]) for e in entries] == [
            (str(visit["id"]), "rejected")
        ]


def test_only_a_product_matched_visit_is_decided(client, visits):
    travel(dt.date(2027, 6, 2))
    h = heads(client, "bank")
    resp = post_visit(
        client,
        h["bank"],
        body(
            enterprise_of(visits, "bank"),
            "no_need",
            visited_at=local_time(VISIT_DAY, dt.time(10, 0)),
        ),
    )
    url = f"{API}/visits/{resp.get_json()['id']}/decision"
    got = client.post(url, json={"decision": "approved"}, headers=h["bank"])
    assert got.status_code == 409
    assert got.get_json()["error"]["code"] == "no_decision_needed"


def _ids(client, headers, query=""):
    resp = client.get(f"{API}/decisions{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return [v["id"] for v in resp.get_json()]


def test_open_and_overdue_decisions_move_with_time(client, visits, calendar):
    h = heads(client, "bank", "icbc")
    ours = _matched(
        client, h["bank"], enterprise_of(visits, "bank"), local_time(VISIT_DAY, dt.time(10, 0))
    )["id"]
    theirs = _matched(
        client,
        h["icbc"],
        enterprise_of(visits, "icbc"),
        local_time(dt.date(2027, 6, 2), dt.time(8, 0)),
    )["id"]
    post_visit(
        client,
        h["bank"],
        body(
            enterprise_of(visits, "bank", 1),
            "no_need",
            visited_at=local_time(VISIT_DAY, dt.time(11, 0)),
        ),
    )

    h = heads(client, "bank", "icbc", "coordinator")
    coordinator = h["coordinator"]
    assert _ids(client, coordinator) == [ours, theirs]  # earliest due first
    assert _ids(client, coordinator, "?state=overdue") == []
    assert _ids(client, h["bank"]) == [ours]  # a bank: its own institution's
    assert _ids(client, coordinator, "?institution=ICBC") == [theirs]
    assert _ids(client, coordinator, "?visitor=bank") == [ours]
    assert _ids(client, coordinator, f"?programme={visits.programme}") == [ours, theirs]

    travel(dt.date(2027, 6, 18), dt.time(23, 59), tick=False)  # the last day for ours
    h = heads(client, "bank", "coordinator")
    assert _ids(client, h["coordinator"], "?state=overdue") == []

    travel(dt.date(2027, 6, 19), dt.time(0, 0, 1), tick=False)
    h = heads(client, "bank", "icbc", "coordinator")
    assert _ids(client, h["coordinator"], "?state=overdue") == [ours]
    assert _ids(client, h["icbc"], "?state=overdue") == []
    got = client.get(f"{API}/visits/{ours}", headers=h["bank"]).get_json()
    assert got["decision_overdue"] is True

    travel(dt.date(2027, 6, 22), dt.time(9, 0))  # theirs was due on 21 June
    h = heads(client, "bank", "coordinator")
    assert _ids(client, h["coordinator"], "?state=overdue") == [ours, theirs]
    resp = client.post(
        f"{API}/visits/{ours}/decision", json={"decision": "approved"}, headers=h["bank"]
    )
    assert resp.status_code == 200
    assert resp.get_json()["decision_overdue"] is False
    assert _ids(client, h["coordinator"], "?state=overdue") == [theirs]
    assert _ids(client, h["coordinator"]) == [theirs]


def test_bad_decision_filters(client, visits):
    travel(dt.date(2027, 6, 2))
    h = heads(client, "coordinator", "worker_a")
    assert client.get(f"{API}/decisions?state=late", headers=h["coordinator"]).status_code == 422
    resp = client.get(f"{API}/decisions?institution=NOPE", headers=h["coordinator"])
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "unknown_institution"
    assert client.get(f"{API}/decisions", headers=h["worker_a"]).status_code == 403
