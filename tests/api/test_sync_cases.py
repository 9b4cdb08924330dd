"""Cases reported offline (upload items of `type: case`) and `POST /tasks` with a client uuid:
stored once per UUID, answered per item like visits."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from sqlalchemy import func, select

from gridserve.extensions import db
from gridserve.models import Task
from tests.api.test_sync_visits import _item, _point_in, _upload

TASKS = "/api/v1/tasks"


def _case(lon, lat, **over):
    case = {
        "uuid": str(uuid.uuid4()),
        "type": "case",
        "title": "井盖破损",
        "details": "人行道井盖缺失，已设警示",
        "location": {"lon": lon, "lat": lat, "accuracy_m": 6.5},
        "priority": "high",
        "attachments": [str(uuid.uuid4())],
        "observed_at": "2026-11-30T09:15:00+08:00",
    }
    case.update(over)
    return case


def _tasks(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Task)).scalar_one()


def _results(resp) -> list[dict]:
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["results"]


def test_a_case_is_stored_once_as_the_workers_case(client, auth_as, field, terminal, clean_app):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    case = _case(lon, lat)
    [created] = _results(_upload(client, terminal, [case]))
    assert created["status"] == "created"
    assert created["uuid"] == case["uuid"] and created["version"] == 1
    task = client.get(f"{TASKS}/{created['task_id']}", headers=terminal).get_json()
    assert (task["kind"], task["source"], task["status"]) == ("case", "terminal", "open")
    assert task["assigned_worker_id"] == field.worker_id
    assert task["uuid"] == case["uuid"]
    assert (task["title"], task["details"], task["priority"]) == (
        "井盖破损", "人行道井盖缺失，已设警示", "high",
    )  # fmt: skip
    assert task["attachments"] == case["attachments"]
    assert task["observed_at"] == "2026-11-30T01:15:00+00:00"
    assert task["location"] == pytest.approx({"lon": lon, "lat": lat, "accuracy_m": 6.5})
    assert (task["area_id"], task["cell_code"]) == (field.world.community_a, field.cell)
    assert [h["action"] for h in task["history"]] == ["created"]

    # A retry is a duplicate of the same task; other content under the UUID is a conflict.
    [again] = _results(_upload(client, terminal, [case]))
    assert again["status"] == "duplicate" and again["task_id"] == created["task_id"]
    [clash] = _results(_upload(client, terminal, [dict(case, title="路灯不亮")]))
    assert clash["status"] == "conflict" and clash["code"] == "uuid_taken"
    assert "task_id" not in clash
    assert _tasks(clean_app) == 1
    kept = client.get(f"{TASKS}/{created['task_id']}", headers=terminal).get_json()
    assert kept["title"] == "井盖破损" and kept["version"] == 1

    # The terminal carries it, with its uuid, so the app can match its own record.
    bundle = client.get("/api/v1/sync/bundle", headers=terminal).get_json()
    assert [t["uuid"] for t in bundle["tasks"]] == [case["uuid"]]


def test_cases_and_visits_share_a_batch_each_with_its_own_result(
    client, auth_as, field, terminal, clean_app
):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    visit, case = _item(lon, lat), _case(lon, lat, attachments=[], observed_at=None)
    minimal = {"uuid": str(uuid.uuid4()), "type": "case", "title": "路面积水"}
    bad = _case(lon, lat, title="")
    results = _results(_upload(client, terminal, [visit, case, bad, minimal, case]))
    assert [r["status"] for r in results] == [
        "created", "created", "rejected", "created", "rejected",
    ]  # fmt: skip
    assert "task_id" not in results[0] and results[1]["task_id"]
    assert results[2]["code"] == "validation_error" and "title" in results[2]["errors"]
    assert results[4]["code"] == "duplicate_in_batch"
    task = client.get(f"{TASKS}/{results[3]['task_id']}", headers=terminal).get_json()
    # No place and no location: the worker's community, no cell, no point.
    assert (task["area_id"], task["cell_code"], task["location"]) == (
        field.world.community_a, None, None,
    )  # fmt: skip
    assert (task["priority"], task["details"], task["attachments"]) == ("normal", "", [])
    assert _tasks(clean_app) == 2


def test_a_case_at_a_place_takes_its_cell_and_a_place_out_of_the_area_is_rejected(
    client, auth_as, field, terminal, clean_app
):
    cells = client.get(
        f"/api/v1/areas/{field.world.street}/cells", headers=auth_as("centre")
    ).get_json()
    ids = {f["properties"]["code"]: f["id"] for f in cells["features"]}
    mine = client.get(f"/api/v1/places?cell={ids[field.cell]}", headers=auth_as("centre"))
    other = client.get(f"/api/v1/places?cell={ids[field.cell_b]}", headers=auth_as("centre"))
    here, there = mine.get_json()[0], other.get_json()[0]
    at_place = {"uuid": str(uuid.uuid4()), "type": "case", "title": "违章搭建",
                "place_id": here["id"]}  # fmt: skip
    elsewhere = dict(at_place, uuid=str(uuid.uuid4()), place_id=there["id"])
    nowhere = dict(at_place, uuid=str(uuid.uuid4()), place_id=2**31 - 1)
    outside = _case(120.0, 10.0)
    results = _results(_upload(client, terminal, [at_place, elsewhere, nowhere, outside]))
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert results[1]["code"] == results[2]["code"] == "unknown_place"
    assert "place_id" in results[1]["errors"]
    assert results[3]["code"] == "outside_area" and "location" in results[3]["errors"]
    task = client.get(f"{TASKS}/{results[0]['task_id']}", headers=terminal).get_json()
    assert (task["place_id"], task["cell_code"]) == (here["id"], field.cell)
    assert _tasks(clean_app) == 1


HOSTILE = [
    ({"title": None}, "validation_error", "title"),
    ({"title": "x" * 201}, "validation_error", "title"),
    ({"title": ["井盖"]}, "validation_error", "title"),
    ({"details": "x" * 4001}, "validation_error", "details"),
    ({"details": 12}, "validation_error", "details"),
    ({"uuid": "not-a-uuid"}, "validation_error", "uuid"),
    ({"priority": "critical"}, "validation_error", "priority"),
    ({"attachments": ["nope"]}, "validation_error", "attachments"),
    ({"attachments": [str(uuid.uuid4()) for _ in range(21)]}, "validation_error", "attachments"),
    ({"attachments": "x"}, "validation_error", "attachments"),
    ({"location": {"lon": 500, "lat": 30}}, "validation_error", "location.lon"),
    ({"location": {"lon": 104}}, "validation_error", "location.lat"),
    ({"location": {"lon": 104, "lat": 30, "accuracy_m": -1}}, "validation_error",
     "location.accuracy_m"),
    ({"location": "here"}, "validation_error", "location"),
    ({"observed_at": "yesterday"}, "validation_error", "observed_at"),
    ({"observed_at": "2026-11-30T09:00:00"}, "validation_error", "observed_at"),
    ({"observed_at": "1800-01-01T00:00:00+00:00"}, "validation_error", "observed_at"),
    ({"place_id": 0}, "validation_error", "place_id"),
    ({"place_id": 2**40}, "validation_error", "place_id"),
    ({"place_id": "twelve"}, "validation_error", "place_id"),
    ({"mock": True}, "validation_error", "mock"),
    ({"assigned_worker_id": 2}, "validation_error", "assigned_worker_id"),
    ({"kind": "task"}, "validation_error", "kind"),
    ({"title": "井盖\u0000破损"}, "invalid_text", "title"),
    ({"details": "\ud800"}, "invalid_text", "details"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "code", "name"), HOSTILE)
def test_a_hostile_case_item_is_rejected_on_its_own(
    client, auth_as, field, terminal, clean_app, change, code, name
):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    good = _case(lon, lat)
    bad = _case(lon, lat, **change)
    body = json.dumps({"items": [bad, good]})  # escaped: a lone surrogate travels as \ud800
    results = _results(
        client.post("/api/v1/sync/visits", data=body, headers=terminal,
                    content_type="application/json")
    )  # fmt: skip
    assert results[0]["status"] == "rejected", results[0]
    assert results[0]["code"] == code
    assert any(key == name or key.startswith(f"{name}.") for key in results[0]["errors"]), results[
        0
    ]["errors"]
    assert results[1]["status"] == "created"
    assert _tasks(clean_app) == 1


def test_a_case_item_cannot_be_sent_as_a_visit_edit(client, auth_as, field, terminal):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    case = _case(lon, lat)
    resp = client.patch(f"/api/v1/visits/{case['uuid']}", json=case, headers=terminal)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"


# --- POST /tasks with a uuid -----------------------------------------------------------------


def test_post_tasks_with_a_uuid_makes_it_once(client, auth_as, field, clean_app):
    station = auth_as("station_a")
    body = {"title": "走访独居老人", "area_id": field.world.community_a,
            "uuid": str(uuid.uuid4()), "priority": "high"}  # fmt: skip
    first = client.post(TASKS, json=body, headers=station)
    assert first.status_code == 201
    assert first.get_json()["uuid"] == body["uuid"]
    again = client.post(TASKS, json=body, headers=station)
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["version"] == 1
    changed = client.post(TASKS, json=dict(body, priority="low"), headers=station)
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "uuid_taken"
    # The same request by someone else is someone else's UUID.
    other = client.post(TASKS, json=body, headers=auth_as("centre"))
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "uuid_taken"
    # Without a uuid, every request is a new task (as before).
    plain = {k: v for k, v in body.items() if k != "uuid"}
    assert client.post(TASKS, json=plain, headers=station).status_code == 201
    assert client.post(TASKS, json=plain, headers=station).status_code == 201
    assert _tasks(clean_app) == 3


def test_a_case_reported_online_and_retried_offline_is_one_case(
    client, auth_as, field, terminal, clean_app
):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    case = _case(lon, lat)
    online = {k: v for k, v in case.items() if k != "type"}
    resp = client.post(TASKS, json=online, headers=terminal)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["attachments"] == case["attachments"]
    [result] = _results(_upload(client, terminal, [case]))
    assert result["status"] == "duplicate" and result["task_id"] == resp.get_json()["id"]
    again = client.post(TASKS, json=online, headers=terminal)
    assert again.status_code == 200
    assert _tasks(clean_app) == 1


def test_post_tasks_refuses_a_bad_uuid(client, auth_as, field):
    for bad in ("nope", 12, "", None):
        resp = client.post(
            TASKS, json={"title": "x", "area_id": field.world.community_a, "uuid": bad},
            headers=auth_as("station_a"),
        )  # fmt: skip
        assert resp.status_code == 422, bad
        assert "uuid" in resp.get_json()["error"]["details"]["fields"]


@pytest.mark.real_commits
def test_identical_cases_at_the_same_moment_make_one_task(
    client, auth_as, field, terminal, clean_app
):
    lon, lat = _point_in(client, auth_as, field.world.street, field.cell)
    case = _case(lon, lat)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def send():
        with clean_app.test_client() as c:
            barrier.wait()
            resp = _upload(c, terminal, [case])
            outcomes.append(resp.get_json()["results"][0]["status"])

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", "duplicate", "duplicate", "duplicate"]
    assert _tasks(clean_app) == 1
