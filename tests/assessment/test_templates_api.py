"""Templates: made and edited by an admin, read by all, checked as a whole; the seeded ones."""

from __future__ import annotations

import copy
import datetime as dt

from gridserve.extensions import db
from gridserve.models import AssessmentTemplate
from seeds.assessment_templates import load_templates
from tests.assessment.fakes import WORKER_TEMPLATE, start_run, travel

TEMPLATES = "/api/v1/assessments/templates"


def _template(**changes) -> dict:
    body = copy.deepcopy(WORKER_TEMPLATE)
    body["code"] = "t_new"
    body.update(changes)
    return body


def _error(resp) -> dict:
    return resp.get_json()["error"]


def test_an_admin_makes_a_template_everyone_reads_it(client, auth_as, fake_metrics, world):
    resp = client.post(TEMPLATES, json=_template(), headers=auth_as("admin"))
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert made["version"] == 1 and made["bands"] == {"excellent": 93, "good": 85, "pass": 75}
    assert [i["code"] for i in made["indicators"]] == ["coverage", "visits", "spot_check"]
    assert made["indicators"][0]["formula"] == "patrol_coverage: numerator ÷ denominator"
    assert made["indicators"][2]["scoring"] == "entered"
    for user in ("worker_a", "bank", "station_a"):
        listed = client.get(TEMPLATES, headers=auth_as(user))
        assert listed.status_code == 200 and [t["code"] for t in listed.get_json()] == ["t_new"]
    refused = client.post(TEMPLATES, json=_template(code="t_other"), headers=auth_as("centre"))
    assert refused.status_code == 403 and _error(refused)["code"] == "forbidden_role"
    again = client.post(TEMPLATES, json=_template(), headers=auth_as("admin"))
    assert again.status_code == 409 and _error(again)["code"] == "template_exists"


def test_weights_must_sum_to_100(client, auth_as, fake_metrics, world):
    body = _template()
    body["indicators"][0]["weight"] = 39
    resp = client.post(TEMPLATES, json=body, headers=auth_as("admin"))
    assert resp.status_code == 422
    assert _error(resp)["code"] == "weights_not_100" and _error(resp)["details"]["sum"] == 99
    body["indicators"][0]["weight"] = 39.5
    resp = client.post(TEMPLATES, json=body, headers=auth_as("admin"))
    assert resp.status_code == 422 and "indicators" in _error(resp)["details"]["fields"]


def test_each_indicator_is_a_known_metric_of_the_kind_or_entered(
    client, auth_as, fake_metrics, world
):
    body = _template()
    body["indicators"][0]["metric"] = "footfall"
    body["indicators"][1]["metric"] = "events_held"  # an institution's figure
    body["indicators"][2]["metric"] = "visits"  # entered: no metric
    resp = client.post(TEMPLATES, json=body, headers=auth_as("admin"))
    assert resp.status_code == 422
    fields = _error(resp)["details"]["fields"]
    assert {"indicators.0.metric", "indicators.1.metric", "indicators.2.metric"} <= set(fields)
    body = _template()
    body["indicators"][1]["target"] = None  # a target indicator without its target
    resp = client.post(TEMPLATES, json=body, headers=auth_as("admin"))
    assert "indicators.1.target" in _error(resp)["details"]["fields"]


def test_bands_assessor_and_deductions_are_checked(client, auth_as, fake_metrics, world):
    cases = [
        ({"bands": {"excellent": 80, "good": 85, "pass": 75}}, "bands"),
        ({"bands": {"excellent": 93, "good": 85, "pass": 175}}, "bands"),
        ({"assessor_role": "worker"}, "assessor_role"),
        ({"deductions": [{"code": "a_b", "name": "x", "points": 1}] * 2}, "deductions.1.code"),
        ({"deductions": [{"code": "a_b", "name": "x", "points": 0}]}, "deductions"),
    ]
    for change, field in cases:
        resp = client.post(TEMPLATES, json=_template(**change), headers=auth_as("admin"))
        assert resp.status_code == 422, change
        assert field in _error(resp)["details"]["fields"], (change, _error(resp))


def test_patch_by_version_and_a_run_keeps_its_snapshot(client, auth_as, scored):
    travel(dt.date(2027, 4, 10))
    admin = auth_as("admin")
    listed = client.get(f"{TEMPLATES}?target_kind=worker", headers=admin).get_json()
    template = listed[0]
    run = start_run(client, auth_as("centre"), "t_worker", "2027-Q1", scored.field.world.street)
    indicators = template["indicators"]
    indicators[0]["weight"], indicators[2]["weight"] = 50, 20
    resp = client.patch(
        f"{TEMPLATES}/{template['id']}",
        json={"version": template["version"], "indicators": indicators, "name": "新版"},
        headers=admin,
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["version"] == 2 and resp.get_json()["indicators"][0]["weight"] == 50
    stale = client.patch(
        f"{TEMPLATES}/{template['id']}", json={"version": 1, "name": "x"}, headers=admin
    )
    assert stale.status_code == 409 and _error(stale)["code"] == "stale_version"
    kept = client.get(f"/api/v1/assessments/runs/{run['id']}", headers=admin).get_json()
    assert kept["template_snapshot"]["indicators"][0]["weight"] == 40
    bad = client.patch(
        f"{TEMPLATES}/{template['id']}",
        json={"version": 2, "indicators": indicators[:2]},
        headers=admin,
    )
    assert bad.status_code == 422 and _error(bad)["code"] == "weights_not_100"


def test_the_seeded_templates(ctx, fake_metrics):
    ids = load_templates()
    assert set(ids) == {"grid_worker", "community_station", "bank_branch"}
    assert load_templates() == ids  # again: nothing added
    bank = db.session.get(AssessmentTemplate, ids["bank_branch"])
    assert bank.assessor_role == "coordinator" and bank.disqualify_after == 3
    assert [d["points"] for d in bank.deductions] == [1.0, 1.0]
    from gridserve.services.assessment.templates import indicators_of

    lines = indicators_of([bank.id])[bank.id]
    groups: dict[str, int] = {}
    for line in lines:
        groups[line.group] = groups.get(line.group, 0) + line.weight
    assert groups == {"服务质量": 40, "服务能力": 20, "营销业绩": 40}
    relative = [ln for ln in lines if ln.scoring == "relative"]
    assert relative and all(ln.factor == 0.8 and ln.cap == 1.2 for ln in relative)
    assert {ln.code for ln in lines if ln.source == "entered"} >= {"mystery_shopper"}
    worker = db.session.get(AssessmentTemplate, ids["grid_worker"])
    assert worker.assessor_role == "station"
    spot = [ln for ln in indicators_of([worker.id])[worker.id] if ln.source == "entered"]
    assert [ln.code for ln in spot] == ["spot_check"]
    station = db.session.get(AssessmentTemplate, ids["community_station"])
    assert station.assessor_role == "street_centre" and station.target_kind == "station"
