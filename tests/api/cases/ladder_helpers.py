"""Making cases for the ladder's tests (until intake lands: create_task + the ladder's columns
set directly), and taking steps through the API."""

from __future__ import annotations

import hashlib
import uuid

from gridserve import audit
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import CaseCategory, Task
from gridserve.scope import OPERATOR
from gridserve.services.cases.basics import level_due_at
from gridserve.services.field import tasks as task_service
from gridserve.timeutil import local_today
from tests.conftest import TEST_ACTOR

# Inside community A (S1C1: lon 104–104.05, lat 30.4–30.5).
SPOT = (104.02, 30.45)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def new_case(
    app, cases, category: str = "noise", *, level: str | None = None, kind: str = "case"
) -> int:
    """A case of community A at ``SPOT`` held by worker_a, of ``category`` at ``level`` (the
    category's start level by default), its clock started now."""
    with app.app_context(), audit.acting_as(TEST_ACTOR), transaction():
        task = task_service.create_task(
            OPERATOR,
            {"kind": kind, "title": "路灯不亮", "location": {"lon": SPOT[0], "lat": SPOT[1]},
             "assigned_worker_id": cases.field.worker_id},
            local_today(),
        )  # fmt: skip
        if kind == "case":
            cat = db.session.get(CaseCategory, cases.categories[category])
            now = utcnow()
            task.category_id = cat.id
            task.level = level or cat.start_level
            task.level_started_at = now
            task.level_due_at = level_due_at(cat, task.level, now, task.area_id)
            task.needs_verification = cat.needs_verification
        db.session.flush()
        return task.id


def stored(app, task_id: int) -> Task:
    with app.app_context():
        task = db.session.get(Task, task_id)
        db.session.expunge(task)
        return task


def version(client, headers, task_id: int) -> int:
    resp = client.get(f"/api/v1/tasks/{task_id}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["version"]


def step(client, headers, task_id: int, name: str, body: dict | None = None, *, v=None):
    """POST the step ``name`` based on the case's current version (or ``v``)."""
    if v is None:
        with client.application.app_context():
            v = db.session.get(Task, task_id).version
    return client.post(
        f"/api/v1/tasks/{task_id}/{name}", json={"version": v, **(body or {})}, headers=headers
    )


def code_of(resp) -> str:
    return resp.get_json()["error"]["code"]


def upload_photo(client, headers) -> str:
    ident = str(uuid.uuid4())
    resp = client.put(
        f"/api/v1/attachments/{ident}",
        data=PNG,
        headers=headers
        | {"Content-Type": "image/png", "X-Content-SHA256": hashlib.sha256(PNG).hexdigest()},
    )
    assert resp.status_code == 201, resp.get_json()
    return ident
