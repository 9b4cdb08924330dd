"""Sync down: a worker's terminal gets its own cells only, incrementally, with tombstones."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json

from gridserve.db import utcnow
from gridserve.extensions import db
from gridserve.models import Task
from jobs.registry import run_job
from tests.api.cases.ladder_helpers import new_case, step
from tests.clock import move_to


def _places(client, auth_as, cell_code, area_id):
    cells = client.get(f"/api/v1/areas/{area_id}/cells", headers=auth_as("centre")).get_json()
    cell_id = next(f["id"] for f in cells["features"] if f["properties"]["code"] == cell_code)
    return client.get(f"/api/v1/places?cell={cell_id}&page_size=500",
                      headers=auth_as("centre")).get_json()  # fmt: skip


def _household(client, headers, place_id, phone="13812345678"):
    resp = client.post(
        "/api/v1/households",
        json={"place_id": place_id, "door_number": "1-101", "address": "演示路1号",
              "phone": phone, "id_number": "11010519491231002X",
              "members": [{"name": "王小明", "relation": "户主", "work_unit": "街道超市"}]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _bundle(client, headers, since=None, **params):
    query = "&".join(f"{k}={v}" for k, v in ({"since": since} | params).items() if v is not None)
    return client.get(f"/api/v1/sync/bundle?{query}", headers=headers)


def test_the_bundle_holds_the_workers_cells_places_and_households_only(
    client, auth_as, field, terminal
):
    mine = _places(client, auth_as, field.cell, field.world.street)
    theirs = _places(client, auth_as, field.other_cell, field.world.street)
    assert mine and theirs
    own = _household(client, auth_as("station_a"), mine[0]["id"])
    other = _household(client, auth_as("station_a"), theirs[0]["id"], phone="13911112222")

    resp = _bundle(client, terminal)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["reset"] is True and body["more"] is False
    assert [f["properties"]["code"] for f in body["cells"]["features"]] == [field.cell]
    assert {p["id"] for p in body["places"]} == {p["id"] for p in mine}
    assert [h["id"] for h in body["households"]] == [own["id"]]
    assert other["id"] not in {h["id"] for h in body["households"]}
    assert body["households"][0]["phone"] == "13812345678"  # the assigned worker sees it whole


def test_incremental_sync_gets_changes_and_tombstones_only(client, auth_as, field, terminal):
    mine = _places(client, auth_as, field.cell, field.world.street)
    first = _household(client, auth_as("station_a"), mine[0]["id"])
    second = _household(client, auth_as("station_a"), mine[1]["id"], phone="13700001111")
    cursor = _bundle(client, terminal).get_json()["next_cursor"]

    quiet = _bundle(client, terminal, cursor).get_json()
    assert quiet["reset"] is False
    assert quiet["places"] == [] and quiet["households"] == [] and quiet["tombstones"] == []

    changed = client.patch(f"/api/v1/households/{first['id']}",
                           json={"door_number": "1-102", "version": first["version"]},
                           headers=auth_as("station_a"))  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert client.delete(f"/api/v1/households/{second['id']}",
                         headers=auth_as("station_a")).status_code == 204  # fmt: skip
    delta = _bundle(client, terminal, quiet["next_cursor"]).get_json()
    assert [h["door_number"] for h in delta["households"]] == ["1-102"]
    assert delta["tombstones"] == [{"entity": "household", "id": second["id"]}]
    assert delta["places"] == []


def test_pages_add_up_to_the_whole_bundle(client, auth_as, field, terminal):
    whole = _bundle(client, terminal).get_json()
    seen, cursor, pages = [], None, 0
    while True:
        page = _bundle(client, terminal, cursor, page_size=7).get_json()
        seen += [p["id"] for p in page["places"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not page["more"]:
            break
    assert sorted(seen) == sorted(p["id"] for p in whole["places"])
    assert len(seen) == len(set(seen)) and pages >= 2


def test_etag_and_304(client, terminal):
    first = _bundle(client, terminal)
    tag = first.headers["ETag"]
    again = client.get("/api/v1/sync/bundle", headers=terminal | {"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b""


def test_a_new_cell_means_a_reset(client, auth_as, field, terminal):
    cursor = _bundle(client, terminal).get_json()["next_cursor"]
    client.patch(f"/api/v1/workers/{field.worker_id}", json={"employment": "part_time"},
                 headers=auth_as("station_a"))  # fmt: skip
    added = client.post(f"/api/v1/workers/{field.worker_id}/assignments",
                        json={"cell": field.other_cell}, headers=auth_as("station_a"))  # fmt: skip
    assert added.status_code == 201, added.get_json()
    after = _bundle(client, terminal, cursor).get_json()
    assert after["reset"] is True
    assert {f["properties"]["code"] for f in after["cells"]["features"]} == {
        field.cell, field.other_cell,
    }  # fmt: skip


def test_bundles_are_gzipped_and_cursors_checked(client, terminal):
    resp = client.get("/api/v1/sync/bundle", headers=terminal | {"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "places" in json.loads(gzip.decompress(resp.data))
    bad = _bundle(client, terminal, "not-a-cursor")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_cursor"


def test_only_workers_get_bundles(client, auth_as, field):
    resp = client.get("/api/v1/sync/bundle", headers=auth_as("station_a"))
    assert resp.status_code == 403


# --- cases on the ladder ---------------------------------------------------------------------


def _drain(client, terminal, cursor):
    """Every page after ``cursor``: (tasks by id, tombstoned task ids, the pages, last cursor)."""
    tasks, gone, pages = {}, set(), []
    while True:
        resp = _bundle(client, terminal, cursor)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        pages.append(body)
        tasks.update({t["id"]: t for t in body["tasks"]})
        gone |= {t["id"] for t in body["tombstones"] if t["entity"] == "task"}
        cursor = body["next_cursor"]
        if not body["more"]:
            return tasks, gone, pages, cursor


def test_a_case_carries_its_place_on_the_ladder_and_the_categories_come_once(
    cases, client, terminal, clean_app
):
    case_id = new_case(clean_app, cases, "noise")
    body = _bundle(client, terminal).get_json()
    [case] = [t for t in body["tasks"] if t["id"] == case_id]
    assert (case["kind"], case["status"], case["version"]) == ("case", "open", 1)
    assert (case["category"], case["category_name"], case["level"]) == ("noise", "噪声扰民", "cell")
    assert case["level_due_at"] is not None and case["level_started_at"] is not None
    assert case["overdue"] is False and case["paused"] is False and case["supervised"] is False
    assert case["escalations"] == 0 and case["department_id"] is None
    # The categories for the report form: the active ones, with code and name.
    listed = {c["code"]: c for c in body["case_categories"]}
    assert (
        listed["noise"]["name"] == "噪声扰民" and listed["safety_hazard"]["start_level"] == "street"
    )
    # Not again while they do not change.
    tasks, _gone, pages, _cursor = _drain(client, terminal, body["next_cursor"])
    assert tasks == {} and all(p["case_categories"] is None for p in pages)


def test_an_overdue_case_shows_overdue_and_its_escalation_comes_as_a_delta(
    cases, client, auth_as, terminal, clean_app
):
    case_id = new_case(clean_app, cases, "noise")
    cursor = _bundle(client, terminal).get_json()["next_cursor"]
    with clean_app.app_context():  # due in a minute (its category gives it days)
        due = utcnow() + dt.timedelta(minutes=1)
        db.session.get(Task, case_id).level_due_at = due
        db.session.commit()

    move_to(due + dt.timedelta(minutes=1))
    late = _bundle(client, terminal).get_json()
    [case] = [t for t in late["tasks"] if t["id"] == case_id]
    assert case["overdue"] is True and case["level"] == "cell"

    # The deadline job sends it up: the worker still holds it, now at the community.
    with clean_app.app_context():
        try:
            assert run_job("case-deadlines")["escalated"] >= 1
        finally:
            db.session.remove()
    tasks, gone, _pages, cursor = _drain(client, terminal, cursor)
    assert case_id not in gone
    moved = tasks[case_id]
    assert (moved["level"], moved["escalations"], moved["status"]) == ("community", 1, "open")
    assert moved["overdue"] is False and moved["version"] == case["version"] + 1

    # Pausing (by the station, which now holds it) comes too; then a cancel is its tombstone.
    station = auth_as("station_a")
    paused = step(client, station, case_id, "pause", {"note": "等待居民答复"})
    assert paused.status_code == 200, paused.get_json()
    tasks, gone, _pages, cursor = _drain(client, terminal, cursor)
    assert tasks[case_id]["paused"] is True and tasks[case_id]["pause_reason"] == "等待居民答复"
    cancelled = step(client, station, case_id, "cancel", {"note": "重复上报"})
    assert cancelled.status_code == 200, cancelled.get_json()
    tasks, gone, _pages, _cursor = _drain(client, terminal, cursor)
    assert case_id in gone and case_id not in tasks


def test_the_workers_own_steps_come_back_in_the_next_delta(cases, client, terminal, clean_app):
    case_id = new_case(clean_app, cases, "sanitation")
    cursor = _bundle(client, terminal).get_json()["next_cursor"]
    accepted = step(client, terminal, case_id, "accept")
    assert accepted.status_code == 200, accepted.get_json()
    tasks, _gone, _pages, cursor = _drain(client, terminal, cursor)
    assert (tasks[case_id]["status"], tasks[case_id]["version"]) == ("accepted", 2)
    settled = step(client, terminal, case_id, "settle", {"note": "已清理"})
    assert settled.status_code == 200, settled.get_json()
    tasks, gone, _pages, _cursor = _drain(client, terminal, cursor)
    assert tasks[case_id]["status"] == "settled" and case_id not in gone
    assert tasks[case_id]["overdue"] is False  # settled: its level's clock no longer runs


def test_an_edited_category_sends_the_list_again_and_an_old_cursor_gets_it_once(
    cases, client, auth_as, terminal
):
    body = _bundle(client, terminal).get_json()
    cursor = body["next_cursor"]
    url = f"/api/v1/case-categories/{cases.categories['parking']}"
    off = client.patch(url, json={"version": 1, "active": False}, headers=auth_as("admin"))
    assert off.status_code == 200, off.get_json()
    tag = _bundle(client, terminal, cursor).headers["ETag"]
    _tasks, _gone, pages, after = _drain(client, terminal, cursor)
    [listed] = [p["case_categories"] for p in pages if p["case_categories"] is not None]
    assert "parking" not in {c["code"] for c in listed} and "noise" in {c["code"] for c in listed}
    assert _bundle(client, terminal, after).get_json()["case_categories"] is None
    assert _bundle(client, terminal, after).headers["ETag"] != tag

    # A renamed category and a new one: the list again each time, with the change.
    renamed = client.patch(url, json={"version": 2, "name": "车辆乱停"}, headers=auth_as("admin"))
    assert renamed.status_code == 200, renamed.get_json()
    on = client.patch(url, json={"version": 3, "active": True}, headers=auth_as("admin"))
    assert on.status_code == 200, on.get_json()
    _tasks, _gone, pages, after = _drain(client, terminal, after)
    [listed] = [p["case_categories"] for p in pages if p["case_categories"] is not None]
    assert {c["code"]: c["name"] for c in listed}["parking"] == "车辆乱停"
    new = {"code": "stray_dogs", "name": "流浪犬只", "report_class": "everyday",
           "start_level": "community",
           "deadlines": {"community": {"amount": 2, "unit": "working_days"}}}  # fmt: skip
    added = client.post("/api/v1/case-categories", json=new, headers=auth_as("admin"))
    assert added.status_code == 201, added.get_json()
    _tasks, _gone, pages, after = _drain(client, terminal, after)
    [listed] = [p["case_categories"] for p in pages if p["case_categories"] is not None]
    assert "stray_dogs" in {c["code"] for c in listed}
    assert _bundle(client, terminal, after).get_json()["case_categories"] is None

    # A cursor given out before the categories were in the bundle (no "c"): the list once.
    raw = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    del raw["c"]
    old = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    again = _bundle(client, terminal, old).get_json()
    assert again["reset"] is False and again["case_categories"]
    assert _bundle(client, terminal, again["next_cursor"]).get_json()["case_categories"] is None


def test_the_terminal_takes_only_the_workers_steps_and_reads_the_history(
    cases, client, terminal, clean_app
):
    from gridserve.auth import WORKER_CASE_STEPS
    from gridserve.services.cases.ladder import STEP_ROLES

    assert set(WORKER_CASE_STEPS) == {s for s, roles in STEP_ROLES.items() if "worker" in roles}
    case_id = new_case(clean_app, cases, "noise")
    paused = step(client, terminal, case_id, "pause", {"note": "等待物业"})
    assert paused.status_code == 200 and paused.get_json()["paused_at"] is not None
    assert step(client, terminal, case_id, "resume").status_code == 200
    history = client.get(f"/api/v1/tasks/{case_id}/history", headers=terminal)
    assert history.status_code == 200
    assert [e["action"] for e in history.get_json()][-2:] == ["pause", "resume"]
    closed = step(client, terminal, case_id, "close", {"note": "x"})
    assert closed.status_code == 403
    assert closed.get_json()["error"]["code"] == "device_token_not_allowed"


def test_an_incremental_sync_with_nothing_new_reads_little(client, terminal, clean_app):
    """A regression guard on the terminals' most frequent request: the kinds with nothing after
    the cursor are checked in one statement and not read."""
    from sqlalchemy import event

    *_, cursor = _drain(client, terminal, None)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with clean_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        resp = _bundle(client, terminal, cursor)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["reset"] is False and body["more"] is False
    assert body["next_cursor"] == cursor and body["case_categories"] is None
    changes = ("places", "households", "tasks", "tombstones", "events", "sme_enterprises")
    assert all(body[key] == [] for key in changes)
    assert len(statements) <= 8, statements  # 4 of them the token look-up
