"""Runs: a quarter scored in one pass, the figures on the cards, periods, versions, publishing.

Figures: see :mod:`tests.assessment.conftest` (worked out by hand there).
"""

from __future__ import annotations

import datetime as dt
import json

from tests.assessment.fakes import card, cards_by_name, enter, fig, start_run, travel
from tests.conftest import login

RUNS = "/api/v1/assessments/runs"


def test_a_quarter_scores_every_worker_in_one_pass(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    street = scored.field.world.street
    run = start_run(client, auth_as("centre"), "t_worker", "2027-Q1", street)
    assert run["status"] == "computed"
    assert run["period_start"] == "2027-01-01" and run["period_end"] == "2027-03-31"
    assert run["version"] == 1 and not run["provisional"]
    assert run["template_snapshot"]["code"] == "t_worker"
    # One figure request per computed indicator, for the three workers at once.
    assert scored.fake.calls == [("patrol_coverage", "worker", 3), ("visits", "worker", 3)]
    cards = cards_by_name(client, auth_as("centre"), run["id"])
    assert set(cards) == {"网格员甲", "网格员乙", "网格员丙"}
    # Spot checks not entered yet: each total is scaled to 100 over what is rated.
    # 甲: (36 + 30) / 70 × 100 = 94.29; 乙: (20 + 15) / 70 × 100 = 50.00; 丙: 30 / 30 × 100.
    assert cards["网格员甲"]["total"] == "94.29" and cards["网格员甲"]["grade"] == "excellent"
    assert cards["网格员乙"]["total"] == "50.00" and cards["网格员乙"]["grade_name"] == "不合格"
    assert cards["网格员丙"]["total"] == "100.00" and cards["网格员丙"]["rated_weight"] == 30
    assert run["counts"] == {"excellent": 2, "good": 0, "pass": 0, "fail": 1, "not_graded": 0,
                             "total": 3}  # fmt: skip


def test_a_card_shows_raw_figures_cap_formula_and_not_rated(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    headers = auth_as("centre")
    run = start_run(client, headers, "t_worker", "2027-Q1", scored.field.world.street)
    cards = cards_by_name(client, headers, run["id"])
    a = card(client, headers, cards["网格员甲"]["id"])
    lines = {ln["code"]: ln for ln in a["lines"]}
    assert a["period_start"] == "2027-01-01" and a["period_end"] == "2027-03-31"
    assert lines["coverage"]["raw"]["numerator"] == 54 and lines["coverage"]["raw"]["count"] == 60
    assert lines["coverage"]["points"] == "36.00" and lines["coverage"]["value"] == 0.9
    assert lines["coverage"]["formula"] == "patrol_coverage: numerator ÷ denominator"
    assert lines["visits"]["points"] == "30.00" and lines["visits"]["capped"] is True
    assert lines["visits"]["value"] == 1.2
    assert lines["spot_check"]["rated"] is False
    assert lines["spot_check"]["not_rated_reason"] == "not_entered"
    assert lines["spot_check"]["records_url"] is None
    url = lines["coverage"]["records_url"]
    assert url == f"/api/v1/assessments/scorecards/{a['id']}/indicators/coverage/records"
    records = client.get(url + "?page_size=2", headers=headers)
    assert records.status_code == 200, records.get_json()
    assert [r["kind"] for r in records.get_json()] == ["area", "area"]
    assert json.loads(records.headers["X-Pagination"])["total"] == 4
    c = card(client, headers, cards["网格员丙"]["id"])
    coverage = {ln["code"]: ln for ln in c["lines"]}["coverage"]
    assert coverage["rated"] is False and coverage["not_rated_reason"] == "too_little_data"
    assert coverage["points"] is None


def test_rankings_leave_out_a_card_not_rated_for_an_indicator(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    headers = auth_as("centre")
    run = start_run(client, headers, "t_worker", "2027-Q1", scored.field.world.street)
    listed = client.get(f"{RUNS}/{run['id']}/scorecards", headers=headers).get_json()
    assert [c["target_name"] for c in listed] == ["网格员丙", "网格员甲", "网格员乙"]
    ranks = {c["target_name"]: c["ranks"] for c in listed}
    assert ranks["网格员甲"] == {"community": 1, "street": 2, "run": 2}
    assert ranks["网格员乙"] == {"community": 2, "street": 3, "run": 3}
    assert ranks["网格员丙"] == {"community": 1, "street": 1, "run": 1}
    c = card(client, headers, listed[0]["id"])
    lines = {ln["code"]: ln for ln in c["lines"]}
    assert lines["coverage"]["ranks"] is None  # not rated: out of the patrol ranking
    assert lines["visits"]["ranks"] == {"community": 1, "street": 1, "run": 1}
    b = card(client, headers, listed[2]["id"])
    assert {ln["code"]: ln for ln in b["lines"]}["coverage"]["ranks"]["street"] == 2


def test_bands_at_the_edge_on_a_real_card(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    # 36 + 30 + 90/100 × 30 = 93.00: excellent.
    resp = enter(client, station, a["id"], "spot_check", 90, a["version"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["total"] == "93.00" and body["grade"] == "excellent"
    assert body["grade_name"] == "优秀"
    # 89.97 → 26.991 → 26.99 points: 92.99 is good.
    resp = enter(client, station, a["id"], "spot_check", 89.97, body["version"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["total"] == "92.99" and body["grade"] == "good" and body["grade_name"] == "良好"
    spot = {ln["code"]: ln for ln in body["lines"]}["spot_check"]
    assert spot["entered_value"] == 89.97 and spot["evidence"]["note"] == "抽查记录"
    assert spot["points"] == "26.99"
    # A stale version is refused.
    stale = enter(client, station, a["id"], "spot_check", 95, a["version"])
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "stale_version"


def test_an_entry_outside_the_scale_or_on_a_computed_line_is_422(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    over = enter(client, station, a["id"], "spot_check", 100.5, a["version"])
    assert over.status_code == 422 and "value" in over.get_json()["error"]["details"]["fields"]
    computed = enter(client, station, a["id"], "coverage", 50, a["version"])
    assert computed.status_code == 422
    assert computed.get_json()["error"]["code"] == "indicator_computed"
    unknown = enter(client, station, a["id"], "nothing", 50, a["version"])
    assert unknown.status_code == 404


def test_deductions_take_points_off_and_three_disqualify(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    body = enter(client, station, a["id"], "spot_check", 90, a["version"]).get_json()
    assert body["total"] == "93.00"
    url = f"/api/v1/assessments/scorecards/{a['id']}/deductions"
    evidence = {"note": "投诉记录"}
    for expected, disqualified in (("92.00", False), ("91.00", False), ("90.00", True)):
        resp = client.post(url, json={"code": "complaint", "reason": "群众投诉属实",
                                      "evidence": evidence}, headers=station)  # fmt: skip
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        assert body["total"] == expected and body["disqualified"] is disqualified
    assert body["deducted"] == "3.00" and len(body["deductions"]) == 3
    assert body["deductions"][0]["name"] == "群众有效投诉"
    bad = client.post(url, json={"code": "media", "reason": "x", "evidence": evidence},
                      headers=station)  # fmt: skip
    assert bad.status_code == 422 and "code" in bad.get_json()["error"]["details"]["fields"]


def test_relative_scores_against_all_institutions_capped_at_1_2(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    coordinator = auth_as("coordinator")
    district = scored.field.world.district
    run = start_run(client, coordinator, "t_bank", "2027-Q1", district)
    cards = cards_by_name(client, coordinator, run["id"])
    dzcb = card(client, coordinator, cards["达商行"]["id"])
    events = {ln["code"]: ln for ln in dzcb["lines"]}["events"]
    # 0.7 ÷ 0.45 × 0.8 = 1.244 × 50 = 62.22 > 1.2 × 50: 60.00, capped.
    assert dzcb["ranks"] == {"community": None, "street": None, "run": 1}
    assert events["raw"]["overall"] == 0.45
    assert events["points"] == "60.00" and events["capped"] is True
    psbc = {ln["code"]: ln for ln in card(client, coordinator, cards["邮蓄银行"]["id"])["lines"]}
    # 0.2 ÷ 0.45 × 0.8 × 50 = 17.78.
    assert psbc["events"]["points"] == "17.78" and psbc["events"]["capped"] is False
    # The mystery shopper, entered: 96/100 × 50 = 48.00; total 60 + 48 = 108 → no cap on the
    # total beyond the lines'; 108.00 is excellent.
    resp = enter(client, coordinator, dzcb["id"], "mystery_shopper", 96, dzcb["version"])
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["total"] == "108.00"


def test_a_period_not_ended_needs_provisional(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    headers = auth_as("centre")
    street = scored.field.world.street
    body = {"template": "t_worker", "period": "2027-Q2", "area_id": street}
    resp = client.post(RUNS, json=body, headers=headers)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "period_not_ended"
    yearly = client.post(RUNS, json={**body, "period": "2027"}, headers=headers)
    assert yearly.get_json()["error"]["code"] == "period_not_ended"
    run = start_run(client, headers, "t_worker", "2027-Q2", street, provisional=True)
    assert run["status"] == "computed" and run["provisional"] is True
    # Not published while provisional; once the quarter ends, the final run supersedes it
    # without a reason.
    resp = client.post(f"{RUNS}/{run['id']}/publish", headers=headers)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "run_provisional"
    travel(dt.date(2027, 7, 1))
    final = start_run(client, login(client, "centre"), "t_worker", "2027-Q2", street)
    assert final["version"] == 2 and final["supersedes_id"] == run["id"]
    assert final["provisional"] is False


def test_the_last_day_of_a_quarter_is_not_yet_ended_in_the_areas_zone(client, auth_as, scored):
    # 2027-03-31 23:30 in Shanghai is 15:30 UTC: the quarter has not ended there yet.
    travel(dt.date(2027, 3, 31), hour=23)
    body = {"template": "t_worker", "period": "2027-Q1", "area_id": scored.field.world.street}
    resp = client.post(RUNS, json=body, headers=auth_as("centre"))
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "period_not_ended"
    travel(dt.date(2027, 4, 1), hour=0)
    resp = client.post(RUNS, json=body, headers=auth_as("centre"))
    assert resp.status_code == 202, resp.get_json()


def test_a_bad_period_is_422_by_field(client, auth_as, scored):
    for period in ("2027-Q5", "27-Q1", "2027Q1", "2027-01", ""):
        resp = client.post(
            RUNS,
            json={"template": "t_worker", "period": period, "area_id": scored.field.world.street},
            headers=auth_as("centre"),
        )
        assert resp.status_code == 422, period
        assert "period" in resp.get_json()["error"]["details"]["fields"], period


def test_run_exists_and_a_correction_versions(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    headers = auth_as("centre")
    street = scored.field.world.street
    first = start_run(client, headers, "t_worker", "2027-Q1", street)
    body = {"template": "t_worker", "period": "2027-Q1", "area_id": street}
    again = client.post(RUNS, json=body, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "run_exists"
    assert again.get_json()["error"]["details"]["run_id"] == first["id"]
    second = start_run(client, headers, "t_worker", "2027-Q1", street, reason="补录走访数据")
    assert second["version"] == 2 and second["supersedes_id"] == first["id"]
    assert second["reason"] == "补录走访数据"
    old = client.get(f"{RUNS}/{first['id']}", headers=headers).get_json()
    assert old["superseded_by"] == second["id"] and old["status"] == "computed"


def test_an_entered_value_survives_a_correction(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    community = scored.field.world.community_a
    first = start_run(client, station, "t_worker", "2027-Q1", community)
    a = cards_by_name(client, station, first["id"])["网格员甲"]
    assert enter(client, station, a["id"], "spot_check", 90, a["version"]).status_code == 200
    client.post(f"/api/v1/assessments/scorecards/{a['id']}/deductions",
                json={"code": "complaint", "reason": "投诉", "evidence": {"note": "记录"}},
                headers=station)  # fmt: skip
    # The figures change (more patrols found): coverage 57 of 60 → 38.00.
    scored.fake.figures["patrol_coverage"][scored.worker_a] = scored.fake.figures[
        "patrol_coverage"
    ][scored.worker_a].__class__(57.0, 60.0, 60, {})
    second = start_run(client, station, "t_worker", "2027-Q1", community, reason="巡查数据更正")
    new = card(client, station, cards_by_name(client, station, second["id"])["网格员甲"]["id"])
    lines = {ln["code"]: ln for ln in new["lines"]}
    assert lines["coverage"]["points"] == "38.00"
    assert lines["spot_check"]["entered_value"] == 90
    assert lines["spot_check"]["entered_by"] is not None
    assert lines["spot_check"]["evidence"]["note"] == "抽查记录"
    # 38 + 30 + 27 − 1 = 94.00.
    assert new["total"] == "94.00" and len(new["deductions"]) == 1
    # The first version is kept as it was.
    old = card(client, station, a["id"])
    assert old["total"] == "92.00"


def test_publish_freezes_the_run(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    resp = client.post(f"{RUNS}/{run['id']}/publish", headers=station)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "published"
    late = enter(client, station, a["id"], "spot_check", 90, a["version"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "run_published"
    deduction = client.post(
        f"/api/v1/assessments/scorecards/{a['id']}/deductions",
        json={"code": "complaint", "reason": "投诉", "evidence": {"note": "记录"}},
        headers=station,
    )
    assert deduction.status_code == 409
    again = client.post(f"{RUNS}/{run['id']}/publish", headers=station)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_published"
    # A published run is corrected by a new version; the published one stays readable.
    fixed = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a,
                      reason="更正")  # fmt: skip
    assert fixed["version"] == 2 and fixed["status"] == "computed"
    assert client.get(f"{RUNS}/{run['id']}", headers=station).get_json()["status"] == "published"


def test_a_run_answers_202_with_its_job(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    body = {"template": "t_worker", "period": "2027-Q1", "area_id": scored.field.world.street}
    resp = client.post(RUNS, json=body, headers=auth_as("centre"))
    assert resp.status_code == 202
    job = resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "assessment_run" and job["params"]["period"] == "2027-Q1"
    run_id = job["params"]["run_id"]
    assert resp.headers["Content-Location"] == f"{RUNS}/{run_id}"
    polled = client.get(f"/api/v1/jobs/{job['id']}", headers=auth_as("centre")).get_json()
    assert polled["status"] == "succeeded" and polled["result_url"] == f"{RUNS}/{run_id}"


def test_a_run_still_computing_is_not_published(client, auth_as, scored, monkeypatch):
    from gridserve.services.accounts import jobs

    monkeypatch.setattr(jobs, "start_after_commit", lambda *_args: None)  # the job waits
    travel(dt.date(2027, 4, 10))
    body = {"template": "t_worker", "period": "2027-Q1", "area_id": scored.field.world.street}
    run_id = client.post(RUNS, json=body, headers=auth_as("centre")).get_json()["params"]["run_id"]
    run = client.get(f"{RUNS}/{run_id}", headers=auth_as("centre")).get_json()
    assert run["status"] == "computing" and run["counts"]["total"] == 0
    resp = client.post(f"{RUNS}/{run_id}/publish", headers=auth_as("centre"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "run_computing"


def test_a_superseded_version_takes_no_entry_and_is_not_published(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    community = scored.field.world.community_a
    first = start_run(client, station, "t_worker", "2027-Q1", community)
    a = cards_by_name(client, station, first["id"])["网格员甲"]
    start_run(client, station, "t_worker", "2027-Q1", community, reason="更正")
    late = enter(client, station, a["id"], "spot_check", 90, a["version"])
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "run_superseded"
    resp = client.post(f"{RUNS}/{first['id']}/publish", headers=station)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "run_superseded"


def test_an_entry_is_audited(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    assert enter(client, station, a["id"], "spot_check", 88, a["version"]).status_code == 200
    entries = client.get(
        "/api/v1/audit?action=assessment_entry", headers=auth_as("admin")
    ).get_json()
    assert len(entries) == 1 and entries[0]["entity_id"] == str(a["id"])
    assert entries[0]["actor_name"] == "station_a"
    assert entries[0]["details"]["value"] == [None, 88]


def test_stations_are_scored_by_the_street_centre(client, auth_as, scored):
    from gridserve.services.assessment import metrics

    world = scored.field.world
    scored.fake.targets["station"] = [
        metrics.Target(world.community_a, "甲社区", world.community_a),
        metrics.Target(world.community_b, "乙社区", world.community_b),
    ]
    scored.fake.figures["patrol_coverage"].update({world.community_a: fig(90, 100),
                                                   world.community_b: fig(70, 100)})  # fmt: skip
    template = {
        "code": "t_station", "name": "服务站考核", "target_kind": "station",
        "assessor_role": "street_centre",
        "indicators": [
            {"code": "coverage", "name": "巡查覆盖", "weight": 60, "source": "computed",
             "metric": "patrol_coverage"},
            {"code": "review", "name": "街道评议", "weight": 40, "source": "entered"},
        ],
    }  # fmt: skip
    travel(dt.date(2027, 4, 10))
    made = client.post("/api/v1/assessments/templates", json=template, headers=auth_as("admin"))
    assert made.status_code == 201, made.get_json()
    centre = auth_as("centre")
    run = start_run(client, centre, "t_station", "2027-Q1", world.street)
    cards = cards_by_name(client, centre, run["id"])
    # 0.9 × 60 = 54.00 of 60 rated → 90.00; 0.7 × 60 = 42.00 → 70.00.
    assert cards["甲社区"]["total"] == "90.00" and cards["乙社区"]["total"] == "70.00"
    a = cards["甲社区"]
    refused = enter(client, auth_as("station_a"), a["id"], "review", 100, a["version"])
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "not_the_assessor"
    resp = enter(client, centre, a["id"], "review", 95, a["version"])
    # 54 + 0.95 × 40 = 92.00: good.
    assert resp.get_json()["total"] == "92.00" and resp.get_json()["grade"] == "good"
    bad = client.post(
        RUNS,
        json={"template": "t_station", "period": "2027-Q1", "area_id": world.community_a},
        headers=centre,
    )
    assert bad.status_code == 422 and "area_id" in bad.get_json()["error"]["details"]["fields"]


def test_a_run_made_at_once_for_seeding(clean_app, scored):
    from gridserve.scope import OPERATOR
    from gridserve.services.assessment import runs

    travel(dt.date(2027, 4, 10))
    with clean_app.app_context():
        run, job = runs.create_run(
            OPERATOR,
            {"template": "t_worker", "period": "2027-Q1", "area_id": scored.field.world.street},
            as_job=False,
        )
        assert job is None and run.status == "computed"
        published = runs.publish(OPERATOR, run.id)
        assert published.status == "published" and published.counts["total"] == 3


def test_computing_a_run_again_keeps_what_was_entered(clean_app, client, auth_as, scored):
    from sqlalchemy import update

    from gridserve.extensions import db
    from gridserve.models import AssessmentRun
    from gridserve.scope import OPERATOR
    from gridserve.services.assessment import engine

    travel(dt.date(2027, 4, 10))
    station = auth_as("station_a")
    run = start_run(client, station, "t_worker", "2027-Q1", scored.field.world.community_a)
    a = cards_by_name(client, station, run["id"])["网格员甲"]
    assert enter(client, station, a["id"], "spot_check", 90, a["version"]).status_code == 200
    with clean_app.app_context():
        db.session.execute(
            update(AssessmentRun).where(AssessmentRun.id == run["id"]).values(status="computing")
        )
        assert engine.compute_run(OPERATOR, run["id"]) == 2
        db.session.commit()
    again = cards_by_name(client, station, run["id"])["网格员甲"]
    spot = {ln["code"]: ln for ln in card(client, station, again["id"])["lines"]}["spot_check"]
    assert spot["entered_value"] == 90 and spot["entered_by"] is not None
    assert again["total"] == "93.00"


def test_an_entered_line_has_no_records_and_runs_filter(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    centre = auth_as("centre")
    street = scored.field.world.street
    run = start_run(client, centre, "t_worker", "2027-Q1", street)
    bank = start_run(client, auth_as("coordinator"), "t_bank", "2027-Q1",
                     scored.field.world.district)  # fmt: skip
    a = cards_by_name(client, centre, run["id"])["网格员甲"]
    url = f"/api/v1/assessments/scorecards/{a['id']}/indicators/spot_check/records"
    assert client.get(url, headers=centre).status_code == 404
    admin = auth_as("admin")
    listed = client.get(f"{RUNS}?template=t_worker", headers=admin).get_json()
    assert [r["id"] for r in listed] == [run["id"]]
    assert listed[0]["template_code"] == "t_worker" and listed[0]["target_kind"] == "worker"
    everything = client.get(f"{RUNS}?period=2027-Q1", headers=admin).get_json()
    assert {r["id"] for r in everything} == {run["id"], bank["id"]}
    # The street centre sees the street's run, not the district's.
    assert [r["id"] for r in client.get(RUNS, headers=centre).get_json()] == [run["id"]]
