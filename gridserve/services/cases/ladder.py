"""The handling steps of a case (事件) on the escalation ladder: ``POST /tasks/{id}/{step}``.

Each step names the ``version`` the caller read and is ONE conditional
``UPDATE tasks ... WHERE id = :id AND version = :version AND status IN (:from)``
(:mod:`gridserve.versioning`): a stale version changes nothing (409 ``stale_version``), a
status that moved on neither (409 ``invalid_transition``). Every step leaves a
:class:`TaskEvent` (who, when, where — ``lon``/``lat`` when sent —, from/to status and level,
the department, photos) and an audit record. Only cases: a task is 409 ``not_a_case``.

Who holds a case (the level that acts on it):

- ``cell``: the worker holding it (their terminal or account: the case's assigned worker), and
  the station of the case's community (it acts for its cells);
- ``community``: the station of the case's community;
- ``street``: the street centre over it; ``district``: the district centre over it;
- dispatched (``department_id`` set): the department's contacts act on it as its holder for
  ``accept``, ``settle``, ``pause``, ``resume`` and ``return`` (back to the level that
  dispatched it); the dispatching level keeps the rest (close, escalate, …).
- admin acts everywhere.

A role that may never take a step is refused (403 ``forbidden_role``) before its input is read;
a role that may, acting on a case held at another level, gets 409 ``not_your_level``; a case
out of scope (a department: not dispatched to it; a worker: not theirs) is 404.

The steps (status before → after; the roles that may take them):

- ``accept`` open → accepted (holder: worker, station, centres, department);
- ``settle`` {note: the result, attachments: photos} accepted → settled (holder). A settled
  case waits for ``close``; where the category needs verification, for ``verify`` first;
- ``escalate`` {reason} open | accepted → open at the next level: ``level_started_at`` now,
  ``level_due_at`` from the category, ``escalations`` + 1, any department dispatch ended, the
  receiving office told (``case_escalated``); 409 ``top_level`` at the district (level
  holder: worker, station, centres). The deadline job writes the same event
  (:func:`escalate_case`);
- ``dispatch`` {department (code of an institution of kind department), due_at} open |
  accepted → open, held by the department (street or district centre holding it; 409
  ``not_your_level`` below the street); the department is told (``case_dispatched``);
- ``return`` {reason} open | accepted → open: a department sends it back to the level that
  dispatched it; a level holder above the cell sends it one level down (its clock restarted;
  409 ``cannot_return`` at the cell);
- ``verify`` {location, attachments (a photo), note} settled → verified: a station account of
  the case's community (admin too), standing within ``case_verify_distance_m`` of the case's
  point (422 ``too_far``), with at least one photo it can read — a station uploads its own
  with ``PUT /attachments/{uuid}`` (422 ``photo_required``, ``unknown_attachment``);
- ``close`` settled → closed (409 ``verification_required`` when the category needs it), or
  verified → closed: the level holder, station and above (a worker settles, the station
  closes); sets ``closed_at`` and ``closed_level``;
- ``reopen`` {reason} closed → open at the level that closed it, its clock restarted (holder
  of that level, station and above; :func:`reopen_case` for an unsatisfied rating): the one
  way back from ``closed``;
- ``cancel`` {reason} any open status → cancelled (station and above, at or above the level
  holding it);
- ``pause`` {reason} / ``resume`` (holder): paused time does not count — on resume the paused
  span is added to ``level_due_at`` and ``paused_seconds``; 409 ``already_paused`` /
  ``not_paused``. A paused case takes only ``resume``, ``cancel`` and ``supervise`` (409
  ``case_paused``);
- ``supervise`` {due_at} (督办): a street centre (on cases held at or below the street) or the
  district centre puts a case under supervision with its own due date; the
  office holding it is told (``case_supervised``);
- ``recategorise`` {category} (the one way to change a case's category; the level holder,
  station and above): the case moves to the new category's start level but never below the
  level it has reached, its clock restarts there with the new deadline, ``needs_verification``
  follows the new category; a new level's office is told (``case_escalated``).

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gridserve import audit
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import CASE_LEVELS, Attachment, CaseCategory, Institution, Task, TaskEvent
from gridserve.scope import Principal, visible
from gridserve.services.accounts.institutions import find_by_code
from gridserve.services.cases import notify
from gridserve.services.cases.basics import level_due_at, next_level
from gridserve.services.field.tasks import get_task
from gridserve.services.field.tasks import history as task_history
from gridserve.services.outreach.conflicts import metres_between
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq
from gridserve.versioning import check_version, refuse_stale, update_versioned

CENTRES = ("street_centre", "district_centre")
OFFICES = ("station", *CENTRES)
DEPARTMENT = "institution_contact"
# Who may ever take each step (admin always may): checked before any input.
STEP_ROLES: dict[str, tuple[str, ...]] = {
    "accept": ("worker", *OFFICES, DEPARTMENT),
    "settle": ("worker", *OFFICES, DEPARTMENT),
    "escalate": ("worker", *OFFICES),
    "dispatch": CENTRES,
    "return": (*OFFICES, DEPARTMENT),
    "verify": ("station",),
    "close": OFFICES,
    "reopen": OFFICES,
    "cancel": OFFICES,
    "pause": ("worker", *OFFICES, DEPARTMENT),
    "resume": ("worker", *OFFICES, DEPARTMENT),
    "supervise": CENTRES,
    "recategorise": OFFICES,
}
STEPS = tuple(STEP_ROLES)
# Who reads a case's history (a department: its dispatched cases).
READERS = ("worker", *OFFICES, DEPARTMENT)
# The levels each area role holds.
ROLE_LEVELS = {"worker": ("cell",), "station": ("cell", "community"),
               "street_centre": ("street",), "district_centre": ("district",)}  # fmt: skip
# Steps a department takes as the holder of a dispatched case.
DEPARTMENT_STEPS = frozenset({"accept", "settle", "pause", "resume", "return"})
RUNNING = ("open", "accepted")  # the level's clock runs
ALIVE = ("open", "accepted", "settled", "verified")
WHILE_PAUSED = frozenset({"resume", "cancel", "supervise"})
NOTE_MAX = 2000
STALE = "Someone changed this case since you read it; reload and try again."


# --- finding the case ------------------------------------------------------------------------


def get_case(principal: Principal, task_id: int) -> Task:
    """A case in the caller's scope (a worker: theirs; a department: dispatched to it), else
    404; a task in scope is 409 ``not_a_case``."""
    task = get_task(principal, task_id)
    if task.kind != "case":
        raise Conflict(
            "This is a task, not a case: it has no ladder.", code="not_a_case",
            details={"id": task.id, "kind": task.kind},
        )  # fmt: skip
    return task


def history(principal: Principal, task_id: int) -> list[dict[str, Any]]:
    """Every step of a case (or task), oldest first, with levels, department, where, photos."""
    return task_history(get_task(principal, task_id))


# --- who acts --------------------------------------------------------------------------------


def _holds_level(principal: Principal, task: Task, level: str | None) -> bool:
    """The caller holds ``level`` of ``task`` (scope is already checked by :func:`get_case`)."""
    if principal.role == "admin":
        return True
    if level not in ROLE_LEVELS.get(principal.role, ()):
        return False
    if principal.role == "station":
        return task.area_id == principal.area_id
    return True  # a worker's case is theirs; a centre sees only its subtree


def _is_department(principal: Principal, task: Task) -> bool:
    return (
        principal.role == DEPARTMENT
        and task.department_id is not None
        and task.department_id == principal.institution_id
    )


def _refuse_level(task: Task, step: str) -> None:
    raise Conflict(
        f"The case is held at the {task.level}"
        + (" and by a department" if task.department_id else "")
        + f"; you may not {step} it there.",
        code="not_your_level",
        details={"level": task.level, "department_id": task.department_id, "step": step},
    )


def _check_actor(principal: Principal, task: Task, step: str) -> None:
    """409 ``not_your_level`` unless the caller may take ``step`` where the case is held."""
    if principal.role == "admin":
        return
    if step == "verify":
        if not (principal.role == "station" and task.area_id == principal.area_id):
            _refuse_level(task, step)
        return
    if step in ("supervise", "cancel"):
        # At or above the level holding it (a station: its own community's cases).
        top = {"station": "community", "street_centre": "street", "district_centre": "district"}
        mine = top.get(principal.role)
        if mine is None or CASE_LEVELS.index(task.level or "cell") > CASE_LEVELS.index(mine):
            _refuse_level(task, step)
        if principal.role == "station" and task.area_id != principal.area_id:
            _refuse_level(task, step)
        return
    dispatched = task.department_id is not None
    if principal.role == DEPARTMENT:
        if step in DEPARTMENT_STEPS and _is_department(principal, task):
            return
        _refuse_level(task, step)
    level = task.closed_level if step == "reopen" and task.closed_level else task.level
    if dispatched and step in DEPARTMENT_STEPS - {"return"}:
        _refuse_level(task, step)  # the department holds it for these
    if not _holds_level(principal, task, level):
        _refuse_level(task, step)


# --- writing one step ------------------------------------------------------------------------


def _refuse_status(task: Task, step: str, allowed: tuple[str, ...]) -> None:
    raise Conflict(
        f"A case that is {task.status} cannot take the step {step}.",
        code="invalid_transition",
        details={"status": task.status, "step": step, "from": list(allowed)},
    )


def _apply(
    principal: Principal | None,
    task: Task,
    step: str,
    based_on: int | None,
    allowed: tuple[str, ...],
    values: dict[str, Any],
    *,
    note: str = "",
    location: dict[str, float] | None = None,
    attachments: list[str] | None = None,
    department_id: int | None = None,
) -> Task:
    """Write ``values`` with one conditional UPDATE (version and status), then the event and
    the audit record. ``principal`` None: the system (the deadline job)."""
    if based_on is not None:
        check_version(STALE, expected=based_on, current=task.version)
    if task.status not in allowed:
        _refuse_status(task, step, allowed)
    old = {"status": task.status, "level": task.level, "department_id": task.department_id}
    seq = next_seq()
    now = values.pop("_now", None) or utcnow()
    new_version = update_versioned(
        Task,
        based_on,
        Task.id == task.id,
        Task.status.in_(allowed),
        **values,
        change_seq=seq,
        updated_at=now,
    )
    if new_version is None:
        db.session.expire(task)
        if based_on is not None and task.version != based_on:
            refuse_stale(STALE, expected=based_on, current=task.version)
        _refuse_status(task, step, allowed)
    db.session.expire(task)
    db.session.add(
        TaskEvent(
            task_id=task.id,
            action=step,
            from_status=old["status"],
            to_status=task.status,
            from_worker_id=task.assigned_worker_id,
            to_worker_id=task.assigned_worker_id,
            from_level=old["level"],
            to_level=task.level,
            department_id=department_id if department_id is not None else task.department_id,
            lon=location["lon"] if location else None,
            lat=location["lat"] if location else None,
            attachments=list(attachments) if attachments else None,
            note=note,
            actor_id=(principal.user_id or None) if principal is not None else None,
            change_seq=seq,
            at=now,
        )
    )
    db.session.flush()
    audit.record(
        "update",
        "tasks",
        task.id,
        {
            "step": step,
            "fields": sorted(values),
            "status": [old["status"], task.status],
            "level": [old["level"], task.level],
            "version": [new_version - 1, new_version],
        },
    )
    return task


def _due(task: Task, category_id: int | None, level: str, at: dt.datetime) -> dt.datetime | None:
    category = db.session.get(CaseCategory, category_id) if category_id is not None else None
    return level_due_at(category, level, at, task.area_id)


def _restart(task: Task, level: str, at: dt.datetime, category_id: int | None = None) -> dict:
    """The values that put ``task`` at ``level`` with its clock started ``at``."""
    return {
        "level": level,
        "level_started_at": at,
        "level_due_at": _due(task, category_id or task.category_id, level, at),
    }


def _need(data: dict[str, Any], field: str, message: str) -> Any:
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(message, details={"fields": {field: ["Required."]}})
    return value


def _photos(principal: Principal, uuids: list[str], *, required: bool) -> list[str]:
    """Attachments the caller can see, photos only (422 ``unknown_attachment`` otherwise)."""
    if required and not uuids:
        raise ValidationFailed(
            "Send a photo.", code="photo_required",
            details={"fields": {"attachments": ["At least one photo."]}},
        )  # fmt: skip
    if not uuids:
        return []
    found = set(
        db.session.scalars(
            visible(Attachment, principal)
            .where(Attachment.uuid.in_(uuids), Attachment.content_type.like("image/%"))
            .with_only_columns(Attachment.uuid)
        )
    )
    missing = [u for u in uuids if u not in found]
    if missing:
        raise ValidationFailed(
            "Upload the photos first (PUT /attachments/{uuid}).", code="unknown_attachment",
            details={"fields": {"attachments": missing}},
        )  # fmt: skip
    return list(uuids)


# --- the steps -------------------------------------------------------------------------------


def escalate_case(
    principal: Principal | None,
    task: Task,
    based_on: int | None,
    reason: str,
    *,
    location: dict[str, float] | None = None,
    attachments: list[str] | None = None,
) -> Task:
    """Move a case up one level (the escalate step, and what the deadline job does in bulk):
    status back to open at the next level, its clock restarted now, escalations + 1, any
    dispatch ended, the event ``escalate`` (from/to level, the reason) and the receiving
    office told (``case_escalated``). 409 ``top_level`` at the district. ``principal`` None:
    the system (the deadline job), which passes the version it read as ``based_on`` so that of
    two schedulers racing one escalates and the other gets 409 ``stale_version`` (nothing
    written)."""
    new_level = next_level(task.level or "cell")
    if new_level is None:
        raise Conflict(
            "The district is the top of the ladder.", code="top_level",
            details={"level": task.level},
        )  # fmt: skip
    now = utcnow()
    values = {
        **_restart(task, new_level, now),
        "status": "open",
        "escalations": Task.escalations + 1,
        "department_id": None,
        "dispatch_due_at": None,
        "_now": now,
    }
    _apply(principal, task, "escalate", based_on, RUNNING, values, note=reason,
           location=location, attachments=attachments)  # fmt: skip
    notify.tell(
        task, "case_escalated", f"事件上报（{task.title}）：{reason}", level=new_level,
        actor_id=(principal.user_id or None) if principal else None,
    )  # fmt: skip
    return task


def take_step(principal: Principal, task_id: int, step: str, data: dict[str, Any]) -> Task:
    """Take ``step`` on case ``task_id`` with ``data`` (``version``, ``note``, ``location``,
    ``attachments`` and the step's own fields); see the module docstring for the rules."""
    if step not in STEP_ROLES:
        raise NotFound(f"No step {step}.")
    principal.require(*STEP_ROLES[step])
    task = get_case(principal, task_id)
    _check_actor(principal, task, step)
    based_on = data["version"]
    check_version(STALE, expected=based_on, current=task.version)
    if task.paused_at is not None and step not in WHILE_PAUSED and step != "pause":
        raise Conflict("The case is paused; resume it first.", code="case_paused",
                       details={"paused_at": task.paused_at.isoformat()})  # fmt: skip
    note = (data.get("note") or "").strip()
    extra = {
        "note": note,
        "location": data.get("location"),
        "attachments": list(data.get("attachments") or []) or None,
    }
    now = utcnow()
    handler = _HANDLERS[step]
    return handler(principal, task, based_on, data, note, extra, now)


def _accept(principal, task, v, data, note, extra, now):
    return _apply(principal, task, "accept", v, ("open",), {"status": "accepted"}, **extra)


def _settle(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say how it was settled.")
    extra["attachments"] = _photos(principal, extra["attachments"] or [], required=False) or None
    values = {"status": "settled", "settled_at": now, "note": note}
    return _apply(principal, task, "settle", v, ("accepted",), values, **extra)


def _escalate(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say why it goes up (the reason).")
    return escalate_case(principal, task, v, note, location=extra["location"],
                         attachments=extra["attachments"])  # fmt: skip


def _dispatch(principal, task, v, data, note, extra, now):
    if task.level not in ("street", "district"):
        _refuse_level(task, "dispatch")
    code = _need(data, "department", "Name the department (its code).")
    due_at = _need(data, "due_at", "Give the department a due date.")
    dept = find_by_code(code)
    if dept is None or dept.kind != "department":
        raise ValidationFailed(
            "No department with this code.", code="unknown_department",
            details={"fields": {"department": [f"No department {code}."]}},
        )  # fmt: skip
    if due_at <= now:
        raise ValidationFailed(
            "The due date has passed.", details={"fields": {"due_at": ["Must be in the future."]}}
        )
    values = {"status": "open", "department_id": dept.id, "dispatch_due_at": due_at}
    _apply(principal, task, "dispatch", v, RUNNING, values, **extra)
    notify.tell(task, "case_dispatched", f"交办事件（{task.title}）：{note or task.title}",
                department_id=dept.id, actor_id=principal.user_id or None)  # fmt: skip
    return task


def _return(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say why it goes back (the reason).")
    if task.department_id is not None and (
        _is_department(principal, task) or principal.role == "admin"
    ):
        values = {"status": "open", "department_id": None, "dispatch_due_at": None}
        return _apply(principal, task, "return", v, RUNNING, values,
                      department_id=task.department_id, **extra)  # fmt: skip
    if principal.role == DEPARTMENT:
        _refuse_level(task, "return")
    index = CASE_LEVELS.index(task.level or "cell")
    if index == 0:
        raise Conflict("A case in the cell has no level below.", code="cannot_return",
                       details={"level": task.level})  # fmt: skip
    values = {**_restart(task, CASE_LEVELS[index - 1], now), "status": "open",
              "department_id": None, "dispatch_due_at": None}  # fmt: skip
    return _apply(principal, task, "return", v, RUNNING, values, **extra)


def _verify(principal, task, v, data, note, extra, now):
    location = _need(data, "location", "Say where you stand (lon, lat).")
    _need(data, "note", "Say what you found.")
    extra["attachments"] = _photos(principal, extra["attachments"] or [], required=True)
    if task.geom is not None:
        here = to_shapely(task.geom)
        metres = metres_between((here.x, here.y), (location["lon"], location["lat"]))
        limit = settings().case_verify_distance_m
        if metres > limit:
            raise ValidationFailed(
                f"You are {metres:.0f} m from the case; verify on site (within {limit:.0f} m).",
                code="too_far",
                details={"distance_m": round(metres, 1), "limit_m": limit},
            )
    values = {"status": "verified", "verified_at": now}
    return _apply(principal, task, "verify", v, ("settled",), values, **extra)


def _close(principal, task, v, data, note, extra, now):
    if task.status == "settled" and task.needs_verification:
        raise Conflict(
            "This category needs a station's on-site verification before closing.",
            code="verification_required", details={"status": task.status},
        )  # fmt: skip
    allowed = ("verified",) if task.needs_verification else ("settled", "verified")
    values = {"status": "closed", "closed_at": now, "closed_level": task.level,
              "paused_at": None}  # fmt: skip
    return _apply(principal, task, "close", v, allowed, values, **extra)


def reopen_case(
    principal: Principal | None, task: Task, based_on: int | None, reason: str, **extra: Any
) -> Task:
    """Reopen a closed case at the level that closed it, its clock restarted there (the reopen
    step, and an unsatisfied rating): the one way back from ``closed``. ``principal`` None: the
    system; ``based_on``: the version read (a lost race is 409 ``stale_version``)."""
    level = task.closed_level or task.level or "cell"
    now = utcnow()
    values = {**_restart(task, level, now), "status": "open", "closed_at": None,
              "settled_at": None, "verified_at": None, "department_id": None,
              "dispatch_due_at": None, "_now": now}  # fmt: skip
    return _apply(principal, task, "reopen", based_on, ("closed",), values, note=reason, **extra)


def _reopen(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say why it is reopened.")
    extra.pop("note")
    return reopen_case(principal, task, v, note, **extra)


def _cancel(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say why it is cancelled.")
    values = {"status": "cancelled", "closed_at": now, "closed_level": task.level,
              "paused_at": None}  # fmt: skip
    return _apply(principal, task, "cancel", v, ALIVE, values, **extra)


def _pause(principal, task, v, data, note, extra, now):
    _need(data, "note", "Say what the case waits for (the reason).")
    if task.paused_at is not None:
        raise Conflict("The case is already paused.", code="already_paused",
                       details={"paused_at": task.paused_at.isoformat()})  # fmt: skip
    values = {"paused_at": now, "pause_reason": note}
    return _apply(principal, task, "pause", v, RUNNING, values, **extra)


def _resume(principal, task, v, data, note, extra, now):
    if task.paused_at is None:
        raise Conflict("The case is not paused.", code="not_paused", details={})
    span = now - task.paused_at
    values: dict[str, Any] = {
        "paused_at": None,
        "pause_reason": "",
        "paused_seconds": Task.paused_seconds + int(span.total_seconds()),
    }
    if task.level_due_at is not None:
        values["level_due_at"] = task.level_due_at + span
    return _apply(principal, task, "resume", v, RUNNING, values, **extra)


def _supervise(principal, task, v, data, note, extra, now):
    due_at = _need(data, "due_at", "Give the supervision a due date.")
    if due_at <= now:
        raise ValidationFailed(
            "The due date has passed.", details={"fields": {"due_at": ["Must be in the future."]}}
        )
    values = {"supervised_at": now, "supervised_by": principal.user_id or None,
              "supervision_due_at": due_at}  # fmt: skip
    _apply(principal, task, "supervise", v, ALIVE, values, **extra)
    notify.tell(task, "case_supervised", f"督办事件（{task.title}）：{note or '请按期办结'}",
                level=task.level or "cell", actor_id=principal.user_id or None)  # fmt: skip
    return task


def _recategorise(principal, task, v, data, note, extra, now):
    code = _need(data, "category", "Name the new category (its code).")
    category = db.session.scalar(
        select(CaseCategory).where(CaseCategory.code == code, CaseCategory.active.is_(True))
    )
    if category is None:
        raise ValidationFailed(
            "No active category with this code.", code="unknown_category",
            details={"fields": {"category": [f"No category {code}."]}},
        )  # fmt: skip
    if category.id == task.category_id:
        raise Conflict("The case already has this category.", code="same_category",
                       details={"category": code})  # fmt: skip
    reached = CASE_LEVELS.index(task.level or "cell")
    level = CASE_LEVELS[max(reached, CASE_LEVELS.index(category.start_level))]
    moved = level != task.level
    values = {**_restart(task, level, now, category.id), "category_id": category.id,
              "needs_verification": category.needs_verification}  # fmt: skip
    if moved:
        values |= {"department_id": None, "dispatch_due_at": None}
    text = note or f"类别改为{category.name}"
    _apply(principal, task, "recategorise", v, ALIVE, values, **{**extra, "note": text})
    if moved:
        notify.tell(task, "case_escalated", f"事件改类（{task.title}）：{text}", level=level,
                    actor_id=principal.user_id or None)  # fmt: skip
    return task


_HANDLERS = {
    "accept": _accept,
    "settle": _settle,
    "escalate": _escalate,
    "dispatch": _dispatch,
    "return": _return,
    "verify": _verify,
    "close": _close,
    "reopen": _reopen,
    "cancel": _cancel,
    "pause": _pause,
    "resume": _resume,
    "supervise": _supervise,
    "recategorise": _recategorise,
}


def department_of(task: Task) -> Institution | None:
    """The department a case is dispatched to, if any."""
    return db.session.get(Institution, task.department_id) if task.department_id else None
