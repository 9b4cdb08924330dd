"""The handling steps of a case: who takes which step at which level, the full path from open to
closed and back, verification on site, stale versions."""

from __future__ import annotations

from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import AuditEntry
from tests.api.cases.ladder_helpers import (
    SPOT,
    code_of,
    new_case,
    step,
    stored,
    upload_photo,
)


def test_the_full_path_open_accepted_settled_verified_closed_and_reopen(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "roads_lights")  # needs verification, held at the cell
    worker, station = auth_as("worker_a"), auth_as("station_a")
    resp = step(client, worker, case, "accept", {"note": "马上去看"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "accepted"
    photo = upload_photo(client, worker)
    resp = step(client, worker, case, "settle", {"note": "已换灯泡", "attachments": [photo]})
    assert resp.status_code == 200 and resp.get_json()["status"] == "settled"
    # Needs a station's on-site verification first.
    resp = step(client, station, case, "close")
    assert resp.status_code == 409 and code_of(resp) == "verification_required"
    mine = upload_photo(client, station)  # a station account uploads the verification photo
    far = {"lon": SPOT[0] + 0.01, "lat": SPOT[1]}  # about 950 m east
    resp = step(client, station, case, "verify",
                {"note": "已核实", "location": far, "attachments": [mine]})  # fmt: skip
    assert resp.status_code == 422 and code_of(resp) == "too_far"
    assert resp.get_json()["error"]["details"]["distance_m"] > 100
    near = {"lon": SPOT[0] + 0.0005, "lat": SPOT[1]}  # about 50 m
    resp = step(client, station, case, "verify", {"note": "已核实", "location": near})
    assert resp.status_code == 422 and code_of(resp) == "photo_required"
    resp = step(client, station, case, "verify",
                {"note": "已核实", "location": near, "attachments": [mine]})  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["status"] == "verified"
    resp = step(client, station, case, "close", {"note": "办结"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"
    closed = stored(clean_app, case)
    assert closed.closed_level == "cell" and closed.closed_at is not None
    assert closed.settled_at is not None and closed.verified_at is not None
    # Closed is final except for reopen, which needs a reason.
    assert code_of(step(client, station, case, "accept")) == "invalid_transition"
    assert step(client, station, case, "reopen").status_code == 422
    resp = step(client, station, case, "reopen", {"note": "居民反映仍不亮"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "open"
    reopened = stored(clean_app, case)
    assert reopened.level == "cell" and reopened.closed_at is None
    assert reopened.level_started_at > closed.level_started_at
    history = client.get(f"/api/v1/tasks/{case}/history", headers=station).get_json()
    assert [e["action"] for e in history] == [
        "created", "accept", "settle", "verify", "close", "reopen"
    ]  # fmt: skip
    verify = history[3]
    assert verify["from_status"] == "settled" and verify["to_status"] == "verified"
    assert verify["location"] == near and verify["attachments"] == [mine]
    assert history[2]["attachments"] == [photo] and history[2]["note"] == "已换灯泡"
    assert all(e["from_level"] == "cell" for e in history[1:])
    # Who took each step, by name (the world's users have no full name: their username).
    assert {e["actor_name"] for e in history[1:]} <= {"station_a", "worker_a"}
    assert history[3]["actor_name"] == "station_a"
    # The detail carries the same history; every step was audited.
    detail = client.get(f"/api/v1/tasks/{case}", headers=station).get_json()
    assert detail["history"][-1]["action"] == "reopen"
    with clean_app.app_context():
        steps = db.session.scalars(
            select(AuditEntry.details)
            .where(AuditEntry.entity == "tasks", AuditEntry.entity_id == str(case))
            .order_by(AuditEntry.id)
        ).all()
        assert [d["step"] for d in steps if d and "step" in d] == [
            "accept", "settle", "verify", "close", "reopen"
        ]  # fmt: skip


def test_a_category_without_verification_closes_from_settled(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    worker, station = auth_as("worker_a"), auth_as("station_a")
    assert step(client, worker, case, "accept").status_code == 200
    assert step(client, worker, case, "settle").status_code == 422  # the result is required
    assert step(client, worker, case, "settle", {"note": "已劝导"}).status_code == 200
    resp = step(client, station, case, "close")
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"


def test_roles_are_refused_before_their_input_and_levels_after(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    url = f"/api/v1/tasks/{case}"
    # A role that may never take the step: 403, whatever the body.
    for who, name in [("worker_a", "close"), ("dept", "verify"), ("coordinator", "accept"),
                      ("station_a", "dispatch"), ("station_a", "supervise"),
                      ("centre", "verify"), ("worker_a", "cancel")]:  # fmt: skip
        resp = client.post(f"{url}/{name}", json={}, headers=auth_as(who))
        assert resp.status_code == 403, (who, name, resp.get_json())
        assert code_of(resp) == "forbidden_role"
    # A role that may, at a level that does not hold the case: 409 not_your_level.
    resp = step(client, auth_as("centre"), case, "accept")
    assert resp.status_code == 409 and code_of(resp) == "not_your_level"
    resp = step(client, auth_as("district"), case, "escalate", {"note": "x"})
    assert resp.status_code == 409 and code_of(resp) == "not_your_level"
    # Out of scope: as absent (another community's station, a department it was not sent to).
    assert step(client, auth_as("station_b"), case, "accept").status_code == 404
    assert step(client, auth_as("dept"), case, "accept").status_code == 404
    # A task has no ladder.
    task = new_case(clean_app, cases, kind="task")
    resp = step(client, auth_as("station_a"), task, "accept")
    assert resp.status_code == 409 and code_of(resp) == "not_a_case"
    # Bad input of an allowed role: 422 and nothing changed.
    resp = client.post(f"{url}/accept", json={"version": "x"}, headers=auth_as("worker_a"))
    assert resp.status_code == 422
    assert stored(clean_app, case).status == "open"


def test_a_stale_version_changes_nothing(client, auth_as, cases, clean_app) -> None:
    case = new_case(clean_app, cases, "noise")
    worker = auth_as("worker_a")
    first = stored(clean_app, case).version
    assert step(client, worker, case, "accept", v=first).status_code == 200
    resp = step(client, worker, case, "escalate", {"note": "太忙"}, v=first)
    assert resp.status_code == 409 and code_of(resp) == "stale_version"
    assert resp.get_json()["error"]["details"]["current_version"] == first + 1
    after = stored(clean_app, case)
    assert after.status == "accepted" and after.level == "cell" and after.escalations == 0


def test_the_station_acts_for_its_cells_and_cancels_with_a_reason(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "noise")
    station = auth_as("station_a")
    assert step(client, station, case, "accept").status_code == 200
    assert step(client, station, case, "cancel").status_code == 422
    resp = step(client, station, case, "cancel", {"note": "重复上报"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    assert stored(clean_app, case).closed_at is not None
    assert code_of(step(client, station, case, "reopen", {"note": "x"})) == "invalid_transition"


def test_verification_is_the_case_communitys_station_only(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "roads_lights", level="street")
    centre = auth_as("centre")
    assert step(client, centre, case, "accept").status_code == 200
    assert step(client, centre, case, "settle", {"note": "已修复"}).status_code == 200
    # A worker never verifies: 403 by role, before the input.
    assert step(client, auth_as("worker_a"), case, "verify", {}).status_code == 403
    photo = upload_photo(client, auth_as("station_b"))
    resp = step(client, auth_as("station_b"), case, "verify",
                {"note": "x", "location": {"lon": SPOT[0], "lat": SPOT[1]},
                 "attachments": [photo]})  # fmt: skip
    assert resp.status_code == 404  # another community's station does not see it
    # station_a cannot use a photo it cannot see (station_b's).
    resp = step(client, auth_as("station_a"), case, "verify",
                {"note": "x", "location": {"lon": SPOT[0], "lat": SPOT[1]},
                 "attachments": [photo]})  # fmt: skip
    assert resp.status_code == 422 and code_of(resp) == "unknown_attachment"
    mine = upload_photo(client, auth_as("station_a"))
    resp = step(client, auth_as("station_a"), case, "verify",
                {"note": "已核实", "location": {"lon": SPOT[0], "lat": SPOT[1]},
                 "attachments": [mine]})  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["status"] == "verified"
    # The street closes what it holds; the station may not close it there.
    assert code_of(step(client, auth_as("station_a"), case, "close")) == "not_your_level"
    resp = step(client, centre, case, "close")
    assert resp.status_code == 200 and stored(clean_app, case).closed_level == "street"
    # The verification photo is the community's: the street centre reads it too.
    assert client.get(f"/api/v1/attachments/{mine}", headers=centre).status_code == 200


def test_cancel_from_at_or_above_the_holding_level_and_banks_have_no_cases(
    client, auth_as, cases, clean_app
) -> None:
    at_cell = new_case(clean_app, cases, "noise")
    at_street = new_case(clean_app, cases, "noise", level="street")
    resp = step(client, auth_as("station_a"), at_street, "cancel", {"note": "x"})
    assert resp.status_code == 409 and code_of(resp) == "not_your_level"
    resp = step(client, auth_as("centre"), at_cell, "cancel", {"note": "已由街道统一处理"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"
    # An institution contact that is not a department's: cases are none of its business.
    for resp in (
        step(client, auth_as("bank"), at_street, "accept"),
        client.get(f"/api/v1/tasks/{at_street}/history", headers=auth_as("bank")),
        client.get("/api/v1/tasks", headers=auth_as("bank")),
    ):
        assert resp.status_code == 403 and code_of(resp) == "forbidden_role"
