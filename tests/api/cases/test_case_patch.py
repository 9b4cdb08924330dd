"""PATCH /tasks/{id} on a case: its status and category move only by the case's steps (422
`use_case_steps`, naming the field and the step's endpoint); its other fields stay editable;
tasks keep their own status rules."""

from __future__ import annotations

from tests.api.cases.ladder_helpers import code_of, new_case, step, stored

TASKS = "/api/v1/tasks"


def _patch(client, headers, task_id: int, **body):
    version = stored(client.application, task_id).version
    return client.patch(f"{TASKS}/{task_id}", json={"version": version, **body}, headers=headers)


def test_a_status_change_on_a_case_is_refused_with_the_step_to_use(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    station, worker = auth_as("station_a"), auth_as("worker_a")
    before = stored(clean_app, case)
    for who, status, endpoint in [
        (station, "accepted", f"/api/v1/tasks/{case}/accept"),
        (station, "closed", f"/api/v1/tasks/{case}/close"),
        (station, "cancelled", f"/api/v1/tasks/{case}/cancel"),
        (station, "in_progress", None),  # a task's status: no step leads there
        (station, "done", None),
        (worker, "accepted", f"/api/v1/tasks/{case}/accept"),  # the case's own worker too
        (worker, "in_progress", None),
    ]:
        resp = _patch(client, who, case, status=status, note="处理中")
        assert resp.status_code == 422, resp.get_json()
        error = resp.get_json()["error"]
        assert error["code"] == "use_case_steps"
        assert "status" in error["details"]["fields"]
        assert error["details"]["endpoint"] == endpoint
        assert "POST /api/v1/tasks/" in error["message"]
        assert "accept" in error["details"]["steps"] and "reopen" in error["details"]["steps"]
    after = stored(clean_app, case)
    assert (after.status, after.version, after.note) == ("open", before.version, "")
    # The same status as the case's is no change: the rest of the edit goes through.
    resp = _patch(client, station, case, status="open", title="路灯不亮（两盏）")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "open" and resp.get_json()["version"] == before.version + 1
    # A role that may not edit at all is still refused before its input is looked at.
    resp = _patch(client, worker, case, status="closed", title="x")
    assert resp.status_code == 403 and code_of(resp) == "forbidden_field"


def test_the_steps_move_the_case_and_reopen_names_its_step(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    station, worker = auth_as("station_a"), auth_as("worker_a")
    assert step(client, worker, case, "accept").status_code == 200
    assert step(client, worker, case, "settle", {"note": "已劝导"}).status_code == 200
    resp = _patch(client, station, case, status="closed")
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["step"] == "close"
    assert step(client, station, case, "close", {"note": "办结"}).status_code == 200
    # Closed: no edit at all, and the way back is the reopen step.
    resp = _patch(client, station, case, title="改")
    assert resp.status_code == 409 and code_of(resp) == "invalid_transition"
    resp = _patch(client, station, case, status="open")
    assert resp.status_code == 422 and code_of(resp) == "use_case_steps"
    assert resp.get_json()["error"]["details"]["endpoint"] == f"/api/v1/tasks/{case}/reopen"
    assert step(client, station, case, "reopen", {"note": "仍然吵"}).status_code == 200
    assert stored(clean_app, case).status == "open"


def test_a_category_change_goes_through_recategorise(client, auth_as, cases, clean_app) -> None:
    case = new_case(clean_app, cases, "noise")
    station = auth_as("station_a")
    resp = _patch(client, station, case, category="sanitation")
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "use_case_steps" and "category" in error["details"]["fields"]
    assert error["details"]["endpoint"] == f"/api/v1/tasks/{case}/recategorise"
    assert stored(clean_app, case).category_id == cases.categories["noise"]
    moved = step(client, station, case, "recategorise", {"category": "sanitation"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["category"] == "sanitation"
    task = new_case(clean_app, cases, kind="task")
    resp = _patch(client, station, task, category="noise")
    assert resp.status_code == 422 and code_of(resp) == "validation_error"
    assert "category" in resp.get_json()["error"]["details"]["fields"]


def test_a_cases_other_fields_stay_editable_and_its_status_and_level_stay(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    station, worker = auth_as("station_a"), auth_as("worker_a")
    assert step(client, worker, case, "accept").status_code == 200
    before = stored(clean_app, case)
    resp = _patch(client, station, case, title="楼下夜市噪音", details="每晚十点后",
                  priority="high", note="已联系市场管理方")  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["title"], body["priority"], body["note"]) == ("楼下夜市噪音", "high",
                                                              "已联系市场管理方")  # fmt: skip
    assert (body["status"], body["level"]) == ("accepted", before.level)
    assert body["version"] == before.version + 1 and body["change_seq"] > before.change_seq
    # The worker adds a note; a handover by the station keeps the case's status.
    assert _patch(client, worker, case, note="明晚再去").status_code == 200
    resp = _patch(client, station, case, assigned_worker_id=None)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "accepted" and resp.get_json()["assigned_worker_id"] is None
    history = resp.get_json()["history"]
    assert [e["action"] for e in history[-3:]] == ["edited", "edited", "assigned"]
    assert all(e["from_level"] == e["to_level"] == before.level for e in history[-3:])


def test_tasks_keep_their_status_rules(client, auth_as, cases, clean_app) -> None:
    task = new_case(clean_app, cases, kind="task")
    station = auth_as("station_a")
    resp = _patch(client, station, task, status="in_progress")
    assert resp.status_code == 200 and resp.get_json()["status"] == "in_progress"
    resp = _patch(client, station, task, status="accepted")  # a case's status
    assert resp.status_code == 409 and code_of(resp) == "invalid_transition"
    resp = _patch(client, station, task, status="done", note="已走访")
    assert resp.status_code == 200 and resp.get_json()["status"] == "done"
