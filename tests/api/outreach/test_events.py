"""Outreach events: made and changed by the coordinator, read by participants and areas."""

from __future__ import annotations

import json

import pytest

from gridserve.scope import OPERATOR
from gridserve.services.accounts import institutions
from tests.api.outreach.event_helpers import (
    API,
    at,
    create_event,
    get_event,
    rows,
    site_body,
    step,
)


def test_the_coordinator_makes_a_site_with_its_defaults(client, auth_as, outreach):
    world = outreach.field.world
    got = create_event(client, auth_as("coordinator"), outreach)
    assert got["status"] == "draft" and got["version"] == 1
    assert got["starts_at"] == "2027-04-16T09:00:00+08:00"
    assert got["ends_at"] == "2027-04-16T12:00:00+08:00"
    assert got["area_id"] == world.community_a  # the school's community
    assert got["place_id"] == outreach.school and got["address"] == "甲社区小学"
    assert got["host"] == "DZ-REG" and got["lead"] == "DZCB"
    assert got["co_organisers"] == ["PSBC", "ICBC", "ABC"]
    assert got["booth"] == {"boards": 2, "board_mm": [1792, 1172], "min_team": 4, "min_group": 20}
    assert got["venue_confirmed"] is False and got["change_seq"] > 0
    assert got["programme_id"] == outreach.programme


def test_a_venue_by_location_hangs_on_its_community(client, auth_as, outreach):
    world = outreach.field.world
    body = site_body(
        outreach, place_id=None, location={"lon": 104.08, "lat": 30.46}, address="乙社区路口",
        host="DZ-REG", co_organisers=["ABC"], booth={"boards": 3}, invited="区领导、电视台",
        starts_at="2027-04-16T01:00:00+00:00", ends_at="2027-04-16T04:00:00Z",
    )  # fmt: skip
    body.pop("place_id", None)
    resp = client.post(
        f"{API}/programmes/{outreach.programme}/events", json=body, headers=auth_as("coordinator")
    )
    assert resp.status_code == 201, resp.get_json()
    got = resp.get_json()
    assert got["area_id"] == world.community_b and got["place_id"] is None
    assert got["location"] == {"lon": 104.08, "lat": 30.46}
    assert got["starts_at"] == "2027-04-16T09:00:00+08:00"  # shown in the zone
    assert got["co_organisers"] == ["ABC"] and got["invited"] == "区领导、电视台"
    assert got["booth"]["boards"] == 3 and got["booth"]["min_team"] == 4


def _stranger(app) -> None:
    with rows(app):
        institutions.create_institution(
            OPERATOR,
            {"code": "BOC", "name": "中国银行达州分行", "short_name": "中国银行",
             "level": "city", "kind": "commercial_bank", "aliases": [], "contacts": []},
        )  # fmt: skip


@pytest.mark.parametrize(
    ("over", "status", "code", "field"),
    [
        ({"ends_at": at(16, 9)}, 422, "validation_error", "ends_at"),
        ({"ends_at": at(16, 8)}, 422, "validation_error", "ends_at"),
        ({"lead": None}, 422, "validation_error", "lead"),
        ({"kind": "compound", "lead": None}, 422, "validation_error", "lead"),
        ({"lead": "NOPE"}, 422, "unknown_institution", "lead"),
        ({"host": "NOPE"}, 422, "unknown_institution", "host"),
        ({"co_organisers": ["ABC", "XX"]}, 422, "unknown_institution", "co_organisers"),
        ({"lead": "BOC"}, 422, "validation_error", "lead"),
        ({"co_organisers": ["BOC"]}, 422, "validation_error", "co_organisers"),
        ({"co_organisers": ["DZCB"]}, 422, "validation_error", "co_organisers"),
        ({"booth": {"boards": -1}}, 422, "validation_error", "booth"),
        ({"booth": {"min_team": -4}}, 422, "validation_error", "booth"),
        ({"booth": {"board_mm": [1792]}}, 422, "validation_error", "booth"),
        ({"location": {"lon": 104.15, "lat": 30.55}, "place_id": None, "address": "区外"}, 422,
         "venue_outside_area", None),
        ({"location": {"lon": 104.06, "lat": 30.45}}, 422, "validation_error", "location"),
        ({"place_id": None}, 422, "validation_error", None),
        ({"place_id": None, "location": {"lon": 104.06, "lat": 30.45}}, 422,
         "validation_error", "address"),
        ({"starts_at": "2027-04-16T09:00:00"}, 422, "validation_error", "starts_at"),
        ({"kind": "party"}, 422, "validation_error", "kind"),
        ({"title": ""}, 422, "validation_error", "title"),
        ({"place_id": 987654}, 404, "not_found", None),
    ],
)  # fmt: skip
def test_bad_events_are_refused(client, auth_as, outreach, clean_app, over, status, code, field):
    _stranger(clean_app)
    body = {k: v for k, v in site_body(outreach, **over).items() if v is not None or k == "lead"}
    if over.get("lead", "") is None:
        body["lead"] = None
    resp = client.post(
        f"{API}/programmes/{outreach.programme}/events", json=body, headers=auth_as("coordinator")
    )
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["details"].get("fields", {}), error


def test_a_register_place_outside_the_programme_area_is_refused(client, auth_as, outreach):
    world = outreach.field.world
    headers = auth_as("coordinator")
    small = client.post(
        f"{API}/programmes",
        json={"code": "PUB-A", "name": "甲社区宣传", "area_id": world.community_a,
              "start_date": "2027-04-01", "end_date": "2027-04-30", "organiser": "DZ-REG",
              "institutions": ["DZCB"]},
        headers=headers,
    ).get_json()  # fmt: skip
    resp = client.post(
        f"{API}/programmes/{small['id']}/events",
        json=site_body(outreach, place_id=outreach.market),
        headers=headers,
    )
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "venue_outside_area"
    inside = client.post(
        f"{API}/programmes/{small['id']}/events",
        json=site_body(outreach, place_id=outreach.school),
        headers=headers,
    )
    assert inside.status_code == 201, inside.get_json()
    assert inside.get_json()["co_organisers"] == []


@pytest.mark.parametrize("who", ["bank", "icbc", "station_a", "centre", "district", "worker_a"])
def test_only_the_coordinator_makes_and_changes_events(client, auth_as, outreach, who):
    made = client.post(
        f"{API}/programmes/{outreach.programme}/events", json={}, headers=auth_as(who)
    )
    assert made.status_code == 403
    assert made.get_json()["error"]["code"] == "forbidden_role"
    edit = client.patch(f"{API}/events/{outreach.site}", json={}, headers=auth_as(who))
    assert edit.status_code == 403


def _ids(client, headers, query: str = "") -> list[int]:
    resp = client.get(f"{API}/events{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return [e["id"] for e in resp.get_json()]


def test_who_reads_which_events(client, auth_as, outreach, clean_app):
    both = [outreach.launch, outreach.site]
    for who in ("coordinator", "admin", "centre", "district", "bank", "icbc", "reg"):
        assert _ids(client, auth_as(who)) == both, who
    assert _ids(client, auth_as("station_a")) == [outreach.launch]
    assert _ids(client, auth_as("station_b")) == [outreach.site]
    assert (
        client.get(f"{API}/events/{outreach.site}", headers=auth_as("station_a")).status_code == 404
    )
    assert client.get(f"{API}/events", headers=auth_as("worker_a")).status_code == 403
    worker = client.get(f"{API}/events/{outreach.site}", headers=auth_as("worker_a"))
    assert worker.status_code == 403
    # An event without ICBC is not ICBC's to see.
    own = create_event(client, auth_as("coordinator"), outreach, co_organisers=["ABC"])
    assert own["id"] not in _ids(client, auth_as("icbc"))
    assert client.get(f"{API}/events/{own['id']}", headers=auth_as("icbc")).status_code == 404
    assert client.get(f"{API}/events/{own['id']}", headers=auth_as("abc")).status_code == 200


def test_events_filter_by_programme_institution_area_dates_status_and_bbox(
    client, auth_as, outreach
):
    world = outreach.field.world
    headers = auth_as("coordinator")
    own = create_event(client, headers, outreach, co_organisers=["ABC"])["id"]
    assert _ids(client, headers, f"?programme={outreach.programme}") == [
        outreach.launch, outreach.site, own,
    ]  # fmt: skip
    assert _ids(client, headers, "?institution=ICBC") == [outreach.launch, outreach.site]
    assert _ids(client, headers, "?institution=DZCB") == [outreach.launch, outreach.site, own]
    assert _ids(client, headers, f"?area={world.community_b}") == [outreach.site]
    assert _ids(client, headers, f"?area={world.street}") == [outreach.launch, outreach.site, own]
    assert _ids(client, headers, "?from=2027-04-15") == [outreach.site, own]
    assert _ids(client, headers, "?to=2027-04-14") == [outreach.launch]
    assert _ids(client, headers, "?from=2027-04-15&to=2027-04-15") == [outreach.site]
    assert _ids(client, headers, "?status=draft&sort=-starts_at") == [
        own, outreach.site, outreach.launch,
    ]  # fmt: skip
    assert _ids(client, headers, "?status=approved") == []
    assert _ids(client, headers, "?bbox=104.06,30.44,104.08,30.46") == [outreach.site]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?institution=NOPE", 422, "unknown_institution"),
        ("?from=2027-04-16&to=2027-04-15", 422, "validation_error"),
        ("?status=happy", 422, "validation_error"),
        ("?bbox=104.1,30,104,30.5", 422, "validation_error"),
        ("?format=kml", 422, "validation_error"),
        ("?sort=venue", 422, "validation_error"),
        ("?area=987654", 404, "not_found"),
        ("?from=0001-01-01", 422, "validation_error"),
    ],
)
def test_bad_event_queries_are_refused(client, auth_as, outreach, query, status, code):
    resp = client.get(f"{API}/events{query}", headers=auth_as("coordinator"))
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code


def test_events_page_and_come_as_geojson_for_the_map(client, auth_as, outreach):
    headers = auth_as("coordinator")
    resp = client.get(f"{API}/events?page_size=1&page=2", headers=headers)
    assert [e["id"] for e in resp.get_json()] == [outreach.site]
    assert json.loads(resp.headers["X-Pagination"])["total"] == 2
    geo = client.get(f"{API}/events?format=geojson&institution=ICBC", headers=headers)
    assert geo.status_code == 200 and geo.mimetype == "application/geo+json"
    assert len(geo.headers.getlist("X-Pagination")) == 1  # one header a browser can read
    assert json.loads(geo.headers["X-Pagination"])["total"] == 2
    body = json.loads(geo.data)
    assert body["type"] == "FeatureCollection"
    site = body["features"][1]
    assert site["geometry"] == {"type": "Point", "coordinates": [104.07, 30.45]}
    assert site["properties"]["lead"] == "ICBC"
    assert site["properties"]["starts_at"] == "2027-04-15T09:00:00+08:00"


def test_the_events_list_pages_up_to_500_like_every_list(client, auth_as, outreach):
    resp = client.get(f"{API}/events?page_size=500", headers=auth_as("coordinator"))
    assert resp.status_code == 200 and json.loads(resp.headers["X-Pagination"])["total"] == 2
    too_many = client.get(f"{API}/events?page_size=501", headers=auth_as("coordinator"))
    assert too_many.status_code == 422


def test_changes_name_their_version_and_take_a_change_number(client, auth_as, outreach):
    world = outreach.field.world
    headers = auth_as("coordinator")
    before = get_event(client, headers, outreach.site)
    resp = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": before["version"], "title": "乙社区宣传点（改）",
              "location": {"lon": 104.03, "lat": 30.47}, "address": "甲社区广场东侧",
              "venue_confirmed": True, "lead": "DZCB", "booth": {"boards": 4}},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert got["version"] == before["version"] + 1
    assert got["change_seq"] > before["change_seq"]
    assert got["title"] == "乙社区宣传点（改）" and got["venue_confirmed"] is True
    assert got["area_id"] == world.community_a and got["place_id"] is None
    assert got["lead"] == "DZCB"
    assert got["co_organisers"] == ["PSBC", "ABC"]  # the new lead left the co-organisers
    assert got["booth"]["boards"] == 4 and got["booth"]["min_team"] == 4
    stale = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": before["version"], "title": "再改"},
        headers=headers,
    )
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "stale_version"
    same = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": got["version"], "title": got["title"]},
        headers=headers,
    )
    assert same.get_json()["version"] == got["version"]


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"ends_at": at(15, 8)}, 422, "validation_error"),
        ({"starts_at": at(15, 12)}, 422, "validation_error"),
        ({"lead": None}, 422, "validation_error"),
        ({"lead": "NOPE"}, 422, "unknown_institution"),
        ({"location": {"lon": 104.15, "lat": 30.55}, "address": "外面"}, 422,
         "venue_outside_area"),
        ({"booth": {"boards": -2}}, 422, "validation_error"),
        ({"kind": "launch", "lead": None}, 200, None),
        ({}, 422, "validation_error"),
    ],
)  # fmt: skip
def test_bad_changes_are_refused(client, auth_as, outreach, over, status, code):
    body = {"version": 1, **over} if over else {"title": "无版本"}
    resp = client.patch(f"{API}/events/{outreach.site}", json=body, headers=auth_as("coordinator"))
    assert resp.status_code == status, resp.get_json()
    if code:
        assert resp.get_json()["error"]["code"] == code


def test_a_cancelled_event_no_longer_changes(client, auth_as, outreach):
    headers = auth_as("coordinator")
    done = step(client, headers, outreach.site, "cancel", 1, reason="下雨")
    assert done.status_code == 200
    resp = client.patch(
        f"{API}/events/{outreach.site}",
        json={"version": done.get_json()["version"], "title": "x"},
        headers=headers,
    )
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "event_closed"
