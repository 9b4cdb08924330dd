"""The ladder's routing steps: escalation through every level with notices, dispatch to a
department and back, pausing (time travel), re-routing by category, supervision."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from gridserve.errors import Conflict
from gridserve.extensions import db
from gridserve.models import CaseCategory, OutreachNotice, Task
from gridserve.services.cases import ladder
from gridserve.services.cases.basics import level_due_at
from tests.api.cases.ladder_helpers import code_of, new_case, step, stored
from tests.clock import at_local, move_to, shift


def _notices(app, case: int) -> list[tuple[str, int | None, int | None]]:
    with app.app_context():
        return [
            (n.reason, n.area_id, n.institution_id)
            for n in db.session.scalars(
                select(OutreachNotice).where(OutreachNotice.task_id == case)
                .order_by(OutreachNotice.id)
            )
        ]  # fmt: skip


def test_escalation_climbs_every_level_and_tells_each_office(
    client, auth_as, cases, clean_app
) -> None:
    world = cases.field.world
    case = new_case(clean_app, cases, "noise")
    worker = auth_as("worker_a")
    assert step(client, worker, case, "accept").status_code == 200
    assert step(client, worker, case, "escalate").status_code == 422  # a reason is required
    resp = step(client, worker, case, "escalate", {"note": "需社区协调"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "open"
    assert (resp.get_json()["level"], resp.get_json()["escalations"]) == ("community", 1)
    at_community = stored(clean_app, case)
    assert at_community.level == "community" and at_community.escalations == 1
    with clean_app.app_context():
        noise = db.session.get(CaseCategory, cases.categories["noise"])
        assert at_community.level_due_at == level_due_at(
            noise, "community", at_community.level_started_at, world.community_a
        )
    # The worker holds the cell only now.
    assert code_of(step(client, worker, case, "accept")) == "not_your_level"
    assert (
        step(client, auth_as("station_a"), case, "escalate", {"note": "社区无法解决"}).status_code
        == 200
    )
    assert (
        step(client, auth_as("centre"), case, "escalate", {"note": "需区级协调"}).status_code == 200
    )
    top = stored(clean_app, case)
    assert top.level == "district" and top.escalations == 3
    resp = step(client, auth_as("district"), case, "escalate", {"note": "再上报"})
    assert resp.status_code == 409 and code_of(resp) == "top_level"
    assert _notices(clean_app, case) == [
        ("case_escalated", world.community_a, None),
        ("case_escalated", world.street, None),
        ("case_escalated", world.district, None),
    ]
    history = client.get(f"/api/v1/tasks/{case}/history", headers=auth_as("district")).get_json()
    ups = [
        (e["from_level"], e["to_level"], e["note"]) for e in history if e["action"] == "escalate"
    ]
    assert ups == [("cell", "community", "需社区协调"), ("community", "street", "社区无法解决"),
                   ("street", "district", "需区级协调")]  # fmt: skip


def test_dispatch_to_a_department_which_alone_sees_and_acts_on_it_and_returns_it(
    client, auth_as, cases, clean_app
) -> None:
    case = new_case(clean_app, cases, "illegal_building", level="street")
    below = new_case(clean_app, cases, "noise")  # at the cell
    centre, dept, dept2 = auth_as("centre"), auth_as("dept"), auth_as("dept2")
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    # Only the street or district dispatches, and only what is held there.
    assert step(client, auth_as("station_a"), below, "dispatch", {}).status_code == 403
    resp = step(client, centre, below, "dispatch", {"department": "CGJ", "due_at": due})
    assert code_of(resp) == "not_your_level"
    resp = step(client, centre, case, "dispatch", {"department": "NOPE", "due_at": due})
    assert resp.status_code == 422 and code_of(resp) == "unknown_department"
    resp = step(client, centre, case, "dispatch", {"department": "CGJ"})
    assert resp.status_code == 422
    assert client.get(f"/api/v1/tasks/{case}", headers=dept).status_code == 404
    resp = step(client, centre, case, "dispatch", {"department": "CGJ", "due_at": due,
                                                   "note": "请城管局处理"})  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    sent = stored(clean_app, case)
    assert sent.department_id == cases.departments["CGJ"] and sent.dispatch_due_at is not None
    assert ("case_dispatched", None, cases.departments["CGJ"]) in _notices(clean_app, case)
    # The department sees exactly this case; the other department nothing.
    assert client.get(f"/api/v1/tasks/{case}", headers=dept).status_code == 200
    listed = client.get("/api/v1/tasks?kind=case", headers=dept).get_json()
    assert [t["id"] for t in listed] == [case]
    assert client.get(f"/api/v1/tasks/{case}", headers=dept2).status_code == 404
    assert step(client, dept2, case, "accept").status_code == 404
    assert step(client, dept, below, "accept").status_code == 404
    # The department holds it for accept and settle; the street does not while dispatched.
    assert code_of(step(client, centre, case, "accept")) == "not_your_level"
    assert step(client, dept, case, "accept").status_code == 200
    assert step(client, dept, case, "close").status_code == 403  # a department never closes
    assert code_of(step(client, dept, case, "escalate", {"note": "x"})) == "forbidden_role"
    assert step(client, dept, case, "return").status_code == 422  # with a reason
    resp = step(client, dept, case, "return", {"note": "不属于本局职责"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "open"
    back = stored(clean_app, case)
    assert back.department_id is None and back.level == "street"
    assert client.get(f"/api/v1/tasks/{case}", headers=dept).status_code == 404
    history = client.get(f"/api/v1/tasks/{case}/history", headers=centre).get_json()
    assert [(e["action"], e["department_id"]) for e in history[1:]] == [
        ("dispatch", cases.departments["CGJ"]), ("accept", cases.departments["CGJ"]),
        ("return", cases.departments["CGJ"]),
    ]  # fmt: skip
    # The street sends it one level down; the cell has none below.
    resp = step(client, centre, case, "return", {"note": "社区可解决"})
    assert resp.status_code == 200 and stored(clean_app, case).level == "community"
    resp = step(client, auth_as("station_a"), below, "return", {"note": "x"})
    assert resp.status_code == 409 and code_of(resp) == "cannot_return"


def test_paused_time_does_not_count(client, auth_as, cases, clean_app) -> None:
    day = cases.field.today + dt.timedelta(days=1)
    move_to(at_local(day, dt.time(10, 0)), tick=False)
    case = new_case(clean_app, cases, "noise")
    worker = auth_as("worker_a")
    due = stored(clean_app, case).level_due_at
    assert code_of(step(client, worker, case, "resume")) == "not_paused"
    assert step(client, worker, case, "pause").status_code == 422  # why it waits
    assert step(client, worker, case, "pause", {"note": "等待居民在家"}).status_code == 200
    assert code_of(step(client, worker, case, "pause", {"note": "x"})) == "already_paused"
    assert code_of(step(client, worker, case, "accept")) == "case_paused"
    shift(dt.timedelta(hours=5))
    resp = step(client, worker, case, "resume", {"note": "居民已回"})
    assert resp.status_code == 200
    after = stored(clean_app, case)
    assert after.level_due_at == due + dt.timedelta(hours=5)
    assert after.paused_seconds == 5 * 3600 and after.paused_at is None
    assert step(client, worker, case, "accept").status_code == 200


def test_a_new_category_reroutes_never_below_the_level_reached(
    client, auth_as, cases, clean_app
) -> None:
    world = cases.field.world
    case = new_case(clean_app, cases, "noise")
    station = auth_as("station_a")
    assert step(client, auth_as("worker_a"), case, "recategorise", {}).status_code == 403
    resp = step(client, station, case, "recategorise", {"category": "nope"})
    assert resp.status_code == 422 and code_of(resp) == "unknown_category"
    resp = step(client, station, case, "recategorise", {"category": "safety_hazard"})
    assert resp.status_code == 200, resp.get_json()
    moved = stored(clean_app, case)
    assert moved.level == "street" and moved.needs_verification
    assert moved.category_id == cases.categories["safety_hazard"]
    assert ("case_escalated", world.street, None) in _notices(clean_app, case)
    # Back to an everyday category: it stays at the street it reached, a new deadline there.
    resp = step(client, auth_as("centre"), case, "recategorise", {"category": "noise"})
    assert resp.status_code == 200
    kept = stored(clean_app, case)
    assert kept.level == "street" and not kept.needs_verification
    with clean_app.app_context():
        noise = db.session.get(CaseCategory, cases.categories["noise"])
        assert kept.level_due_at == level_due_at(
            noise, "street", kept.level_started_at, world.community_a
        )
    history = client.get(f"/api/v1/tasks/{case}/history", headers=auth_as("centre")).get_json()
    assert [(e["action"], e["from_level"], e["to_level"]) for e in history[1:]] == [
        ("recategorise", "cell", "street"), ("recategorise", "street", "street")
    ]  # fmt: skip


def test_the_street_supervises_with_its_own_due_date(client, auth_as, cases, clean_app) -> None:
    world = cases.field.world
    case = new_case(clean_app, cases, "illegal_building")  # held at the community
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    assert step(client, auth_as("station_a"), case, "supervise", {}).status_code == 403
    assert step(client, auth_as("centre"), case, "supervise", {}).status_code == 422
    resp = step(client, auth_as("centre"), case, "supervise",
                {"due_at": due.isoformat(), "note": "请三日内办结"})  # fmt: skip
    assert resp.status_code == 200
    supervised = stored(clean_app, case)
    assert supervised.supervised_at is not None and supervised.supervision_due_at == due
    assert ("case_supervised", world.community_a, None) in _notices(clean_app, case)
    # The district supervises what the street holds; the street not what the district holds.
    top = new_case(clean_app, cases, "noise", level="district")
    resp = step(client, auth_as("centre"), top, "supervise", {"due_at": due.isoformat()})
    assert code_of(resp) == "not_your_level"
    assert (
        step(client, auth_as("district"), top, "supervise", {"due_at": due.isoformat()}).status_code
        == 200
    )


def test_the_system_escalates_once_per_version_read(cases, clean_app, ctx) -> None:
    case = new_case(clean_app, cases, "noise")
    task = db.session.get(Task, case)
    read = task.version
    ladder.escalate_case(None, task, read, "超时未处理")
    with pytest.raises(Conflict) as lost:  # a second scheduler that read the same version
        ladder.escalate_case(None, db.session.get(Task, case), read, "超时未处理")
    assert lost.value.code == "stale_version"
    task = db.session.get(Task, case)
    assert task.level == "community" and task.escalations == 1
