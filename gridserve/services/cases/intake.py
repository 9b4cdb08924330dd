"""Case intake: every way a case comes in (a terminal, the station's desk, a walk-in or phone
call, the public through Open311) goes through :func:`receive`; duplicates are offered and merged.

Rules:

- A case has a category (``category``, a code). It may be left out by old clients (``POST
  /tasks`` with ``kind=case`` from the station's desk, a terminal's ``POST /tasks`` or upload
  item without it): the case is then filed under ``other`` (:data:`FALLBACK`). A walk-in or
  phone intake must name one whenever any category is active (422 ``validation_error``). An
  unknown code is 422 ``unknown_category``, a deactivated one 422 ``category_inactive``. With
  no category at all in the deployment a case is still made, at the cell level, without
  deadlines.
- Placement: by ``place_id`` (the place's community and cell) or ``location`` (the community
  of the deployment containing the point — 422 ``outside_area`` when none holds it; a
  community out of the caller's scope is 422 ``outside_coverage``), the cell in force there
  that day and the worker holding that cell that day (``assigned_worker_id``; nobody when the
  cell is vacant, unless the station names a worker). A terminal's case stays with the worker
  who reported it (their terminal carries it).
- The ladder: the category's start level; ``to_street_at_once`` puts the case at the street
  and the street centre is told at once (``notify.tell(..., "case_urgent", level="street")``).
  The level's clock starts now and is due by the category's deadline for that level;
  ``needs_verification`` comes from the category.
- The reporter (station intake, Open311): name, phone and consent to be called back. The
  phone is normalised, encrypted at rest and hashed like the SMS numbers (the E.164 form of a
  mobile); answers mask it except for the station and above of the case's area, whose reads
  are audited (:func:`gridserve.services.field.tasks.present_detail`). Consent needs a phone.
- Once per client ``uuid`` (as :func:`create_task_once`).
- An ``address`` given with the case (Open311's ``address_string``) is kept as the note of its
  ``created`` event (``地址：…``), read back by :func:`given_address`.
- Duplicates: an open case (not closed or cancelled) of the same category within
  ``case_duplicate_m`` metres and ``case_duplicate_hours`` hours of a new one is offered
  (:func:`duplicates`); the new case is stored all the same. :func:`merge` closes a duplicate
  as cancelled pointing at the case kept; the kept case's :func:`reporters` include every
  merged case's.

No Flask request in here and no commits: the request boundary commits.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import func, select

from gridserve import audit, crypto
from gridserve.config import settings
from gridserve.db import utcnow
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import CASE_FINAL_STATUSES, CaseCategory, Task, TaskEvent
from gridserve.scope import Principal
from gridserve.services.cases import basics, notify
from gridserve.services.cases import categories as category_service
from gridserve.services.field import tasks as task_service
from gridserve.services.field.households import normalise_phone
from gridserve.services.field.workers import assigned_worker
from gridserve.services.geography.areas import community_at
from gridserve.services.sms import numbers as sms_numbers
from gridserve.sms import phones
from gridserve.spatial import to_shapely
from gridserve.sync import next_seq
from gridserve.versioning import check_version, refuse_stale, update_versioned

FALLBACK = "other"
DESK_SOURCES = ("station", "walk_in", "phone")  # what the station's desk takes
# Who merges duplicates: the station and above of the case's area.
MERGERS = task_service.MANAGERS
STALE_CASE = "Someone changed this case since you read it; reload and try again."
# The address the reporter gave (Open311's address_string) is kept as the note of the case's
# ``created`` event: written once, shown in its history.
ADDRESS_NOTE = "地址："
ADDRESS_MAX = 500


# --- the category --------------------------------------------------------------------------


def _category(data: dict[str, Any], source: str) -> CaseCategory | None:
    """The case's category by code (see the module's rules); None when the deployment has
    none and none was named."""
    code = data.get("category")
    if code is None:
        if source in ("walk_in", "phone") and category_service.any_active():
            raise ValidationFailed(
                "Say what the case is about.",
                details={"fields": {"category": ["Required for a walk-in or phone case."]}},
            )
        fallback = category_service.find(FALLBACK)
        if fallback is not None and fallback.active:
            return fallback
        if category_service.any_active():
            raise ValidationFailed(
                "Say what the case is about.",
                details={"fields": {"category": ["Required: a category code."]}},
            )
        return None
    category = category_service.find(code)
    if category is None:
        raise ValidationFailed(
            f"No case category {code}.",
            code="unknown_category",
            details={"fields": {"category": [f"No category {code}."]}},
        )
    if not category.active:
        raise ValidationFailed(
            f"The category {code} takes no new cases.",
            code="category_inactive",
            details={"fields": {"category": [f"{code} is inactive."]}},
        )
    return category


# --- the reporter --------------------------------------------------------------------------


def _reporter(data: dict[str, Any]) -> dict[str, Any]:
    """The reporter's columns: name, the phone encrypted and hashed, consent."""
    given = data.get("reporter") or {}
    name = (given.get("name") or "").strip()
    raw = (given.get("phone") or "").strip()
    consent = bool(given.get("consent"))
    values: dict[str, Any] = {"reporter_name": name, "callback_consent": consent}
    if raw:
        try:
            phone = normalise_phone(raw)
        except ValueError as exc:
            raise ValidationFailed(
                "The reporter's phone is not valid.",
                details={"fields": {"reporter.phone": [str(exc)]}},
            ) from None
        values["reporter_phone_enc"] = crypto.encrypt(phone)
        values["reporter_phone_hash"] = sms_numbers.hasher()(e164(phone))
    elif consent:
        raise ValidationFailed(
            "A reporter who wants to be called back leaves a phone number.",
            details={"fields": {"reporter.phone": ["Required with consent."]}},
        )
    return values


def e164(phone: str) -> str:
    """A mobile as the SMS tables hold it (E.164); a landline as stored: what a reporter's
    ``reporter_phone_hash`` is made of."""
    try:
        return phones.to_e164(phone)
    except ValueError:
        return phone


def merged_ids(task_id: int) -> list[int]:
    """``task_id`` and every case merged into it (and into those), in that order."""
    ids, frontier = [task_id], [task_id]
    while frontier:
        frontier = list(
            db.session.scalars(select(Task.id).where(Task.duplicate_of_id.in_(frontier)))
        )
        frontier = [i for i in frontier if i not in ids]
        ids += frontier
    return ids


def reporters(task: Task) -> list[tuple[str, str]]:
    """Whom to text about ``task``: ``(name, phone)`` of each consenting reporter with a
    phone, of the case and of every case merged into it (and into those), each number once;
    mobiles in E.164."""
    ids = merged_ids(task.id)
    rows = db.session.execute(
        select(Task.reporter_name, Task.reporter_phone_enc)
        .where(Task.id.in_(ids), Task.callback_consent, Task.reporter_phone_enc.is_not(None))
        .order_by(Task.id)
    ).all()
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, enc in rows:
        phone = e164(crypto.decrypt(enc) or "")
        if phone and phone not in seen:
            seen.add(phone)
            out.append((name, phone))
    return out


# --- receiving -----------------------------------------------------------------------------


def receive(
    principal: Principal, data: dict[str, Any], today: dt.date, *, source: str
) -> tuple[Task, bool]:
    """Take in a case (see the module's rules): ``(task, True)`` when made now, ``(stored,
    False)`` for a repeat of the same ``uuid`` by the same caller. ``source``: terminal,
    station, walk_in, phone or open311. The new case's ``duplicates`` (:func:`duplicates`)
    are put on it for the answer."""
    principal.require(*task_service.READERS)
    if principal.role != "worker":
        principal.require(*task_service.MANAGERS)
    data = {**data, "kind": "case"}
    if data.get("uuid") and task_service.by_uuid(data["uuid"]) is not None:
        return task_service.create_task_once(principal, data, today)  # the same, or 409
    category = _category(data, source)
    location = data.get("location") if data.get("place_id") is None else None
    if (
        location is not None
        and community_at(float(location["lon"]), float(location["lat"])) is None
    ):
        raise ValidationFailed(
            "The location is outside every community of this deployment.",
            code="outside_area",
            details={"fields": {"location": ["Outside every community."]}},
        )
    reporter = _reporter(data)
    now = utcnow()

    def ladder(where: dict[str, Any]) -> dict[str, Any]:
        level = "street" if category and category.to_street_at_once else (
            category.start_level if category else "cell"
        )  # fmt: skip
        holder = assigned_worker(where["cell_code"], today) if where.get("cell_code") else None
        return {
            "category_id": category.id if category else None,
            "level": level,
            "level_started_at": now,
            "level_due_at": basics.level_due_at(category, level, now, where["area_id"]),
            "needs_verification": bool(category and category.needs_verification),
            "assigned_worker_id": holder.id if holder else None,
            **reporter,
        }

    address = str(data.get("address") or "").strip()[:ADDRESS_MAX]
    task, created = task_service.create_task_once(
        principal, data, today, source=source, ladder=ladder,
        note=f"{ADDRESS_NOTE}{address}" if address else "",
    )  # fmt: skip
    if created and category is not None and category.to_street_at_once:
        notify.tell(
            task,
            "case_urgent",
            f"【{category.name}】{task.title}（事件{task.id}）请街道立即处置",
            level="street",
            actor_id=principal.user_id or None,
        )
    if created:
        task.duplicates = duplicates(task)  # type: ignore[attr-defined]
    return task, created


def given_address(task_id: int) -> str:
    """The address given when case ``task_id`` was taken in (Open311's ``address_string``),
    else ""."""
    note = db.session.scalar(
        select(TaskEvent.note)
        .where(TaskEvent.task_id == task_id, TaskEvent.action == "created")
        .order_by(TaskEvent.id)
        .limit(1)
    )
    return address_in(note)


def address_in(note: str | None) -> str:
    """The address in a ``created`` event's note, else ""."""
    return note.removeprefix(ADDRESS_NOTE).strip() if note and note.startswith(ADDRESS_NOTE) else ""


# --- duplicates ----------------------------------------------------------------------------


def _metres(a: Any, b: Any) -> float:
    """Great-circle distance between two lon/lat points, metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


def duplicates(task: Task) -> list[dict[str, Any]]:
    """Open cases of ``task``'s category made within ``case_duplicate_hours`` before it and
    ``case_duplicate_m`` metres of it, nearest first: ``{id, title, distance_m,
    created_at}``."""
    if task.category_id is None or task.geom is None:
        return []
    conf = settings()
    since = task.created_at - dt.timedelta(hours=conf.case_duplicate_hours)
    here = to_shapely(task.geom)
    stmt = select(Task).where(
        Task.kind == "case",
        Task.category_id == task.category_id,
        Task.id != task.id,
        Task.status.not_in(CASE_FINAL_STATUSES),
        Task.created_at >= since,
        Task.geom.is_not(None),
    )
    if db.engine.dialect.name == "postgresql":
        # Only the near ones leave the database (filtered there), not every open case of the
        # category city-wide; 1 % of margin for the spheroid against the sphere below, which
        # still decides.
        point = func.ST_GeomFromText(here.wkt, 4326)
        stmt = stmt.where(
            func.ST_DWithin(
                func.Geography(Task.geom), func.Geography(point), conf.case_duplicate_m * 1.01
            )
        )
    rows = db.session.execute(stmt).scalars()
    found = []
    for other in rows:
        distance = _metres(here, to_shapely(other.geom))
        if distance <= conf.case_duplicate_m:
            found.append(
                {
                    "id": other.id,
                    "title": other.title,
                    "distance_m": round(distance, 1),
                    "created_at": other.created_at.astimezone(dt.UTC).isoformat(),
                }
            )
    return sorted(found, key=lambda d: (d["distance_m"], d["id"]))


def merge(principal: Principal, task_id: int, into_id: int, based_on: int) -> Task:
    """Close case ``task_id`` as a duplicate of ``into_id`` (station and above of the area):
    cancelled, ``duplicate_of_id`` = into, an event ``merge`` on both; the kept case's
    :func:`reporters` now include this one's, so it too takes a new version and change number
    (a conditional update: closed meanwhile, 409 ``merge_into_closed`` and nothing merged).
    409 ``stale_version``; 409 ``merge_into_itself``, ``merge_into_closed`` (the kept case is
    closed or cancelled), ``merge_across_categories``, ``invalid_transition`` (this one is
    already closed); 422 ``not_a_case``."""
    principal.require(*MERGERS)
    task = task_service.get_task(principal, task_id)
    check_version(STALE_CASE, expected=based_on, current=task.version)
    if into_id == task.id:
        raise Conflict("A case cannot be merged into itself.", code="merge_into_itself")
    kept = task_service.get_task(principal, into_id)
    if task.kind != "case" or kept.kind != "case":
        raise ValidationFailed(
            "Only cases are merged.",
            code="not_a_case",
            details={"fields": {"into": ["Both must be cases."]}},
        )
    if task.status in CASE_FINAL_STATUSES or task.status == "done":
        raise Conflict(
            f"The case is {task.status}.",
            code="invalid_transition",
            details={"status": task.status, "to": "cancelled"},
        )
    if kept.status in CASE_FINAL_STATUSES or kept.status == "done":
        raise Conflict(
            f"Case {kept.id} is {kept.status}; merge into an open case.",
            code="merge_into_closed",
            details={"into": kept.id, "status": kept.status},
        )
    if kept.category_id != task.category_id:
        raise Conflict(
            "Only cases of the same category are merged.",
            code="merge_across_categories",
            details={"category_id": task.category_id, "into_category_id": kept.category_id},
        )
    now = utcnow()
    seq = next_seq()
    old_status, worker = task.status, task.assigned_worker_id
    # The kept case changed too (its reporters): a new version and change number, as long as
    # it is still open — closed meanwhile, nothing is merged.
    kept_version = update_versioned(
        Task, None, Task.id == kept.id, Task.status.not_in((*CASE_FINAL_STATUSES, "done")),
        change_seq=seq, updated_at=now,
    )  # fmt: skip
    if kept_version is None:
        db.session.expire(kept)
        raise Conflict(
            f"Case {kept.id} is {kept.status}; merge into an open case.",
            code="merge_into_closed",
            details={"into": kept.id, "status": kept.status},
        )
    db.session.expire(kept)
    new_version = update_versioned(
        Task, based_on, Task.id == task.id, status="cancelled", closed_at=now,
        duplicate_of_id=kept.id, change_seq=seq, updated_at=now,
    )  # fmt: skip
    db.session.expire(task)
    if new_version is None:
        refuse_stale(STALE_CASE, expected=based_on, current=task.version)
    actor = principal.user_id or None
    db.session.add_all(
        [
            TaskEvent(task_id=task.id, action="merge", actor_id=actor, change_seq=seq,
                      from_status=old_status, to_status="cancelled", from_worker_id=worker,
                      to_worker_id=worker, from_level=task.level, to_level=task.level,
                      note=f"作为重复事件并入事件{kept.id}"),
            TaskEvent(task_id=kept.id, action="merge", actor_id=actor, change_seq=seq,
                      from_status=kept.status, to_status=kept.status,
                      from_worker_id=kept.assigned_worker_id,
                      to_worker_id=kept.assigned_worker_id, from_level=kept.level,
                      to_level=kept.level, note=f"事件{task.id}作为重复事件并入"),
        ]
    )  # fmt: skip
    db.session.flush()
    audit.record(
        "update",
        "tasks",
        task.id,
        {"fields": ["duplicate_of_id", "status"], "merged_into": kept.id,
         "version": [based_on, based_on + 1]},
    )  # fmt: skip
    audit.record(
        "update",
        "tasks",
        kept.id,
        {"fields": ["reporters"], "merged": task.id, "version": [kept_version - 1, kept_version]},
    )
    return task
