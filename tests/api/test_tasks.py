"""Tasks and cases: made by the station or reported from a terminal, scoped, versioned,
moved through their statuses, and carried (then dropped) by the assigned worker's terminal."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, login

TASKS = "/api/v1/tasks"


def _cell_places(client, auth_as, cell_code, area_id):
    cells = client.get(f"/api/v1/areas/{area_id}/cells", headers=auth_as("centre")).get_json()
    cell_id = next(f["id"] for f in cells["features"] if f["properties"]["code"] == cell_code)
    places = client.get(
        f"/api/v1/places?cell={cell_id}&page_size=500", headers=auth_as("centre")
    ).get_json()
    return cell_id, places


def _task(client, headers, **body):
    resp = client.post(TASKS, json={"title": "走访独居老人"} | body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _patch(client, headers, task, **body):
    return client.patch(
        f"{TASKS}/{task['id']}", json={"version": task["version"]} | body, headers=headers
    )


def _bundle(client, headers, since=None):
    return client.get(
        "/api/v1/sync/bundle" + (f"?since={since}" if since else ""), headers=headers
    ).get_json()


def _error(resp, status, code):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["error"]["code"] == code, body
    return body["error"]


def _second_worker(client, auth_as, field, *, with_account: bool = False) -> tuple[int, dict]:
    """Another worker of S1C1 (and, if asked, their signed-in headers)."""
    user_id = None
    if with_account:
        user = client.post(
            "/api/v1/users",
            json={"username": "worker_a2", "password": PASSWORD, "role": "worker",
                  "area_id": field.world.community_a},
            headers=auth_as("admin"),
        )  # fmt: skip
        assert user.status_code == 201, user.get_json()
        user_id = user.get_json()["id"]
    worker = client.post(
        "/api/v1/workers",
        json={"area_id": field.world.community_a, "full_name": "网格员乙", "user_id": user_id},
        headers=auth_as("station_a"),
    )
    assert worker.status_code == 201, worker.get_json()
    headers = login(client, "worker_a2") if with_account else {}
    return worker.get_json()["id"], headers


# --- making and reading --------------------------------------------------------------------


def test_a_station_gives_a_task_at_a_place_and_it_takes_the_place_s_community_and_cell(
    client, auth_as, field
):
    cell_id, places = _cell_places(client, auth_as, field.cell, field.world.street)
    task = _task(
        client,
        auth_as("station_a"),
        place_id=places[0]["id"],
        assigned_worker_id=field.worker_id,
        details="每周一次",
        priority="high",
        due_at="2030-01-31T18:00:00+08:00",
    )
    assert task["kind"] == "task" and task["status"] == "open" and task["source"] == "station"
    assert task["area_id"] == field.world.community_a
    assert task["cell_id"] == cell_id and task["cell_code"] == field.cell
    assert task["assigned_worker_id"] == field.worker_id
    assert task["version"] == 1 and task["closed_at"] is None
    assert task["due_at"].startswith("2030-01-31T10:00:00")  # stored in UTC
    lon, lat = places[0]["geometry"]["coordinates"]
    assert task["location"] == pytest.approx({"lon": lon, "lat": lat})
    assert [e["action"] for e in task["history"]] == ["created"]

    got = client.get(f"{TASKS}/{task['id']}", headers=auth_as("centre"))
    assert got.status_code == 200 and got.get_json()["title"] == "走访独居老人"


def test_each_station_sees_its_own_community_and_out_of_scope_is_404(client, auth_as, field):
    _cell_id, places = _cell_places(client, auth_as, field.cell, field.world.street)
    in_a = _task(client, auth_as("station_a"), place_id=places[0]["id"])
    in_b = _task(client, auth_as("station_b"), area_id=field.world.community_b, kind="case")

    listed_a = client.get(TASKS, headers=auth_as("station_a"))
    assert listed_a.status_code == 200
    assert [t["id"] for t in listed_a.get_json()] == [in_a["id"]]
    assert [t["id"] for t in client.get(TASKS, headers=auth_as("station_b")).get_json()] == [
        in_b["id"]
    ]
    both = client.get(f"{TASKS}?sort=id", headers=auth_as("centre")).get_json()
    assert [t["id"] for t in both] == [in_a["id"], in_b["id"]]

    _error(client.get(f"{TASKS}/{in_a['id']}", headers=auth_as("station_b")), 404, "not_found")
    _error(_patch(client, auth_as("station_b"), in_a, title="x"), 404, "not_found")
    # A place of another community is as unknown as a missing one.
    _error(
        client.post(TASKS, json={"title": "t", "place_id": places[0]["id"]},
                    headers=auth_as("station_b")),
        404, "not_found",
    )  # fmt: skip
    # Outreach and bank users have nothing to do with tasks.
    _error(client.get(TASKS, headers=auth_as("coordinator")), 403, "forbidden_role")
    _error(client.get(TASKS, headers=auth_as("bank")), 403, "forbidden_role")


def test_lists_filter_and_sort(client, auth_as, field):
    headers = auth_as("station_a")
    community = field.world.community_a
    low = _task(client, headers, area_id=community, priority="low")
    urgent = _task(client, headers, area_id=community, priority="urgent", kind="case",
                   assigned_worker_id=field.worker_id)  # fmt: skip
    _patch(client, headers, low, status="cancelled")

    def ids(query):
        resp = client.get(f"{TASKS}?{query}", headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return [t["id"] for t in resp.get_json()]

    assert ids("status=open") == [urgent["id"]]
    assert ids("kind=task") == [low["id"]]
    assert ids(f"worker_id={field.worker_id}") == [urgent["id"]]
    assert ids(f"area={community}&sort=-priority") == [urgent["id"], low["id"]]
    assert ids("sort=priority") == [low["id"], urgent["id"]]
    _error(client.get(f"{TASKS}?area={field.world.community_b}", headers=headers), 404,
           "not_found")  # fmt: skip
    centre = auth_as("centre")
    for area, expected in ((field.world.street, 2), (field.world.community_b, 0)):
        assert len(client.get(f"{TASKS}?area={area}", headers=centre).get_json()) == expected
    page = client.get(f"{TASKS}?page_size=1", headers=headers)
    assert len(page.get_json()) == 1 and '"total": 2' in page.headers["X-Pagination"]
    _error(client.get(f"{TASKS}?sort=secret", headers=headers), 422, "validation_error")


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "t", "priority": "whenever"}, "priority"),
        ({"title": "t", "kind": "chore"}, "kind"),
        ({"title": "t", "due_at": "2030-01-31T18:00:00"}, "due_at"),  # no time zone
        ({"title": "t", "location": {"lon": 200, "lat": 30}}, "location"),
        ({"title": "t"}, "place_id"),  # nowhere
    ],
)
def test_bad_input_is_422_with_the_field(client, auth_as, field, body, field_name):
    error = _error(client.post(TASKS, json=body, headers=auth_as("station_a")), 422,
                   "validation_error")  # fmt: skip
    assert field_name in error["details"]["fields"]


def test_where_and_whom_are_checked(client, auth_as, field):
    headers = auth_as("station_a")
    world = field.world
    error = _error(
        client.post(TASKS, json={"title": "t", "area_id": world.street},
                    headers=auth_as("centre")),
        422, "validation_error",
    )  # fmt: skip
    assert "area_id" in error["details"]["fields"]
    _error(
        client.post(TASKS, json={"title": "t", "area_id": world.community_b}, headers=headers),
        404, "not_found",
    )  # fmt: skip
    for worker_id in (999_999,):
        error = _error(
            client.post(TASKS, json={"title": "t", "area_id": world.community_a,
                                     "assigned_worker_id": worker_id}, headers=headers),
            422, "validation_error",
        )  # fmt: skip
        assert "assigned_worker_id" in error["details"]["fields"]
    # A worker of another community cannot take a task of this one.
    other = client.post(
        "/api/v1/workers",
        json={"area_id": world.community_b, "full_name": "网格员丙"},
        headers=auth_as("centre"),
    ).get_json()
    error = _error(
        client.post(TASKS, json={"title": "t", "area_id": world.community_a,
                                 "assigned_worker_id": other["id"]}, headers=auth_as("centre")),
        422, "validation_error",
    )  # fmt: skip
    assert "assigned_worker_id" in error["details"]["fields"]
    # Nor can a suspended one.
    second, _ = _second_worker(client, auth_as, field)
    suspended = client.patch(f"/api/v1/workers/{second}", json={"status": "suspended"},
                             headers=headers)  # fmt: skip
    assert suspended.status_code == 200, suspended.get_json()
    _error(
        client.post(TASKS, json={"title": "t", "area_id": world.community_a,
                                 "assigned_worker_id": second}, headers=headers),
        409, "worker_not_active",
    )  # fmt: skip
    assert client.get(TASKS, headers=headers).get_json() == []  # nothing stored on refusal


# --- changing ------------------------------------------------------------------------------


def test_a_stale_version_is_409_and_changes_nothing(client, auth_as, field):
    headers = auth_as("station_a")
    task = _task(client, headers, area_id=field.world.community_a)
    first = _patch(client, headers, task, title="走访独居老人（复查）", priority="urgent")
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["version"] == 2
    error = _error(_patch(client, headers, task, title="别的"), 409, "stale_version")
    assert error["details"]["current_version"] == 2
    now = client.get(f"{TASKS}/{task['id']}", headers=headers).get_json()
    assert now["title"] == "走访独居老人（复查）" and now["priority"] == "urgent"
    assert now["version"] == 2
    missing = client.patch(f"{TASKS}/{task['id']}", json={"title": "x"}, headers=headers)
    assert "version" in _error(missing, 422, "validation_error")["details"]["fields"]


def test_the_worker_moves_their_task_to_done_with_a_note_and_done_is_final(
    client, auth_as, field, terminal
):
    station = auth_as("station_a")
    task = _task(client, station, area_id=field.world.community_a,
                 assigned_worker_id=field.worker_id)  # fmt: skip

    _error(_patch(client, terminal, task, status="done", note="好了"), 409, "invalid_transition")
    started = _patch(client, terminal, task, status="in_progress")
    assert started.status_code == 200, started.get_json()
    task = started.get_json()
    assert task["status"] == "in_progress"

    no_note = _patch(client, terminal, task, status="done")
    assert "note" in _error(no_note, 422, "validation_error")["details"]["fields"]
    done = _patch(client, terminal, task, status="done", note="已上门，老人身体良好")
    assert done.status_code == 200, done.get_json()
    task = done.get_json()
    assert task["status"] == "done" and task["closed_at"] is not None
    assert task["note"] == "已上门，老人身体良好"
    assert [(e["action"], e["to_status"]) for e in task["history"]] == [
        ("created", "open"), ("status", "in_progress"), ("status", "done"),
    ]  # fmt: skip

    error = _error(_patch(client, station, task, status="open"), 409, "invalid_transition")
    assert error["details"]["status"] == "done"
    _error(_patch(client, station, task, title="改"), 409, "invalid_transition")


def test_the_worker_may_not_reassign_or_edit_and_sees_only_their_own(
    client, auth_as, field, terminal
):
    station = auth_as("station_a")
    second, _ = _second_worker(client, auth_as, field)
    mine = _task(client, station, area_id=field.world.community_a,
                 assigned_worker_id=field.worker_id)  # fmt: skip
    theirs = _task(client, station, area_id=field.world.community_a, assigned_worker_id=second)
    nobody = _task(client, station, area_id=field.world.community_a)

    _error(_patch(client, terminal, mine, assigned_worker_id=second), 403, "cannot_reassign")
    _error(_patch(client, terminal, mine, assigned_worker_id=None), 403, "cannot_reassign")
    error = _error(_patch(client, terminal, mine, title="我来改"), 403, "forbidden_field")
    assert error["details"]["fields"] == ["title"]
    _error(_patch(client, terminal, mine, status="cancelled"), 409, "invalid_transition")
    noted = _patch(client, terminal, mine, note="约了周五上门")
    assert noted.status_code == 200 and noted.get_json()["note"] == "约了周五上门"

    assert [t["id"] for t in client.get(TASKS, headers=terminal).get_json()] == [mine["id"]]
    for other in (theirs, nobody):
        _error(client.get(f"{TASKS}/{other['id']}", headers=terminal), 404, "not_found")
        _error(_patch(client, terminal, other, status="in_progress"), 404, "not_found")
    unchanged = client.get(f"{TASKS}/{mine['id']}", headers=station).get_json()
    assert unchanged["assigned_worker_id"] == field.worker_id
    assert unchanged["title"] == mine["title"]


def test_a_handover_of_work_in_progress_starts_it_afresh(client, auth_as, field, terminal):
    station = auth_as("station_a")
    second, _ = _second_worker(client, auth_as, field)
    task = _task(client, station, area_id=field.world.community_a,
                 assigned_worker_id=field.worker_id)  # fmt: skip
    task = _patch(client, terminal, task, status="in_progress").get_json()
    handed = _patch(client, station, task, assigned_worker_id=second)
    assert handed.status_code == 200, handed.get_json()
    assert handed.get_json()["assigned_worker_id"] == second
    assert handed.get_json()["status"] == "open"


# --- cases from the field ------------------------------------------------------------------


def test_a_terminal_reports_a_case_where_it_stands(client, auth_as, field, terminal):
    cell_id, places = _cell_places(client, auth_as, field.cell, field.world.street)
    lon, lat = places[0]["geometry"]["coordinates"]
    resp = client.post(
        TASKS,
        json={"title": "井盖破损", "details": "人行道井盖缺失",
              "location": {"lon": lon, "lat": lat}, "priority": "urgent"},
        headers=terminal,
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["kind"] == "case" and case["source"] == "terminal"
    assert case["assigned_worker_id"] == field.worker_id
    assert case["area_id"] == field.world.community_a
    assert case["cell_id"] == cell_id and case["cell_code"] == field.cell
    assert case["location"] == pytest.approx({"lon": lon, "lat": lat})

    at_place = _task(client, terminal, kind="case", place_id=places[1]["id"])
    assert at_place["cell_code"] == field.cell and at_place["place_id"] == places[1]["id"]

    station_sees = client.get(f"{TASKS}?kind=case", headers=auth_as("station_a")).get_json()
    assert {t["id"] for t in station_sees} == {case["id"], at_place["id"]}


def test_a_terminal_reports_cases_only_for_itself_and_only_in_its_community(
    client, auth_as, field, terminal
):
    second, _ = _second_worker(client, auth_as, field)
    _error(client.post(TASKS, json={"title": "t", "kind": "task"}, headers=terminal),
           403, "forbidden_role")  # fmt: skip
    _error(
        client.post(TASKS, json={"title": "t", "assigned_worker_id": second}, headers=terminal),
        403, "cannot_reassign",
    )  # fmt: skip
    error = _error(
        client.post(TASKS, json={"title": "t", "location": {"lon": 104.08, "lat": 30.45}},
                    headers=terminal),
        422, "outside_coverage",
    )  # fmt: skip
    assert "location" in error["details"]["fields"]
    assert client.get(TASKS, headers=auth_as("station_a")).get_json() == []


# --- the terminal's bundle -----------------------------------------------------------------


def test_the_bundle_carries_the_worker_s_open_tasks_and_never_another_s(
    client, auth_as, field, terminal
):
    station = auth_as("station_a")
    community = field.world.community_a
    second, _ = _second_worker(client, auth_as, field)
    mine = _task(client, station, area_id=community, assigned_worker_id=field.worker_id)
    started = _task(client, station, area_id=community, assigned_worker_id=field.worker_id,
                    kind="case")  # fmt: skip
    # A case moves by its steps (PATCH refuses its status: tests/api/cases/test_case_patch.py).
    started = client.post(f"{TASKS}/{started['id']}/accept", json={"version": started["version"]},
                          headers=terminal)  # fmt: skip
    assert started.status_code == 200, started.get_json()
    started = started.get_json()
    closed = _task(client, station, area_id=community, assigned_worker_id=field.worker_id)
    _patch(client, station, closed, status="cancelled")
    theirs = _task(client, station, area_id=community, assigned_worker_id=second)
    _task(client, station, area_id=community)  # nobody's

    body = _bundle(client, terminal)
    assert body["reset"] is True
    assert sorted(t["id"] for t in body["tasks"]) == sorted([mine["id"], started["id"]])
    assert {t["status"] for t in body["tasks"]} == {"open", "accepted"}
    assert body["tombstones"] == []

    cursor = body["next_cursor"]
    while True:  # drain what happened after the last row of the full bundle
        delta = _bundle(client, terminal, cursor)
        cursor = delta["next_cursor"]
        if not (delta["tasks"] or delta["tombstones"]):
            break
        assert {t["id"] for t in delta["tombstones"]} <= {closed["id"]}

    # Changes to other workers' tasks never reach this terminal, not even as tombstones.
    for change in ({"status": "in_progress"}, {"title": "别人的"}, {"status": "done"}):
        resp = _patch(client, station, theirs, **change)
        assert resp.status_code == 200, resp.get_json()
        theirs = resp.get_json()
    quiet = _bundle(client, terminal, cursor)
    assert quiet["reset"] is False and quiet["tasks"] == [] and quiet["tombstones"] == []


def test_done_cancelled_or_handed_over_tasks_leave_a_tombstone_in_the_next_bundle(
    client, auth_as, field, terminal
):
    station = auth_as("station_a")
    community = field.world.community_a
    second, second_headers = _second_worker(client, auth_as, field, with_account=True)
    ids = {}
    for name in ("done", "cancelled", "handed", "unassigned", "kept"):
        ids[name] = _task(client, station, area_id=community, title=name,
                          assigned_worker_id=field.worker_id)  # fmt: skip
    cursor = _bundle(client, terminal)["next_cursor"]

    done = _patch(client, terminal, ids["done"], status="in_progress").get_json()
    assert _patch(client, terminal, done, status="done", note="处理完毕").status_code == 200
    assert _patch(client, station, ids["cancelled"], status="cancelled").status_code == 200
    assert _patch(client, station, ids["handed"], assigned_worker_id=second).status_code == 200
    assert _patch(client, station, ids["unassigned"], assigned_worker_id=None).status_code == 200
    kept = _patch(client, station, ids["kept"], priority="urgent")
    assert kept.status_code == 200

    delta = _bundle(client, terminal, cursor)
    assert delta["reset"] is False
    assert sorted((t["entity"], t["id"]) for t in delta["tombstones"]) == sorted(
        ("task", ids[n]["id"]) for n in ("done", "cancelled", "handed", "unassigned")
    )
    assert [(t["id"], t["priority"]) for t in delta["tasks"]] == [(ids["kept"]["id"], "urgent")]
    again = _bundle(client, terminal, delta["next_cursor"])
    assert again["tasks"] == [] and again["tombstones"] == []

    # The new holder's terminal gets the task itself, never the tombstone.
    theirs = _bundle(client, second_headers)
    assert [t["id"] for t in theirs["tasks"]] == [ids["handed"]["id"]]
    assert theirs["tasks"][0]["assigned_worker_id"] == second


def test_a_task_handed_back_comes_back_after_its_tombstone(client, auth_as, field, terminal):
    station = auth_as("station_a")
    second, _ = _second_worker(client, auth_as, field)
    task = _task(client, station, area_id=field.world.community_a,
                 assigned_worker_id=field.worker_id)  # fmt: skip
    cursor = _bundle(client, terminal)["next_cursor"]
    task = _patch(client, station, task, assigned_worker_id=second).get_json()
    task = _patch(client, station, task, assigned_worker_id=field.worker_id).get_json()
    delta = _bundle(client, terminal, cursor)
    # One page holds both steps: the task as it is now, and no tombstone to undo it.
    assert [t["id"] for t in delta["tasks"]] == [task["id"]]
    assert delta["tombstones"] == []
