"""Outreach programmes: the coordinator plans them, everybody in scope reads them."""

from __future__ import annotations

import datetime as dt

import pytest

from gridserve.models import SmsCampaign
from tests.api.outreach.event_helpers import API, rows


def _body(world, **over) -> dict:
    body = {
        "code": "PUB-NEW",
        "name": "金融宣传月",
        "kind": "publicity",
        "area_id": world.street,
        "start_date": "2027-05-01",
        "end_date": "2027-05-31",
        "organiser": "DZ-REG",
        "institutions": ["ICBC", "DZCB"],
        "plan_due_on": "2027-04-25",
        "report_due_on": "2027-06-05",
    }
    return body | over


def _campaign(app, code: str, area_id: int) -> int:
    with rows(app) as session:
        campaign = SmsCampaign(
            code=code,
            name=f"短信 {code}",
            area_id=area_id,
            start_date=dt.date(2027, 4, 9),
            end_date=dt.date(2027, 4, 19),
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def test_the_coordinator_makes_a_programme_with_its_due_dates_and_campaigns(
    client, auth_as, outreach, clean_app
):
    world = outreach.field.world
    campaign = _campaign(clean_app, "SMS-D", world.district)
    resp = client.post(
        f"{API}/programmes",
        json=_body(world, sms_campaign_ids=[campaign]),
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert got["organiser"] == "DZ-REG"
    assert got["institutions"] == ["ICBC", "DZCB"]
    assert got["plan_due_on"] == "2027-04-25"
    assert got["plan_due_at"] == "2027-04-25T23:59:59+08:00"
    assert got["report_due_at"] == "2027-06-05T23:59:59+08:00"
    assert got["sms_campaign_ids"] == [campaign]
    assert got["sms_campaigns"] == [
        {
            "id": campaign,
            "code": "SMS-D",
            "name": "短信 SMS-D",
            "start_date": "2027-04-09",
            "end_date": "2027-04-19",
        }
    ]
    assert got["events"] == [] and got["version"] == 1


def test_the_programme_page_shows_events_campaigns_and_due_dates(client, auth_as, outreach):
    got = client.get(f"{API}/programmes/{outreach.programme}", headers=auth_as("coordinator"))
    assert got.status_code == 200
    page = got.get_json()
    assert [e["id"] for e in page["events"]] == [outreach.launch, outreach.site]
    assert page["events"][1]["lead"] == "ICBC"
    assert page["events"][0]["starts_at"] == "2027-04-14T09:00:00+08:00"
    assert page["plan_due_at"] == "2027-04-06T23:59:59+08:00"
    assert page["sms_campaigns"] == []


def test_a_taken_code_is_409(client, auth_as, outreach):
    resp = client.post(
        f"{API}/programmes", json=_body(outreach.field.world, code="PUB-T"),
        headers=auth_as("coordinator"),
    )  # fmt: skip
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "programme_exists"


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"institutions": ["ICBC", "NOPE"]}, 422, "unknown_institution"),
        ({"organiser": "XX-1"}, 422, "unknown_institution"),
        ({"end_date": "2027-04-30"}, 422, "validation_error"),
        ({"kind": "party"}, 422, "validation_error"),
        ({"code": ""}, 422, "validation_error"),
        ({"sms_campaign_ids": [987654]}, 422, "validation_error"),
        ({"area_id": 987654}, 404, "not_found"),
        ({"start_date": "0001-01-01"}, 422, "validation_error"),
    ],
)
def test_bad_programmes_are_refused(client, auth_as, outreach, over, status, code):
    resp = client.post(
        f"{API}/programmes", json=_body(outreach.field.world, **over),
        headers=auth_as("coordinator"),
    )  # fmt: skip
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    if code == "unknown_institution":
        assert resp.get_json()["error"]["details"]["codes"] in (["NOPE"], ["XX-1"])


def test_a_campaign_that_does_not_cover_the_area_is_area_mismatch(
    client, auth_as, outreach, clean_app
):
    world = outreach.field.world
    small = _campaign(clean_app, "SMS-A", world.community_a)
    resp = client.post(
        f"{API}/programmes", json=_body(world, sms_campaign_ids=[small]),
        headers=auth_as("coordinator"),
    )  # fmt: skip
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "area_mismatch"
    # A programme over that community may link it.
    resp = client.post(
        f"{API}/programmes",
        json=_body(world, area_id=world.community_a, sms_campaign_ids=[small]),
        headers=auth_as("coordinator"),
    )
    assert resp.status_code == 201, resp.get_json()
    # ... but may not then grow to the street while keeping it.
    got = resp.get_json()
    moved = client.patch(
        f"{API}/programmes/{got['id']}",
        json={"version": got["version"], "area_id": world.street},
        headers=auth_as("coordinator"),
    )
    assert moved.status_code == 422
    assert moved.get_json()["error"]["code"] == "area_mismatch"


@pytest.mark.parametrize("who", ["bank", "station_a", "centre", "district", "worker_a", "reg"])
def test_only_the_coordinator_makes_and_edits_programmes(client, auth_as, outreach, who):
    made = client.post(f"{API}/programmes", json={}, headers=auth_as(who))
    assert made.status_code == 403
    assert made.get_json()["error"]["code"] == "forbidden_role"
    edit = client.patch(f"{API}/programmes/{outreach.programme}", json={}, headers=auth_as(who))
    assert edit.status_code == 403


def test_admin_and_coordinator_pass_the_gate_to_the_body_check(client, auth_as, outreach):
    for who in ("admin", "coordinator"):
        resp = client.post(f"{API}/programmes", json={}, headers=auth_as(who))
        assert resp.status_code == 422


def test_who_reads_which_programmes(client, auth_as, outreach):
    for who in ("coordinator", "centre", "station_a", "station_b", "bank", "reg", "icbc"):
        listed = client.get(f"{API}/programmes", headers=auth_as(who))
        assert listed.status_code == 200, who
        assert [p["code"] for p in listed.get_json()] == ["PUB-T"], who
        one = client.get(f"{API}/programmes/{outreach.programme}", headers=auth_as(who))
        assert one.status_code == 200, who
    # A bank sees only the events it takes part in on the programme's page.
    page = client.get(f"{API}/programmes/{outreach.programme}", headers=auth_as("bank")).get_json()
    assert {e["id"] for e in page["events"]} == {outreach.launch, outreach.site}
    station = client.get(f"{API}/programmes/{outreach.programme}", headers=auth_as("station_a"))
    assert [e["id"] for e in station.get_json()["events"]] == [outreach.launch]
    # Workers have no access at all.
    assert client.get(f"{API}/programmes", headers=auth_as("worker_a")).status_code == 403
    worker = client.get(f"{API}/programmes/{outreach.programme}", headers=auth_as("worker_a"))
    assert worker.status_code == 403


def test_a_bank_outside_the_programme_does_not_see_it(client, auth_as, outreach):
    world = outreach.field.world
    made = client.post(
        f"{API}/programmes",
        json=_body(world, code="PUB-2", institutions=["ICBC"]),
        headers=auth_as("coordinator"),
    ).get_json()
    listed = client.get(f"{API}/programmes", headers=auth_as("bank")).get_json()
    assert [p["code"] for p in listed] == ["PUB-T"]
    assert client.get(f"{API}/programmes/{made['id']}", headers=auth_as("bank")).status_code == 404
    seen = client.get(f"{API}/programmes/{made['id']}", headers=auth_as("icbc"))
    assert seen.status_code == 200


def test_edits_name_their_version(client, auth_as, outreach):
    headers = auth_as("coordinator")
    page = client.get(f"{API}/programmes/{outreach.programme}", headers=headers).get_json()
    resp = client.patch(
        f"{API}/programmes/{outreach.programme}",
        json={"version": page["version"], "name": "改名", "institutions": ["ABC", "ICBC"],
              "report_due_on": "2027-05-06"},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert got["name"] == "改名" and got["institutions"] == ["ABC", "ICBC"]
    assert got["report_due_at"] == "2027-05-06T23:59:59+08:00"
    assert got["version"] == page["version"] + 1
    stale = client.patch(
        f"{API}/programmes/{outreach.programme}",
        json={"version": page["version"], "name": "又改"},
        headers=headers,
    )
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "stale_version"
    assert error["details"]["current_version"] == page["version"] + 1
    # Nothing to change: nothing changes.
    same = client.patch(
        f"{API}/programmes/{outreach.programme}",
        json={"version": got["version"], "name": "改名"},
        headers=headers,
    )
    assert same.status_code == 200 and same.get_json()["version"] == got["version"]


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"institutions": ["NOPE"]}, 422, "unknown_institution"),
        ({"end_date": "2027-04-01"}, 422, "validation_error"),
        ({"name": None}, 422, "validation_error"),
        ({"code": "PUB-T2"}, 200, None),
    ],
)
def test_bad_edits_are_refused(client, auth_as, outreach, over, status, code):
    resp = client.patch(
        f"{API}/programmes/{outreach.programme}", json={"version": 1, **over},
        headers=auth_as("coordinator"),
    )  # fmt: skip
    assert resp.status_code == status, resp.get_json()
    if code:
        assert resp.get_json()["error"]["code"] == code


def test_a_code_taken_by_another_programme_is_409_on_edit(client, auth_as, outreach):
    headers = auth_as("coordinator")
    client.post(f"{API}/programmes", json=_body(outreach.field.world), headers=headers)
    resp = client.patch(
        f"{API}/programmes/{outreach.programme}",
        json={"version": 1, "code": "PUB-NEW"},
        headers=headers,
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "programme_exists"
