"""Readiness: every rule an event does not meet yet, and who must act."""

from __future__ import annotations

import pytest

from tests.api.outreach.event_helpers import API, at, create_event, plan, roster


def _phones(start: int, count: int) -> list[str]:
    return [f"+86137{n:08d}" for n in range(start, start + count)]


def _readiness(client, headers, event_id: int) -> dict:
    resp = client.get(f"{API}/events/{event_id}/readiness", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _rules(ready: dict) -> list[tuple[str, str | None, str]]:
    return [(i["rule"], i["institution"], i["who"]) for i in ready["items"]]


def test_a_fresh_site_lists_everything_still_to_do(client, auth_as, outreach):
    got = _readiness(client, auth_as("coordinator"), outreach.site)
    assert got["ready"] is False and got["event_id"] == outreach.site
    assert _rules(got) == [
        ("no_team", "DZ-REG", "DZ-REG"),
        ("no_team", "ICBC", "ICBC"),
        ("no_team", "DZCB", "DZCB"),
        ("no_team", "PSBC", "PSBC"),
        ("no_team", "ABC", "ABC"),
        ("plan_not_approved", "ICBC", "ICBC"),
        ("venue_unconfirmed", None, "coordinator"),
    ]
    assert all(i["message"] for i in got["items"])


def test_teams_boards_plan_and_venue_each_count(client, auth_as, outreach, clean_app):
    inst = outreach.inst
    roster(clean_app, outreach.site, inst["DZ-REG"], _phones(0, 4))
    roster(clean_app, outreach.site, inst["ICBC"], _phones(10, 5), boards=3)
    roster(clean_app, outreach.site, inst["DZCB"], _phones(20, 3))  # one short
    roster(clean_app, outreach.site, inst["PSBC"], _phones(30, 4), boards=1)  # a board short
    plan(clean_app, outreach.site, inst["ICBC"], status="submitted")
    headers = auth_as("coordinator")
    got = _readiness(client, headers, outreach.site)
    assert _rules(got) == [
        ("team_below_minimum", "DZCB", "DZCB"),
        ("boards_missing", "PSBC", "PSBC"),
        ("no_team", "ABC", "ABC"),
        ("plan_not_approved", "ICBC", "coordinator"),  # filed: the coordinator reviews it
        ("venue_unconfirmed", None, "coordinator"),
    ]
    short = got["items"][0]
    assert (short["have"], short["need"]) == (3, 4)
    assert got["items"][1]["have"] == 1 and got["items"][1]["need"] == 2


def test_an_event_meeting_every_rule_is_ready(client, auth_as, outreach, clean_app):
    headers = auth_as("coordinator")
    event = create_event(
        client, headers, outreach, co_organisers=["ABC"], venue_confirmed=True,
        booth={"min_team": 2, "boards": 1},
    )  # fmt: skip
    for n, code in enumerate(("DZ-REG", "DZCB", "ABC")):
        roster(clean_app, event["id"], outreach.inst[code], _phones(100 + 10 * n, 2), boards=1)
    assert _rules(_readiness(client, headers, event["id"])) == [
        ("plan_not_approved", "DZCB", "DZCB")
    ]
    plan(clean_app, event["id"], outreach.inst["DZCB"])
    got = _readiness(client, headers, event["id"])
    assert got == {"event_id": event["id"], "status": "draft", "ready": True, "items": []}


def test_a_launch_counts_groups_not_teams_and_needs_no_plan(client, auth_as, outreach, clean_app):
    roster(clean_app, outreach.launch, outreach.inst["DZCB"], _phones(200, 19))
    roster(clean_app, outreach.launch, outreach.inst["ICBC"], _phones(300, 20))
    got = _readiness(client, auth_as("coordinator"), outreach.launch)
    rules = _rules(got)
    assert ("team_below_minimum", "DZCB", "DZCB") in rules
    assert not [r for r in rules if r[1] == "ICBC"]
    assert not [r for r in rules if r[0] == "plan_not_approved"]
    below = next(i for i in got["items"] if i["rule"] == "team_below_minimum")
    assert (below["have"], below["need"]) == (19, 20)


def test_conflicts_show_in_readiness_for_the_coordinator(client, auth_as, outreach):
    headers = auth_as("coordinator")
    create_event(client, headers, outreach, lead="ICBC", starts_at=at(15, 11), ends_at=at(15, 13))
    got = _readiness(client, headers, outreach.site)
    conflict = next(i for i in got["items"] if i["rule"] == "lead_overlap")
    assert conflict["who"] == "coordinator" and conflict["institution"] == "ICBC"
    assert conflict["other_event_id"] and conflict["message"]


@pytest.mark.parametrize("who", ["bank", "icbc", "station_b", "centre", "admin"])
def test_readers_of_the_event_read_its_readiness(client, auth_as, outreach, who):
    assert (
        client.get(f"{API}/events/{outreach.site}/readiness", headers=auth_as(who)).status_code
        == 200
    )


def test_others_do_not(client, auth_as, outreach):
    worker = client.get(f"{API}/events/{outreach.site}/readiness", headers=auth_as("worker_a"))
    assert worker.status_code == 403
    assert worker.get_json()["error"]["code"] == "forbidden_role"
    station = client.get(f"{API}/events/{outreach.site}/readiness", headers=auth_as("station_a"))
    assert station.status_code == 404
    own = create_event(client, auth_as("coordinator"), outreach, co_organisers=["ABC"])
    stranger = client.get(f"{API}/events/{own['id']}/readiness", headers=auth_as("icbc"))
    assert stranger.status_code == 404
    assert (
        client.get(f"{API}/events/987654/readiness", headers=auth_as("coordinator")).status_code
        == 404
    )
