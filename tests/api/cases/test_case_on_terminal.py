"""A worker's terminal keeps the case it holds through the ladder's steps (accepted, settled)
and loses it, by a tombstone, when the case is closed."""

from __future__ import annotations

from tests.api.cases.ladder_helpers import new_case, step


def _drain(client, terminal, cursor):
    """Every page after ``cursor``: (tasks by id, tombstoned task ids, the last cursor)."""
    tasks, gone = {}, set()
    while True:
        resp = client.get(f"/api/v1/sync/bundle?since={cursor}", headers=terminal)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        tasks.update({t["id"]: t for t in body["tasks"]})
        gone |= {t["id"] for t in body["tombstones"] if t["entity"] == "task"}
        cursor = body["next_cursor"]
        if not (body["tasks"] or body["tombstones"]):
            return tasks, gone, cursor


def test_the_terminal_keeps_its_case_until_it_is_closed(
    cases, clean_app, client, auth_as, terminal
) -> None:
    case_id = new_case(clean_app, cases, "noise")  # held by worker_a, at the cell
    full = client.get("/api/v1/sync/bundle", headers=terminal).get_json()
    assert case_id in {t["id"] for t in full["tasks"]}
    cursor = full["next_cursor"]
    while full.get("has_more"):
        full = client.get(f"/api/v1/sync/bundle?since={cursor}", headers=terminal).get_json()
        cursor = full["next_cursor"]

    station = auth_as("station_a")
    assert step(client, station, case_id, "accept").status_code == 200
    tasks, gone, cursor = _drain(client, terminal, cursor)
    assert tasks[case_id]["status"] == "accepted" and case_id not in gone

    settled = step(client, station, case_id, "settle", {"note": "已修复"})
    assert settled.status_code == 200, settled.get_json()
    tasks, gone, cursor = _drain(client, terminal, cursor)
    assert tasks[case_id]["status"] == "settled" and case_id not in gone

    closed = step(client, station, case_id, "close", {"note": "已办结"})
    assert closed.status_code == 200, closed.get_json()
    tasks, gone, _ = _drain(client, terminal, cursor)
    assert case_id in gone and case_id not in tasks
