"""Site plans: filed by the lead (late after plan_due_on, never refused), approved or returned by
the coordinator, re-filed after a return; the files it names are linked to the event."""

from __future__ import annotations

import datetime as dt

import pytest

from gridserve.extensions import db
from gridserve.models import AuditEntry, OutreachPlan
from tests.api.outreach.test_outreach_attachments import PDF, PNG, desk_file, upload
from tests.api.outreach.test_teams import drop_abc_from_site, error, local, set_event
from tests.clock import move_to

BASE = "/api/v1/outreach/events"


def plan(client, headers, event_id, text="宣传点方案：两块展板，四名工作人员。", attachments=(),
         version=None):  # fmt: skip
    body = {"text": text, "attachments": list(attachments)}
    if version is not None:
        body["version"] = version
    return client.post(f"{BASE}/{event_id}/plan", json=body, headers=headers)


def review(client, headers, event_id, action, **body):
    return client.post(f"{BASE}/{event_id}/plan/{action}", json=body, headers=headers)


def test_the_lead_files_the_plan_and_participants_and_the_area_read_it(client, auth_as, outreach):
    resp = plan(client, auth_as("icbc"), outreach.site)
    assert resp.status_code == 200, resp.get_json()
    filed = resp.get_json()
    assert filed["status"] == "submitted" and filed["late"] is False and filed["version"] == 1
    assert filed["lead"] == "ICBC" and filed["due_on"] == "2027-04-06"
    assert filed["event_id"] == outreach.site and filed["note"] is None
    for user in ("icbc", "bank", "reg", "coordinator", "station_b", "centre"):
        got = client.get(f"{BASE}/{outreach.site}/plan", headers=auth_as(user))
        assert got.status_code == 200 and got.get_json()["text"].startswith("宣传点方案"), user
    error(client.get(f"{BASE}/{outreach.site}/plan", headers=auth_as("station_a")), 404,
          "not_found")  # fmt: skip
    error(client.get(f"{BASE}/{outreach.site}/plan", headers=auth_as("worker_a")), 403,
          "forbidden_role")  # fmt: skip


def test_no_plan_yet_is_404_plan_not_found(client, auth_as, outreach):
    error(client.get(f"{BASE}/{outreach.site}/plan", headers=auth_as("icbc")), 404,
          "plan_not_found")  # fmt: skip


def test_only_the_lead_or_the_coordinator_files_it(client, auth_as, outreach):
    error(plan(client, auth_as("bank"), outreach.site), 403, "not_the_lead")  # a co-organiser
    error(plan(client, auth_as("reg"), outreach.site), 403, "not_the_lead")  # the host
    assert plan(client, auth_as("coordinator"), outreach.site).status_code == 200


@pytest.mark.parametrize("user", ["station_b", "centre", "district", "worker_a"])
def test_roles_that_may_not_file_get_403_before_the_body(client, auth_as, outreach, user):
    resp = client.post(f"{BASE}/{outreach.site}/plan", json={"text": 5}, headers=auth_as(user))
    error(resp, 403, "forbidden_role")


@pytest.mark.parametrize("user", ["icbc", "bank", "station_b", "centre"])
def test_only_the_coordinator_reviews(client, auth_as, outreach, user):
    plan(client, auth_as("icbc"), outreach.site)
    for action in ("approve", "return"):
        error(review(client, auth_as(user), outreach.site, action, note=5), 403, "forbidden_role")


def test_an_event_without_a_lead_has_no_plan(client, auth_as, outreach):
    error(plan(client, auth_as("reg"), outreach.launch), 403, "not_the_lead")
    error(plan(client, auth_as("coordinator"), outreach.launch), 409, "no_lead")


def test_a_plan_filed_after_the_due_day_is_late_not_refused(client, auth_as, outreach):
    move_to(local(dt.date(2027, 4, 6), 23, 59, 50), tick=False)
    assert plan(client, auth_as("icbc"), outreach.site).get_json()["late"] is False
    move_to(local(dt.date(2027, 4, 7), 0, 0, 1), tick=False)
    resp = plan(client, auth_as("icbc"), outreach.site, version=1)
    assert resp.status_code == 200 and resp.get_json()["late"] is True


def test_return_then_refile_then_approve(client, auth_as, outreach, ctx):
    icbc, coordinator = auth_as("icbc"), auth_as("coordinator")
    first = desk_file(client, icbc)
    plan(client, icbc, outreach.site, attachments=[first])
    returned = review(client, coordinator, outreach.site, "return", note="展板位置不清楚")
    assert returned.status_code == 200, returned.get_json()
    body = returned.get_json()
    assert body["status"] == "returned" and body["note"] == "展板位置不清楚"
    assert body["reviewed_at"] and body["version"] == 2
    error(review(client, coordinator, outreach.site, "return", note="again"), 409,
          "plan_not_submitted")  # fmt: skip
    error(review(client, coordinator, outreach.site, "approve"), 409, "plan_not_submitted")
    second = desk_file(client, icbc, PNG, "image/png")
    error(plan(client, icbc, outreach.site, "新方案", [second], version=1), 409, "stale_version")
    refiled = plan(client, icbc, outreach.site, "新方案", [second], version=2)
    assert refiled.status_code == 200, refiled.get_json()
    body = refiled.get_json()
    assert body["status"] == "submitted" and body["text"] == "新方案"
    assert body["attachments"] == [second] and body["note"] is None and body["version"] == 3
    approved = review(client, coordinator, outreach.site, "approve", note="同意", version=3)
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    error(review(client, coordinator, outreach.site, "approve"), 409, "plan_not_submitted")
    error(plan(client, icbc, outreach.site, version=4), 409, "plan_approved")
    actions = {a for (a,) in db.session.query(AuditEntry.action)}
    assert {"outreach.plan.filed", "outreach.plan.returned", "outreach.plan.approved"} <= actions


def test_a_submitted_plan_can_be_replaced_before_review(client, auth_as, outreach):
    plan(client, auth_as("icbc"), outreach.site)
    error(plan(client, auth_as("icbc"), outreach.site, "第二稿"), 409, "stale_version")
    resp = plan(client, auth_as("icbc"), outreach.site, "第二稿", version=1)
    assert resp.get_json()["text"] == "第二稿" and resp.get_json()["version"] == 2


def test_reviewing_with_a_stale_version_is_refused(client, auth_as, outreach):
    plan(client, auth_as("icbc"), outreach.site)
    plan(client, auth_as("icbc"), outreach.site, "第二稿", version=1)
    error(review(client, auth_as("coordinator"), outreach.site, "approve", version=1), 409,
          "stale_version")  # fmt: skip


def test_reviewing_when_nothing_is_filed_is_409(client, auth_as, outreach):
    error(review(client, auth_as("coordinator"), outreach.site, "approve"), 409,
          "plan_not_submitted")  # fmt: skip
    error(review(client, auth_as("coordinator"), outreach.site, "return", note="无"), 409,
          "plan_not_submitted")  # fmt: skip


@pytest.mark.parametrize("status", ["held", "reported", "cancelled"])
def test_no_plan_filing_or_review_once_the_event_is_over(client, auth_as, outreach, ctx, status):
    plan(client, auth_as("icbc"), outreach.site)
    set_event(outreach.site, status=status)
    error(plan(client, auth_as("icbc"), outreach.site, version=1), 409, "event_closed")
    error(review(client, auth_as("coordinator"), outreach.site, "approve"), 409, "event_closed")


# --- the files a plan names --------------------------------------------------------------------


def test_the_files_named_must_exist_and_be_the_filers(client, auth_as, outreach, terminal):
    icbc = auth_as("icbc")
    unknown = "00000000-0000-4000-8000-000000000000"
    err = error(plan(client, icbc, outreach.site, attachments=[unknown]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"] == {"field": "attachments", "index": 0, "uuid": unknown,
                              "reason": "not_found"}  # fmt: skip
    from tests.api.test_attachments import PNG as PHOTO

    photo, resp = upload(client, terminal, PHOTO, "image/png")
    assert resp.status_code == 201
    mine = desk_file(client, icbc)
    err = error(plan(client, icbc, outreach.site, attachments=[mine, photo]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"]["index"] == 1 and err["details"]["reason"] == "not_a_desk_file"
    theirs = desk_file(client, auth_as("bank"))
    err = error(plan(client, icbc, outreach.site, attachments=[theirs]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"]["reason"] == "not_yours"
    # Nothing was filed or linked by the refused attempts.
    error(client.get(f"/api/v1/attachments/{mine}", headers=auth_as("bank")), 404, "not_found")


def test_files_of_the_coordinator_and_of_the_participants_may_be_named(client, auth_as, outreach):
    by_coordinator = desk_file(client, auth_as("coordinator"))
    by_bank = desk_file(client, auth_as("bank"))
    resp = plan(client, auth_as("icbc"), outreach.site, attachments=[by_coordinator])
    assert resp.status_code == 200, resp.get_json()
    # The coordinator may name a participant's file when filing for the lead.
    resp = plan(client, auth_as("coordinator"), outreach.site, attachments=[by_bank], version=1)
    assert resp.status_code == 200, resp.get_json()


def test_a_file_filed_for_one_event_cannot_be_filed_for_another(client, auth_as, outreach, ctx):
    ident = desk_file(client, auth_as("icbc"))
    assert plan(client, auth_as("icbc"), outreach.site, attachments=[ident]).status_code == 200
    set_event(outreach.launch, lead_id=outreach.inst["ICBC"])
    err = error(plan(client, auth_as("icbc"), outreach.launch, attachments=[ident]), 422,
                "invalid_attachment")  # fmt: skip
    assert err["details"]["reason"] == "filed_for_another_event"


def test_a_contact_that_left_the_event_cannot_read_its_plan(client, auth_as, outreach, ctx):
    plan(client, auth_as("icbc"), outreach.site)
    drop_abc_from_site(outreach)
    error(client.get(f"{BASE}/{outreach.site}/plan", headers=auth_as("abc")), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": "   "},
        {"text": 5},
        {"text": "x" * 20_001},
        {"text": "ok", "attachments": ["not-a-uuid"]},
        {"text": "ok", "attachments": "x"},
        {"text": "ok", "attachments": [f"00000000-0000-4000-8000-{i:012d}" for i in range(21)]},
        {"text": "ok", "version": -1},
        {"text": "ok", "version": "1"},
    ],
)
def test_malformed_plans_are_422(client, auth_as, outreach, body):
    resp = client.post(f"{BASE}/{outreach.site}/plan", json=body, headers=auth_as("icbc"))
    error(resp, 422, "validation_error")


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "  "}, {"note": "x" * 2001}])
def test_a_return_needs_a_note(client, auth_as, outreach, body):
    plan(client, auth_as("icbc"), outreach.site)
    error(review(client, auth_as("coordinator"), outreach.site, "return", **body), 422,
          "validation_error")  # fmt: skip


def test_the_stored_plan_remembers_who_filed_and_reviewed(client, auth_as, outreach, ctx):
    plan(client, auth_as("icbc"), outreach.site, attachments=[desk_file(client, auth_as("icbc"))])
    review(client, auth_as("coordinator"), outreach.site, "approve")
    row = db.session.query(OutreachPlan).one()
    assert row.institution_id == outreach.inst["ICBC"]
    assert row.submitted_by and row.reviewed_by and row.status == "approved"
    assert len(row.attachments) == 1 and PDF
