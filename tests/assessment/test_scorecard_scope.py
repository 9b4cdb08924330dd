"""Who sees which cards, who runs, enters and publishes (figures: tests/assessment/conftest)."""

from __future__ import annotations

import datetime as dt

from tests.assessment.fakes import cards_by_name, enter, start_run, travel
from tests.conftest import login

RUNS = "/api/v1/assessments/runs"
CARDS = "/api/v1/assessments/scorecards"


def _terminal(client, station: dict, worker_id: int) -> dict:
    code = client.post(f"/api/v1/workers/{worker_id}/enrolment-codes", headers=station)
    assert code.status_code == 201, code.get_json()
    resp = client.post(
        "/api/v1/devices/enrol",
        json={"code": code.get_json()["code"], "label": "终端1", "platform": "android 14"},
    )
    assert resp.status_code == 201, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['device_token']}", "X-App-Version": "1.4.2"}


def _names(resp) -> list[str]:
    assert resp.status_code == 200, resp.get_json()
    return sorted(c["target_name"] for c in resp.get_json())


def test_a_worker_sees_only_their_own_published_card(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    centre, worker = auth_as("centre"), auth_as("worker_a")
    run = start_run(client, centre, "t_worker", "2027-Q1", scored.field.world.street)
    cards = cards_by_name(client, centre, run["id"])
    own, other = cards["网格员甲"]["id"], cards["网格员乙"]["id"]
    assert _names(client.get(f"{CARDS}?mine=1", headers=worker)) == []
    assert client.get(f"{CARDS}/{own}", headers=worker).status_code == 404  # not published
    assert client.post(f"{RUNS}/{run['id']}/publish", headers=centre).status_code == 200
    assert _names(client.get(f"{CARDS}?mine=1", headers=worker)) == ["网格员甲"]
    assert _names(client.get(CARDS, headers=worker)) == ["网格员甲"]
    assert _names(client.get(f"{RUNS}/{run['id']}/scorecards", headers=worker)) == ["网格员甲"]
    mine = client.get(f"{CARDS}/{own}", headers=worker).get_json()
    assert mine["total"] == "94.29" and mine["ranks"] is None  # no rankings for a worker
    assert client.get(f"{CARDS}/{other}", headers=worker).status_code == 404
    # The field app (the terminal's token) shows the same.
    terminal = _terminal(client, auth_as("station_a"), scored.worker_a)
    assert _names(client.get(f"{CARDS}?mine=1", headers=terminal)) == ["网格员甲"]
    assert client.get(f"{CARDS}/{own}", headers=terminal).status_code == 200


def test_a_station_sees_its_workers_cards_only(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    centre = auth_as("centre")
    run = start_run(client, centre, "t_worker", "2027-Q1", scored.field.world.street)
    cards = cards_by_name(client, centre, run["id"])
    station_a, station_b = auth_as("station_a"), auth_as("station_b")
    assert _names(client.get(f"{RUNS}/{run['id']}/scorecards", headers=station_a)) == [
        "网格员乙",
        "网格员甲",
    ]
    assert _names(client.get(f"{RUNS}/{run['id']}/scorecards", headers=station_b)) == ["网格员丙"]
    assert client.get(f"{CARDS}/{cards['网格员丙']['id']}", headers=station_a).status_code == 404
    seen = client.get(f"{CARDS}/{cards['网格员甲']['id']}", headers=station_a).get_json()
    assert seen["ranks"] == {"community": 1, "street": 2, "run": 2}
    # By grade and community.
    fails = client.get(f"{CARDS}?grade=fail&run={run['id']}", headers=centre)
    assert _names(fails) == ["网格员乙"]
    in_b = client.get(
        f"{RUNS}/{run['id']}/scorecards?community={scored.field.world.community_b}",
        headers=centre,
    )
    assert _names(in_b) == ["网格员丙"]
    # The station enters for its own workers only.
    c = cards["网格员丙"]
    assert enter(client, station_a, c["id"], "spot_check", 80, c["version"]).status_code == 404


def test_a_contact_sees_its_institutions_published_card(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    coordinator = auth_as("coordinator")
    run = start_run(client, coordinator, "t_bank", "2027-Q1", scored.field.world.district)
    cards = cards_by_name(client, coordinator, run["id"])
    own, other = cards["达商行"]["id"], cards["邮蓄银行"]["id"]
    bank = auth_as("bank")
    assert client.get(f"{CARDS}/{own}", headers=bank).status_code == 404
    assert client.get(f"{RUNS}/{run['id']}", headers=bank).status_code == 404
    assert client.post(f"{RUNS}/{run['id']}/publish", headers=coordinator).status_code == 200
    assert _names(client.get(f"{CARDS}?mine=1", headers=bank)) == ["达商行"]
    assert client.get(f"{CARDS}/{own}", headers=bank).status_code == 200
    assert client.get(f"{CARDS}/{other}", headers=bank).status_code == 404
    assert client.get(f"{RUNS}/{run['id']}", headers=bank).status_code == 200
    assert _names(client.get(f"{CARDS}?mine=1", headers=auth_as("other_bank"))) == ["邮蓄银行"]


def test_who_may_run_and_enter(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    world = scored.field.world
    body = {"template": "t_worker", "period": "2027-Q1", "area_id": world.street}
    # A station runs its community only: the street is out of its scope.
    assert client.post(RUNS, json=body, headers=auth_as("station_a")).status_code == 404
    refused = client.post(RUNS, json=body, headers=auth_as("worker_a"))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden_role"
    wrong = client.post(RUNS, json=body, headers=auth_as("coordinator"))
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "not_the_assessor"
    bank_run = {"template": "t_bank", "period": "2027-Q1", "area_id": world.district}
    wrong = client.post(RUNS, json=bank_run, headers=auth_as("district"))
    assert wrong.status_code == 403 and wrong.get_json()["error"]["code"] == "not_the_assessor"
    run = start_run(client, auth_as("district"), "t_worker", "2027-Q1", world.street)
    a = cards_by_name(client, auth_as("district"), run["id"])["网格员甲"]
    # The coordinator sees the card but does not assess workers: 403 before the body is read.
    url = f"{CARDS}/{a['id']}/indicators/spot_check"
    resp = client.put(url, json={"value": "lots"}, headers=auth_as("coordinator"))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "not_the_assessor"
    resp = client.put(url, json={"value": "lots"}, headers=auth_as("worker_a"))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden_role"
    resp = client.put(url, json={"value": "lots"}, headers=auth_as("station_a"))
    assert resp.status_code == 422  # the station of the worker's community: the body is read
    publish = client.post(f"{RUNS}/{run['id']}/publish", headers=auth_as("coordinator"))
    assert publish.status_code == 403


def test_a_failed_computation_shows_the_run_failed(client, auth_as, scored, monkeypatch):
    from gridserve.services.assessment import metrics

    def broken(*_args, **_kwargs):
        raise RuntimeError("the figures are not there")

    monkeypatch.setattr(metrics, "targets", broken)
    travel(dt.date(2027, 4, 10))
    centre = login(client, "centre")
    run = start_run(client, centre, "t_worker", "2027-Q1", scored.field.world.street)
    assert run["status"] == "failed" and run["error"]["code"] == "internal_error"
    listed = client.get(f"{RUNS}?status=failed", headers=centre).get_json()
    assert [r["id"] for r in listed] == [run["id"]]
    resp = client.post(f"{RUNS}/{run['id']}/publish", headers=centre)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "run_failed"
