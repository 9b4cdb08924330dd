"""Tasks and cases: work given to a worker, and problems reported from the field.

Rules:

- A task hangs on a community (its ``area_id``): stations see their own
  community's, centres their subtree's (:mod:`gridserve.scope`). A worker sees
  only the tasks assigned to them, and anything else is as absent as a task
  out of scope (404).
- The station and above make tasks and cases, in their scope, optionally at a
  place (then the task takes the place's community and current cell) and
  assigned to an active worker of that community.
- A worker's terminal reports cases (``kind=case``) from the field: the case is
  assigned to the reporter, placed by the place it names or by the location it
  sends (the cell in force there), and its ``source`` is ``terminal``.
- Status: ``open`` → ``in_progress`` → ``done``; the station may also cancel,
  close directly or put back to ``open``. ``done`` and ``cancelled`` are
  final: nothing changes after them (409 ``invalid_transition``). The assigned
  worker may move their own task ``open → in_progress → done`` (with a note
  when done), add notes, and nothing else: no reassigning (403 ``cannot_reassign``).
- A case (``kind=case``) never changes status or category by an edit: it moves on the
  ladder only by its steps ``POST /tasks/{id}/{step}`` (:mod:`gridserve.services.cases.ladder`)
  and changes category only by ``recategorise`` (which re-routes it). An edit naming another
  status, or any category, is 422 ``use_case_steps`` (the field named, the step endpoint in
  ``details``); the same status as the case's is no change. Title, details, priority, due
  date, the assigned worker (station and above) and the note (its worker too) stay editable
  while the case is not closed or cancelled; a handover keeps the case's status.
- Edits are optimistic: a change names the version it was based on and is one
  conditional ``UPDATE ... WHERE version = :v``; a stale one changes nothing
  (409 ``stale_version``).
- Every write takes a change number (:func:`gridserve.sync.next_seq`) and adds a
  :class:`TaskEvent`. A worker's terminal carries the tasks assigned to them
  while open or in progress; the events that take a task away from a worker
  (closed, handed to someone else, unassigned) are their tombstones.

No Flask request in here and no commits: the request (or job) boundary commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, case, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from gridserve import audit, crypto
from gridserve.db import utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    ALL_FINAL_STATUSES,
    TASK_CARRIED_STATUSES,
    TASK_FINAL_STATUSES,
    Area,
    CaseCategory,
    GridCell,
    Institution,
    Place,
    Task,
    TaskEvent,
    User,
    Worker,
)
from gridserve.pagination import apply_sort
from gridserve.privacy import mask_name, mask_phone
from gridserve.scope import Principal, get_visible, in_area, visible
from gridserve.services.cases.lists import apply_case_filters
from gridserve.services.field.workers import worker_for_user
from gridserve.services.geography.areas import community_at
from gridserve.spatial import intersects, point, to_shapely
from gridserve.sync import next_seq
from gridserve.versioning import check_version, refuse_stale, update_versioned

# Who may read tasks at all; admins always pass.
# (A department's contacts read exactly the cases dispatched to them: gridserve.scope.)
READERS = ("worker", "station", "street_centre", "district_centre", "institution_contact")
# Who may make, assign, edit and close any task in scope.
MANAGERS = ("station", "street_centre", "district_centre")
# Who makes tasks and cases: the managers, and workers (cases, from their terminal).
CREATORS = ("worker", *MANAGERS)

TITLE_MAX = 200
DETAILS_MAX = 4000
NOTE_MAX = 2000

# Status changes, by who makes them. Final statuses have no way out.
WORKER_STEPS = {("open", "in_progress"), ("in_progress", "done")}
MANAGER_STEPS = {
    ("open", "in_progress"),
    ("open", "done"),
    ("open", "cancelled"),
    ("in_progress", "open"),
    ("in_progress", "done"),
    ("in_progress", "cancelled"),
}
# Fields only the station and above may change.
MANAGER_FIELDS = ("title", "details", "priority", "due_at")

_PRIORITY_RANK = case({"low": 0, "normal": 1, "high": 2, "urgent": 3}, value=Task.priority, else_=1)
SORTABLE = {
    "id": Task.id,
    "created_at": Task.created_at,
    "updated_at": Task.updated_at,
    "due_at": Task.due_at,
    "priority": _PRIORITY_RANK,
    "status": Task.status,
    "title": Task.title,
}


# --- who is asking -------------------------------------------------------------------------


def _own_worker(principal: Principal) -> Worker:
    """The caller's active worker record (a worker without one may not use tasks: 403)."""
    worker = worker_for_user(principal.user_id)
    if worker is None:
        raise Forbidden("This account has no worker record.", code="not_a_worker")
    if worker.status != "active":
        raise Forbidden(f"This worker is {worker.status}.", code="worker_not_active")
    return worker


def _user_id(principal: Principal) -> int | None:
    """The acting user for foreign keys (the shell operator is nobody's row)."""
    return principal.user_id or None


def require_department(principal: Principal) -> None:
    """403 ``forbidden_role`` unless the contact's institution is a department (banks and
    other institutions have nothing to do with tasks)."""
    inst = db.session.get(Institution, principal.institution_id or -1)
    if inst is None or inst.kind != "department":
        raise Forbidden(
            "Only a department's contacts see cases (those dispatched to them).",
            code="forbidden_role",
            details={"role": principal.role, "allowed": ["department contacts"]},
        )


def _visible_tasks(principal: Principal) -> Select:
    """Tasks in scope; a worker's are only those assigned to them."""
    principal.require(*READERS)
    if principal.role == "institution_contact":
        require_department(principal)
    stmt = visible(Task, principal)
    if principal.role == "worker":
        mine = worker_for_user(principal.user_id)
        stmt = stmt.where(Task.assigned_worker_id == (mine.id if mine else -1))
    return stmt


# --- reading -------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def serialize(task: Task) -> dict[str, Any]:
    """A task as a JSON-ready dict (the API's and the terminal's view)."""
    return {
        "id": task.id,
        "kind": task.kind,
        "title": task.title,
        "details": task.details,
        "place_id": task.place_id,
        "cell_id": task.cell_id,
        "cell_code": task.cell_code,
        "area_id": task.area_id,
        "location": _location(task),
        "assigned_worker_id": task.assigned_worker_id,
        "status": task.status,
        "priority": task.priority,
        "source": task.source,
        "due_at": _iso(task.due_at),
        "note": task.note,
        "created_by": task.created_by,
        "closed_at": _iso(task.closed_at),
        "version": task.version,
        "change_seq": task.change_seq,
        "uuid": task.uuid,
        "attachments": list(task.attachments or []),
        "observed_at": _iso(task.observed_at),
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
    }


def _location(task: Task) -> dict[str, Any] | None:
    """``{lon, lat}`` (and ``accuracy_m`` when reported) of a task with a point, else None."""
    if task.geom is None:
        return None
    where = to_shapely(task.geom)
    point = {"lon": where.x, "lat": where.y}
    if task.accuracy_m is not None:
        point["accuracy_m"] = task.accuracy_m
    return point


def present(tasks: list[Task]) -> list[Task]:
    """``tasks`` ready for their schema: ``location`` (see :func:`_location`), a case's
    ``category`` code, ``paused`` and its ``reporter`` masked (as every list shows it)."""
    ids = {t.category_id for t in tasks if t.category_id is not None}
    codes = dict(
        db.session.execute(
            select(CaseCategory.id, CaseCategory.code).where(CaseCategory.id.in_(ids))
        ).all()
    ) if ids else {}  # fmt: skip
    for task in tasks:
        task.location = _location(task)  # type: ignore[attr-defined]
        task.category = codes.get(task.category_id)  # type: ignore[attr-defined]
        task.paused = task.paused_at is not None  # type: ignore[attr-defined]
        task.reporter = reporter_shown(task, unmasked=False)  # type: ignore[attr-defined]
    return tasks


def reporter_shown(task: Task, *, unmasked: bool) -> dict[str, Any] | None:
    """A case's reporter as a reader sees it: name and phone in clear, or masked like a
    household's (``138****5678``); None when nobody is recorded."""
    if not task.reporter_name and task.reporter_phone_enc is None:
        return None
    phone = crypto.decrypt(task.reporter_phone_enc) if task.reporter_phone_enc else None
    name = task.reporter_name or None
    return {
        "name": name if unmasked else mask_name(name),
        "phone": phone if unmasked else mask_phone(phone),
        "consent": task.callback_consent,
        "masked": not unmasked,
    }


def can_unmask_reporter(principal: Principal, task: Task) -> bool:
    """The station and above of the case's area (it is in their scope) read the reporter in
    clear; workers and departments see it masked."""
    return principal.role in ("admin", *MANAGERS) and task.reporter_phone_enc is not None


def history(task: Task) -> list[dict[str, Any]]:
    """The task's steps, oldest first (a case's with levels, department, where, photos), each
    with who took it (``actor_name``: their full name, else username; None for the scheduler)."""
    rows = db.session.execute(
        select(TaskEvent, User.full_name, User.username)
        .outerjoin(User, User.id == TaskEvent.actor_id)
        .where(TaskEvent.task_id == task.id)
        .order_by(TaskEvent.id)
    ).all()
    return [
        {
            "action": e.action,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "from_worker_id": e.from_worker_id,
            "to_worker_id": e.to_worker_id,
            "from_level": e.from_level,
            "to_level": e.to_level,
            "department_id": e.department_id,
            "location": None if e.lon is None else {"lon": e.lon, "lat": e.lat},
            "attachments": list(e.attachments or []),
            "note": e.note,
            "actor_id": e.actor_id,
            # Staff act under their names; no actor: the scheduler (the deadline job).
            "actor_name": (full_name or username) if e.actor_id is not None else None,
            "at": e.at.isoformat(),
        }
        for e, full_name, username in rows
    ]


def present_detail(task: Task, principal: Principal | None = None) -> Task:
    """``task`` ready for its detail schema: :func:`present`, and its :func:`history`. For
    ``principal`` allowed to (:func:`can_unmask_reporter`), the reporter in clear — audited."""
    present([task])
    task.history = history(task)  # type: ignore[attr-defined]
    if principal is not None and can_unmask_reporter(principal, task):
        task.reporter = reporter_shown(task, unmasked=True)  # type: ignore[attr-defined]
        audit.record("case_reporter_read", "tasks", task.id, {"fields": ["reporter_phone"]})
    return task


def list_tasks(
    principal: Principal,
    *,
    status: str | None = None,
    kind: str | None = None,
    worker_id: int | None = None,
    area_id: int | None = None,
    sort: str | None = None,
    **case_filters: Any,
) -> Select:
    """Tasks in the caller's scope (a worker: their own), filtered and sorted; the case
    filters (``category``, ``level``, ``department``, ``overdue``, ``supervised``, ``paused``,
    ``source``) are :func:`gridserve.services.cases.lists.apply_case_filters`'s."""
    stmt = _visible_tasks(principal)
    if status:
        stmt = stmt.where(Task.status == status)
    if kind:
        stmt = stmt.where(Task.kind == kind)
    if worker_id is not None:
        stmt = stmt.where(Task.assigned_worker_id == worker_id)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(Task.area_id, area))
    stmt = apply_case_filters(stmt, case_filters)
    return apply_sort(stmt, sort, SORTABLE, "-created_at", Task.id.desc())


def get_task(principal: Principal, task_id: int) -> Task:
    """One task, or 404 if it is absent, out of scope or (for a worker) not theirs."""
    task = db.session.execute(
        _visible_tasks(principal).where(Task.id == task_id)
    ).scalar_one_or_none()
    if task is None:
        raise NotFound(f"No task {task_id}.")
    return task


# --- where a task is -----------------------------------------------------------------------


def _cell_at(community_id: int, lon: float, lat: float, on: dt.date) -> GridCell | None:
    return db.session.execute(
        select(GridCell)
        .where(
            GridCell.community_id == community_id,
            GridCell.in_force_on(on),
            intersects(GridCell.geom, point(lon, lat)),
        )
        .order_by(GridCell.id)
        .limit(1)
    ).scalar_one_or_none()


def _cell_code(cell_id: int | None) -> str | None:
    if cell_id is None:
        return None
    return db.session.execute(select(GridCell.code).where(GridCell.id == cell_id)).scalar()


def _whereabouts(principal: Principal, data: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Community, place, cell and point of a new task, from place, location or area.

    A place (404 out of scope) gives all four; a location gives the community
    and the cell in force containing it (422 ``outside_coverage`` outside every
    community in scope); an area must be a community. A worker's tasks are in
    their own community whatever they send.
    """
    where: dict[str, Any] = {"place_id": None, "cell_id": None, "cell_code": None, "geom": None}
    place_id, location, area_id = data.get("place_id"), data.get("location"), data.get("area_id")
    if place_id is not None:
        place = get_visible(Place, place_id, principal)
        p = to_shapely(place.geom)
        where |= {
            "place_id": place.id,
            "area_id": place.area_id,
            "cell_id": place.cell_id,
            "cell_code": _cell_code(place.cell_id),
            "geom": point(float(location["lon"]), float(location["lat"]))
            if location
            else point(p.x, p.y),
        }
    elif location is not None:
        lon, lat = float(location["lon"]), float(location["lat"])
        community = community_at(lon, lat, principal)
        if community is None:
            raise ValidationFailed(
                "The location is outside every community you can see.",
                code="outside_coverage",
                details={"fields": {"location": ["Outside your communities."]}},
            )
        cell = _cell_at(community.id, lon, lat, today)
        where |= {
            "area_id": community.id,
            "cell_id": cell.id if cell else None,
            "cell_code": cell.code if cell else None,
            "geom": point(lon, lat),
        }
    elif area_id is not None:
        area = get_visible(Area, area_id, principal)
        if area.level != "community":
            raise ValidationFailed(
                "A task belongs to a community.",
                details={"fields": {"area_id": [f"{area.code} is a {area.level}."]}},
            )
        where["area_id"] = area.id
    elif principal.role == "worker":
        where["area_id"] = _own_worker(principal).area_id
    else:
        raise ValidationFailed(
            "Say where the task is.",
            details={"fields": {"place_id": ["Give place_id, location or area_id."]}},
        )
    if area_id is not None and where["area_id"] != area_id:
        raise ValidationFailed(
            "The place or location is in another community.",
            details={"fields": {"area_id": [f"The place is in community {where['area_id']}."]}},
        )
    return where


def _assignable(principal: Principal, worker_id: int, area_id: int) -> Worker:
    """An active worker of the task's community, in the caller's scope."""
    worker = db.session.execute(
        visible(Worker, principal).where(Worker.id == worker_id)
    ).scalar_one_or_none()
    if worker is None:
        raise ValidationFailed(
            "Assign the task to a worker of your scope.",
            details={"fields": {"assigned_worker_id": [f"No worker {worker_id} in your scope."]}},
        )
    if worker.area_id != area_id:
        raise ValidationFailed(
            "The worker works in another community.",
            details={"fields": {"assigned_worker_id": ["Not a worker of the task's community."]}},
        )
    if worker.status != "active":
        raise Conflict(f"{worker.full_name} is {worker.status}.", code="worker_not_active")
    return worker


# --- writing -------------------------------------------------------------------------------


def _event(task: Task, action: str, seq: int, principal: Principal, **values: Any) -> None:
    db.session.add(
        TaskEvent(
            task_id=task.id,
            action=action,
            actor_id=_user_id(principal),
            change_seq=seq,
            **values,
        )
    )


def create_task(principal: Principal, data: dict[str, Any], today: dt.date) -> Task:
    """Make a task or case; see :func:`create_task_once` (this drops whether it was new)."""
    return create_task_once(principal, data, today)[0]


def create_task_once(
    principal: Principal,
    data: dict[str, Any],
    today: dt.date,
    *,
    source: str | None = None,
    ladder: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    note: str = "",
) -> tuple[Task, bool]:
    """Make a task or case (station and above), or report a case from a terminal; with the
    client's ``uuid``, at most once: ``(task, True)`` when made now, ``(stored, False)`` for a
    repeat of the same request by the same user.

    404 for a place out of scope; 422 for a bad place/area/location or an
    unknown worker; 409 ``worker_not_active``; 409 ``uuid_taken`` when the UUID holds a
    different task (other content, or someone else's). A worker may only report cases
    (403 ``forbidden_role`` for ``kind=task``), which are assigned to them
    (403 ``cannot_reassign`` for anyone else). The unique key on ``tasks.uuid`` decides
    between two requests racing with one UUID.

    Case intake (:mod:`gridserve.services.cases.intake`) names the ``source`` of a station's
    case (walk_in, phone, open311) and passes ``ladder``: given where the case is (community,
    cell, ...), the case's further columns (category, level, clocks, reporter, and the
    ``assigned_worker_id`` holding the cell when the station named nobody), and may give the
    ``created`` event a ``note`` (what the intake was told, e.g. an Open311 address).
    """
    principal.require(*CREATORS)
    if principal.role == "worker":
        worker = _own_worker(principal)
        kind = data.get("kind") or "case"
        if kind != "case":
            raise Forbidden(
                "Workers report cases; tasks are given by the station.",
                code="forbidden_role",
                details={"role": principal.role, "kind": kind},
            )
        assigned = data.get("assigned_worker_id", worker.id)
        if assigned != worker.id:
            raise Forbidden("A worker's case is assigned to them.", code="cannot_reassign")
        source = "terminal"
    else:
        principal.require(*MANAGERS)
        kind = data.get("kind") or "task"
        assigned = data.get("assigned_worker_id")
        source = source or "station"
    uuid = data.get("uuid")
    digest = content_hash(data, kind, assigned) if uuid else None
    if uuid:
        stored = _by_uuid(uuid)
        if stored is not None:
            return _same(stored, digest, principal), False
    where = _whereabouts(principal, data, today)
    if source == "station" and assigned is not None:
        assigned = _assignable(principal, assigned, where["area_id"]).id
    extra = ladder(where) if ladder is not None else {}
    if source != "terminal" and "assigned_worker_id" in extra and assigned is None:
        assigned = extra.pop("assigned_worker_id")
    extra.pop("assigned_worker_id", None)
    location = data.get("location") or {}
    seq = next_seq()
    task = Task(
        kind=kind,
        title=data["title"],
        details=data.get("details") or "",
        assigned_worker_id=assigned,
        status="open",
        priority=data.get("priority") or "normal",
        source=source,
        due_at=data.get("due_at"),
        note="",
        created_by=_user_id(principal),
        version=1,
        change_seq=seq,
        uuid=uuid,
        content_hash=digest,
        attachments=list(data.get("attachments") or []) or None,
        observed_at=data.get("observed_at"),
        accuracy_m=location.get("accuracy_m"),
        **where,
        **extra,
    )
    if uuid:
        try:
            with db.session.begin_nested():  # only the new row: a lost race rolls back to here
                db.session.add(task)
        except IntegrityError:
            stored = _by_uuid(uuid)
            if stored is None:
                raise
            return _same(stored, digest, principal), False
    else:
        db.session.add(task)
    db.session.flush()
    _event(task, "created", seq, principal, to_status="open", to_worker_id=assigned,
           to_level=task.level, note=note)  # fmt: skip
    db.session.flush()
    return task, True


# --- the client's UUID: once per UUID --------------------------------------------------------


def content_hash(data: dict[str, Any], kind: str, assigned: int | None) -> str:
    """What a create request sent, canonically: a retry hashes the same, whichever way it came
    (``POST /tasks`` or a terminal's upload)."""
    location = data.get("location")
    body = {
        "kind": kind,
        "title": data.get("title"),
        "details": data.get("details") or "",
        "place_id": data.get("place_id"),
        "location": None
        if not location
        else {
            "lon": float(location["lon"]),
            "lat": float(location["lat"]),
            "accuracy_m": None
            if location.get("accuracy_m") is None
            else float(location["accuracy_m"]),
        },
        "area_id": data.get("area_id"),
        "priority": data.get("priority") or "normal",
        "due_at": _iso(data.get("due_at")),
        "assigned_worker_id": assigned,
        "attachments": [str(a) for a in data.get("attachments") or []],
        "observed_at": _iso(data.get("observed_at")),
    }
    for key in ("category", "source", "reporter", "address"):  # case intake; absent: as before
        if data.get(key) is not None:
            body[key] = data[key]
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def by_uuid(uuid: str) -> Task | None:
    """The task stored under the client's ``uuid``, if any."""
    return _by_uuid(uuid)


def _by_uuid(uuid: str) -> Task | None:
    return db.session.execute(select(Task).where(Task.uuid == uuid)).scalar_one_or_none()


def _same(stored: Task, digest: str | None, principal: Principal) -> Task:
    """The stored task when it is this caller's same request, else 409 ``uuid_taken``."""
    if stored.content_hash == digest and stored.created_by == _user_id(principal):
        return stored
    raise Conflict(
        "A different task is stored under this UUID; it is kept.",
        code="uuid_taken",
        details={"uuid": stored.uuid},
    )


STALE_TASK = "Someone changed this task since you read it; reload and try again."

# The step that takes a case to each status (POST /tasks/{id}/{step}); ``open`` is reached by
# escalate, return or reopen, so it names no single step.
CASE_STEP_TO = {"accepted": "accept", "settled": "settle", "verified": "verify",
                "closed": "close", "cancelled": "cancel"}  # fmt: skip
CASE_STEPS = ("accept", "settle", "escalate", "dispatch", "return", "verify", "close", "reopen",
              "cancel", "pause", "resume", "supervise", "recategorise")  # fmt: skip


def _refuse_case_moves(task: Task, data: dict[str, Any]) -> None:
    """A case moves on the ladder only by its steps, and changes category only by
    ``recategorise``: PATCH refuses a ``status`` other than the case's own and any
    ``category`` with 422 ``use_case_steps``, naming the field and the step endpoint(s)."""
    if "category" in data:
        raise ValidationFailed(
            "A case changes category only by its recategorise step (it is re-routed): "
            f"POST /api/v1/tasks/{task.id}/recategorise.",
            code="use_case_steps",
            details={
                "fields": {"category": ["Use POST /tasks/{id}/recategorise."]},
                "step": "recategorise",
                "endpoint": f"/api/v1/tasks/{task.id}/recategorise",
            },
        )
    wanted = data.get("status")
    if wanted is None or wanted == task.status:
        return
    step = CASE_STEP_TO.get(wanted)
    if wanted == "open":
        step = "reopen" if task.status == "closed" else None
    where = f"POST /api/v1/tasks/{task.id}/{step or '{step}'}"
    raise ValidationFailed(
        f"A case moves only by its steps: {where} ({', '.join(CASE_STEPS)}), not by PATCH.",
        code="use_case_steps",
        details={
            "fields": {"status": ["Use the case's steps: POST /tasks/{id}/{step}."]},
            "status": task.status,
            "to": wanted,
            "step": step,
            "endpoint": f"/api/v1/tasks/{task.id}/{step}" if step else None,
            "steps": list(CASE_STEPS),
        },
    )


def update_task(principal: Principal, task_id: int, data: dict[str, Any]) -> Task:
    """Change a task, based on the version the caller last saw.

    One conditional ``UPDATE ... WHERE id = :id AND version = :version``: if
    someone changed it since, nothing changes (409 ``stale_version``). A
    handover of an ``in_progress`` task puts it back to ``open`` unless the
    change names a status.
    """
    task = get_task(principal, task_id)
    worker = _own_worker(principal) if principal.role == "worker" else None
    if worker is None:
        principal.require(*MANAGERS)
    else:
        if "assigned_worker_id" in data and data["assigned_worker_id"] != worker.id:
            raise Forbidden("Only the station hands tasks over.", code="cannot_reassign")
        barred = [k for k in MANAGER_FIELDS if k in data]
        if barred:
            raise Forbidden(
                "The assigned worker may change the status and add a note, nothing else.",
                code="forbidden_field",
                details={"fields": barred},
            )
    if task.kind == "case":
        _refuse_case_moves(task, data)
    elif "category" in data:
        raise ValidationFailed(
            "A task has no category; only cases do.",
            details={"fields": {"category": ["Tasks have no category."]}},
        )
    based_on = data["version"]
    check_version(STALE_TASK, expected=based_on, current=task.version)
    if task.status in ALL_FINAL_STATUSES:
        raise Conflict(
            f"The task is {task.status}; it cannot change any more.",
            code="invalid_transition",
            details={"status": task.status, "to": data.get("status")},
        )

    values: dict[str, Any] = {}
    for key in (*MANAGER_FIELDS, "note"):
        if key in data and data[key] != getattr(task, key):
            values[key] = data[key]
    old_worker, new_worker = task.assigned_worker_id, task.assigned_worker_id
    new_status = data.get("status") or task.status
    if worker is None and "assigned_worker_id" in data and data["assigned_worker_id"] != old_worker:
        new_worker = data["assigned_worker_id"]
        if new_worker is not None:
            new_worker = _assignable(principal, new_worker, task.area_id).id
        values["assigned_worker_id"] = new_worker
        if "status" not in data and task.status == "in_progress" and task.kind == "task":
            new_status = "open"  # the new holder has not started it
    if new_status != task.status:
        steps = WORKER_STEPS if worker is not None else MANAGER_STEPS
        if (task.status, new_status) not in steps:
            raise Conflict(
                f"A task cannot go from {task.status} to {new_status}"
                + (" by its worker." if worker is not None else "."),
                code="invalid_transition",
                details={"status": task.status, "to": new_status},
            )
        if worker is not None and new_status == "done" and not (data.get("note") or "").strip():
            raise ValidationFailed(
                "Say what was done.",
                details={"fields": {"note": ["Required when you mark the task done."]}},
            )
        values["status"] = new_status
        values["closed_at"] = utcnow() if new_status in TASK_FINAL_STATUSES else None
    if not values:
        return task  # nothing to change: no new version, nothing for terminals

    seq = next_seq()
    new_version = update_versioned(
        Task, based_on, Task.id == task.id, **values, change_seq=seq, updated_at=utcnow()
    )
    if new_version is None:
        db.session.expire(task)
        refuse_stale(STALE_TASK, expected=based_on, current=task.version)
    old_status = task.status
    db.session.expire(task)
    action = (
        "assigned"
        if new_worker != old_worker
        else "status"
        if new_status != old_status
        else "edited"
    )
    _event(
        task,
        action,
        seq,
        principal,
        from_status=old_status,
        to_status=new_status,
        from_worker_id=old_worker,
        to_worker_id=new_worker,
        from_level=task.level,
        to_level=task.level,
        note=data.get("note") or "",
    )
    db.session.flush()
    # A core UPDATE bypasses the flush-time audit listener: record the write here.
    audit.record(
        "update",
        "tasks",
        task.id,
        {
            "fields": sorted(k for k in values if k != "closed_at"),
            "version": [based_on, based_on + 1],
        },
    )
    return task


# --- what a worker's terminal carries ------------------------------------------------------


def carried_by(worker_id: int) -> ColumnElement[bool]:
    """The tasks a worker's terminal holds: assigned to them, a task until done, a case until
    closed."""
    return (Task.assigned_worker_id == worker_id) & Task.status.in_(TASK_CARRIED_STATUSES)


def dropped_by(worker_id: int) -> ColumnElement[bool]:
    """The task events that take a task away from a worker's terminal (its tombstones)."""
    return (TaskEvent.from_worker_id == worker_id) & or_(
        TaskEvent.to_worker_id.is_(None),
        TaskEvent.to_worker_id != worker_id,
        TaskEvent.to_status.in_(ALL_FINAL_STATUSES),
    )
