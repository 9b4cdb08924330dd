"""The dismissal rule: a published yearly fail opens a recommendation; the street centre
confirms (the worker dismissed, the cell vacant, the terminal and the account shut) or
overturns, once each. Nothing is dismissed automatically."""

from __future__ import annotations

import datetime as dt

from tests.assessment.fakes import cards_by_name, fig, start_run, travel
from tests.assessment.test_scorecard_scope import _terminal
from tests.conftest import PASSWORD

RUNS = "/api/v1/assessments/runs"
RECS = "/api/v1/assessments/recommendations"


def _fail_worker_a(scored) -> None:
    # 12 of 60 pairs → 8.00; 6 visits over 3 cell-months, target 10 → 6.00; (8 + 6) / 70 × 100
    # = 20.00: fail. 乙 fails too (50.00), 丙 is excellent.
    scored.fake.figures["patrol_coverage"][scored.worker_a] = fig(12, 60)
    scored.fake.figures["visits"][scored.worker_a] = fig(6, 3)


def _publish_year(client, centre, scored) -> dict:
    run = start_run(client, centre, "t_worker", "2027", scored.field.world.street)
    cards = cards_by_name(client, centre, run["id"])
    assert cards["网格员甲"]["total"] == "20.00" and cards["网格员甲"]["grade"] == "fail"
    resp = client.post(f"{RUNS}/{run['id']}/publish", headers=centre)
    assert resp.status_code == 200, resp.get_json()
    return run


def test_a_published_yearly_fail_opens_a_recommendation_and_confirm_dismisses(
    client, auth_as, scored
):
    travel(dt.date(2028, 1, 5))
    _fail_worker_a(scored)
    world = scored.field.world
    centre = auth_as("centre")
    terminal = _terminal(client, auth_as("station_a"), scored.worker_a)
    assert client.get("/api/v1/me", headers=terminal).status_code == 200
    run = _publish_year(client, centre, scored)
    opened = client.get(f"{RECS}?status=open", headers=centre)
    assert opened.status_code == 200, opened.get_json()
    recs = {r["worker_name"]: r for r in opened.get_json()}
    assert set(recs) == {"网格员甲", "网格员乙"}
    rec = recs["网格员甲"]
    assert rec["area_id"] == world.street and rec["period"] == "2027" and rec["total"] == "20.00"
    assert rec["run_id"] == run["id"] and rec["worker_id"] == scored.worker_a
    # Nothing is dismissed automatically.
    worker = client.get(f"/api/v1/workers/{scored.worker_a}", headers=centre).get_json()
    assert worker["status"] == "active"
    assert client.get(f"{RECS}?status=open", headers=auth_as("district")).status_code == 200
    refused = client.get(RECS, headers=auth_as("station_a"))
    assert refused.status_code == 403
    resp = client.post(f"{RECS}/{rec['id']}/confirm", json={"reason": "年度考核不合格,予以解聘"},
                       headers=centre)  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "confirmed"
    assert resp.get_json()["reason"] == "年度考核不合格,予以解聘"
    worker = client.get(f"/api/v1/workers/{scored.worker_a}", headers=centre).get_json()
    assert worker["status"] == "dismissed" and worker["cells"] == []
    vacant = client.get(
        f"/api/v1/reports/vacant-cells?area={world.community_a}", headers=centre
    ).get_json()
    assert scored.field.cell in {c["code"] for c in vacant}
    # The terminal and the account are shut.
    assert client.get("/api/v1/me", headers=terminal).status_code == 401
    signed = client.post("/api/v1/auth/token", json={"username": "worker_a", "password": PASSWORD})
    assert signed.status_code in (401, 403)
    again = client.post(f"{RECS}/{rec['id']}/overturn", json={"reason": "x"}, headers=centre)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decided"


def test_overturn_keeps_the_worker_and_is_decided_once(client, auth_as, scored):
    travel(dt.date(2028, 1, 5))
    _fail_worker_a(scored)
    centre = auth_as("centre")
    terminal = _terminal(client, auth_as("station_a"), scored.worker_a)
    _publish_year(client, centre, scored)
    recs = {r["worker_name"]: r for r in client.get(RECS, headers=centre).get_json()}
    rec = recs["网格员甲"]
    resp = client.post(f"{RECS}/{rec['id']}/overturn", json={"reason": "病假期间,酌情保留"},
                       headers=centre)  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["status"] == "overturned"
    again = client.post(f"{RECS}/{rec['id']}/confirm", json={"reason": "x"}, headers=centre)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decided"
    worker = client.get(f"/api/v1/workers/{scored.worker_a}", headers=centre).get_json()
    assert worker["status"] == "active"
    assert client.get("/api/v1/me", headers=terminal).status_code == 200
    no_reason = client.post(f"{RECS}/{recs['网格员乙']['id']}/confirm", json={}, headers=centre)
    assert no_reason.status_code == 422


def test_a_quarter_opens_no_recommendation(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    _fail_worker_a(scored)
    centre = auth_as("centre")
    run = start_run(client, centre, "t_worker", "2027-Q1", scored.field.world.street)
    assert client.post(f"{RUNS}/{run['id']}/publish", headers=centre).status_code == 200
    assert client.get(RECS, headers=centre).get_json() == []


def test_a_corrected_year_replaces_the_open_recommendations(client, auth_as, scored):
    travel(dt.date(2028, 1, 5))
    _fail_worker_a(scored)
    centre = auth_as("centre")
    first = _publish_year(client, centre, scored)
    # The correction finds 甲 passes after all (58 of 60, 30 visits): 乙 still fails.
    scored.fake.figures["patrol_coverage"][scored.worker_a] = fig(58, 60)
    scored.fake.figures["visits"][scored.worker_a] = fig(30, 3)
    second = start_run(client, centre, "t_worker", "2027", scored.field.world.street,
                       reason="巡查数据补录")  # fmt: skip
    assert client.post(f"{RUNS}/{second['id']}/publish", headers=centre).status_code == 200
    recs = client.get(RECS, headers=centre).get_json()
    still_open = [(r["worker_name"], r["run_id"]) for r in recs if r["status"] == "open"]
    assert still_open == [("网格员乙", second["id"])]
    closed = [r for r in recs if r["run_id"] == first["id"]]
    assert {r["status"] for r in closed} == {"overturned"} and len(closed) == 2
