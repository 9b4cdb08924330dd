"""Tasks as use cases, without HTTP: the version check and who may move a task where."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Task
from gridserve.scope import OPERATOR
from gridserve.services.accounts.auth import principal_for
from gridserve.services.accounts.users import find_by_username
from gridserve.services.field import tasks as task_service


def _as(username: str):
    return principal_for(find_by_username(username))


def _task(field, **data) -> Task:
    body = {"title": "走访独居老人", "area_id": field.world.community_a} | data
    return task_service.create_task(_as("station_a"), body, field.today)


def _move(principal, task: Task, **data) -> Task:
    version = task_service.get_task(principal, task.id).version
    return task_service.update_task(principal, task.id, {"version": version} | data)


def test_the_database_refuses_an_edit_based_on_a_version_that_moved_on(field, ctx):
    task = task_service.create_task(
        OPERATOR, {"title": "原样", "area_id": field.world.community_a}, field.today
    )
    # Another request commits version 2 after this one read version 1 (still in the session).
    db.session.execute(
        update(Task)
        .where(Task.id == task.id)
        .values(version=Task.version + 1, title="别人改的")
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict) as refused:
        task_service.update_task(OPERATOR, task.id, {"version": 1, "title": "晚了"})
    assert refused.value.code == "stale_version"
    db.session.expire_all()
    assert db.session.get(Task, task.id).title == "别人改的"


def test_the_worker_starts_then_finishes_with_a_note_and_cannot_skip_or_cancel(field, ctx):
    worker = _as("worker_a")
    task = _task(field, assigned_worker_id=field.worker_id)
    with pytest.raises(Conflict) as skipped:
        _move(worker, task, status="done", note="做完了")
    assert skipped.value.code == "invalid_transition"
    _move(worker, task, status="in_progress")
    with pytest.raises(Conflict) as cancelled:
        _move(worker, task, status="cancelled")
    assert cancelled.value.code == "invalid_transition"
    with pytest.raises(ValidationFailed) as silent:
        _move(worker, task, status="done")
    assert list(silent.value.details["fields"]) == ["note"]
    done = _move(worker, task, status="done", note="已上门，情况良好")
    assert done.status == "done" and done.closed_at is not None
    assert [e["action"] for e in task_service.history(done)][-2:] == ["status", "status"]


def test_the_station_may_close_an_open_task_at_once_and_a_closed_task_stays_closed(field, ctx):
    station = _as("station_a")
    task = _task(field)
    assert _move(station, task, status="cancelled").status == "cancelled"
    for change in ({"status": "open"}, {"title": "改名"}):
        with pytest.raises(Conflict) as final:
            _move(station, task, **change)
        assert final.value.code == "invalid_transition"


def test_handing_a_started_task_to_someone_else_puts_it_back_to_open(field, ctx):
    station = _as("station_a")
    task = _task(field, assigned_worker_id=field.worker_id)
    _move(_as("worker_a"), task, status="in_progress")
    handed = _move(station, task, assigned_worker_id=None)
    assert handed.status == "open" and handed.assigned_worker_id is None
