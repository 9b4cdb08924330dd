"""Workers and their cells: the personnel record, assignments with history, vacant cells."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from gridserve import audit, crypto
from gridserve.config import settings
from gridserve.errors import Conflict, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, Assignment, GridCell, Place, User, Worker
from gridserve.pagination import apply_sort
from gridserve.privacy import mask_phone
from gridserve.scope import Principal, area_in_scope, get_visible, in_area, visible, within_area
from gridserve.services.geography.places import current_cells

MANAGERS = ("station", "street_centre", "district_centre")
# The personnel record (phone, contract, file): managers, and workers of their community.
READERS = ("worker", *MANAGERS)
# Who may look workers up by name (id, name and community only): the coordinator assigns
# visitors in the outreach programmes without seeing personnel records.
LOOKUP = ("coordinator", *MANAGERS)
SORTABLE = {"id": Worker.id, "full_name": Worker.full_name, "status": Worker.status}


# --- the personnel record ------------------------------------------------------------------


def _community(principal: Principal, area_id: int) -> Area:
    area = get_visible(Area, area_id, principal)
    if area.level != "community":
        raise ValidationFailed(
            "A worker belongs to a community.",
            details={"fields": {"area_id": [f"{area.code} is a {area.level}."]}},
        )
    return area


def _link_user(principal: Principal, user_id: int | None, area: Area) -> int | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if (
        user is None
        or user.role != "worker"
        or user.area is None
        or not area_in_scope(user.area, principal)
    ):
        raise ValidationFailed(
            "Link a worker account of your scope.",
            details={"fields": {"user_id": ["Unknown, or not a worker account in your scope."]}},
        )
    taken = db.session.execute(select(Worker.id).where(Worker.user_id == user_id)).first()
    if taken:
        raise Conflict("That account already has a worker record.", code="user_taken")
    return user_id


def create_worker(principal: Principal, data: dict[str, Any]) -> Worker:
    principal.require(*MANAGERS)
    area = _community(principal, data["area_id"])
    worker = Worker(
        area_id=area.id,
        user_id=_link_user(principal, data.get("user_id"), area),
        full_name=data["full_name"],
        employment=data.get("employment", "full_time"),
        source_pool=data.get("source_pool"),
        phone_enc=_phone(data.get("phone")),
        status=data.get("status", "active"),
        hired_on=data.get("hired_on"),
        personnel_file=data.get("personnel_file") or {},
    )
    db.session.add(worker)
    db.session.flush()
    return worker


def update_worker(principal: Principal, worker_id: int, data: dict[str, Any], today: dt.date):
    principal.require(*MANAGERS)
    worker = get_worker(principal, worker_id)
    if "area_id" in data:
        worker.area_id = _community(principal, data["area_id"]).id
    if "user_id" in data and data["user_id"] != worker.user_id:
        worker.user_id = _link_user(
            principal, data["user_id"], db.session.get(Area, worker.area_id)
        )
    for key in ("full_name", "employment", "source_pool", "hired_on", "personnel_file"):
        if key in data:
            setattr(worker, key, data[key])
    if "phone" in data:
        worker.phone_enc = _phone(data["phone"])
    if "status" in data and data["status"] != worker.status:
        worker.status = data["status"]
        if worker.status != "active":
            # A suspended or dismissed worker holds no cell from today on.
            end_assignments(worker.id, today)
    db.session.flush()
    return worker


def _phone(value: str | None) -> bytes | None:
    """A worker's phone as stored: encrypted (personal data at rest); blank clears it."""
    return crypto.encrypt((value or "").strip() or None)


def may_see_phone(principal: Principal) -> bool:
    """Who may manage a worker (of their scope) sees the number in clear; anyone else masked."""
    return principal.role in {"admin", *MANAGERS}


def phone_for(principal: Principal, worker: Worker) -> str | None:
    """The worker's phone as ``principal`` may see it (the worker is one they can see)."""
    phone = crypto.decrypt(worker.phone_enc)
    return phone if may_see_phone(principal) else mask_phone(phone)


def present(principal: Principal, workers: list[Worker], on: dt.date) -> list[Worker]:
    """``workers`` ready for their schema: ``phone_shown`` as ``principal`` may see it and
    ``cell_codes``, the cells each holds on ``on`` (one query for them all)."""
    held: dict[int, list[str]] = {w.id: [] for w in workers}
    if held:
        for worker_id, code in db.session.execute(
            select(Assignment.worker_id, Assignment.cell_code)
            .where(Assignment.worker_id.in_(held), Assignment.open_on(on))
            .order_by(Assignment.worker_id, Assignment.cell_code)
        ).all():
            held[worker_id].append(code)
    for worker in workers:
        worker.phone_shown = phone_for(principal, worker)  # type: ignore[attr-defined]
        worker.cell_codes = held[worker.id]  # type: ignore[attr-defined]
    return workers


def reencrypt_all() -> int:
    """Re-encrypt every worker's phone with the newest data key (``gridserve keys rotate``)."""
    return crypto.reencrypt_column(Worker.__table__, "phone_enc")


def get_worker(principal: Principal, worker_id: int) -> Worker:
    return get_visible(Worker, worker_id, principal)


def list_workers(
    principal: Principal,
    *,
    area_id: int | None = None,
    status: str | None = None,
    employment: str | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(Worker, principal)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(Worker.area_id, area))
    if status:
        stmt = stmt.where(Worker.status == status)
    if employment:
        stmt = stmt.where(Worker.employment == employment)
    return apply_sort(stmt, sort, SORTABLE, "full_name", Worker.id)


def lookup_workers(
    principal: Principal, *, q: str | None = None, area_id: int | None = None
) -> Select:
    """Active workers in scope whose name contains ``q``; show only id, name and community."""
    stmt = visible(Worker, principal).where(Worker.status == "active")
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(in_area(Worker.area_id, area))
    if q:
        stmt = stmt.where(Worker.full_name.contains(q, autoescape=True))
    return stmt.order_by(Worker.full_name, Worker.id)


def worker_for_user(user_id: int) -> Worker | None:
    return db.session.execute(select(Worker).where(Worker.user_id == user_id)).scalar_one_or_none()


# --- assignments ---------------------------------------------------------------------------


def worker_and_cell_codes(user_id: int, on: dt.date) -> tuple[Worker | None, list[str]]:
    """:func:`worker_for_user` and the cell codes of its :func:`open_assignments` (sorted), in
    one statement."""
    rows = db.session.execute(
        select(Worker, Assignment.cell_code)
        .outerjoin(Assignment, and_(Assignment.worker_id == Worker.id, Assignment.open_on(on)))
        .where(Worker.user_id == user_id)
    ).all()
    if not rows:  # workers.user_id is unique: one worker, a row per open assignment
        return None, []
    return rows[0][0], sorted(code for _worker, code in rows if code is not None)


def open_assignments(worker_id: int, on: dt.date) -> list[Assignment]:
    return list(
        db.session.execute(
            select(Assignment)
            .where(Assignment.worker_id == worker_id, Assignment.open_on(on))
            .order_by(Assignment.cell_code)
        ).scalars()
    )


def assigned_worker(cell_code: str, on: dt.date) -> Worker | None:
    return db.session.execute(
        select(Worker)
        .join(Assignment, Assignment.worker_id == Worker.id)
        .where(Assignment.cell_code == cell_code, Assignment.open_on(on))
        .order_by(Assignment.starts_on.desc(), Assignment.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def is_assigned_to_place(principal: Principal, place: Place, on: dt.date) -> bool:
    """Is the caller the worker assigned (today) to the cell this place is in?"""
    if principal.role != "worker" or place.cell_id is None:
        return False
    code = db.session.execute(select(GridCell.code).where(GridCell.id == place.cell_id)).scalar()
    worker = assigned_worker(code, on) if code else None
    return worker is not None and worker.user_id == principal.user_id


def _cell_in_force(principal: Principal, code: str, on: dt.date) -> GridCell:
    cell = db.session.execute(
        select(GridCell).where(
            GridCell.code == code,
            GridCell.in_force_on(on),
        )
    ).scalar_one_or_none()
    community = db.session.get(Area, cell.community_id) if cell is not None else None
    if cell is None or not area_in_scope(community, principal):
        raise NotFound(f"No cell {code} in force in your scope.", details={"cell": code})
    return cell


def max_cells(worker: Worker) -> int:
    if worker.employment == "part_time":
        return max(1, int(settings().part_time_max_cells))
    return 1


def assign(
    principal: Principal, worker_id: int, cell_code: str, starts_on: dt.date, today: dt.date
) -> Assignment:
    """Give a cell to a worker from ``starts_on``, atomically replacing whoever held it.

    The previous holder's assignment ends the same day (history is kept). The
    database refuses a second open assignment for the cell, and more open
    assignments for the worker than the slots their contract allows.
    """
    principal.require(*MANAGERS)
    if starts_on < today:
        raise ValidationFailed(
            "An assignment cannot start in the past.",
            details={"fields": {"starts_on": ["Today or later."]}},
        )
    worker = get_worker(principal, worker_id)
    if worker.status != "active":
        raise Conflict(f"{worker.full_name} is {worker.status}.", code="worker_not_active")
    cell = _cell_in_force(principal, cell_code, starts_on)
    mine = open_assignments(worker.id, starts_on)
    if any(a.cell_code == cell_code for a in mine):
        raise Conflict(f"{worker.full_name} already holds {cell_code}.", code="already_assigned")
    used = {a.slot for a in mine}
    free = [s for s in range(max_cells(worker)) if s not in used]
    if not free:
        raise Conflict(
            f"{worker.full_name} already holds {len(mine)} cell(s), the most a "
            f"{worker.employment.replace('_', '-')} worker may.",
            code="too_many_cells_for_worker",
            details={"cells": [a.cell_code for a in mine], "limit": max_cells(worker)},
        )
    _close(Assignment.cell_code == cell_code, starts_on)
    row = Assignment(
        worker_id=worker.id,
        community_id=cell.community_id,
        cell_code=cell_code,
        slot=free[0],
        starts_on=starts_on,
    )
    db.session.flush()  # the closing of the previous holder goes before the savepoint
    try:
        with db.session.begin_nested():  # only the new row is inside: a loss rolls back to here
            db.session.add(row)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Someone else changed this cell's or this worker's assignment at the same time.",
            code="assignment_conflict",
        ) from exc
    audit.record("assign_cell", "workers", worker.id, {"cell": cell_code, "starts_on": starts_on})
    return row


def unassign(principal: Principal, worker_id: int, cell_code: str, ends_on: dt.date) -> int:
    principal.require(*MANAGERS)
    worker = get_worker(principal, worker_id)
    count = db.session.execute(
        update(Assignment)
        .where(
            Assignment.worker_id == worker.id,
            Assignment.cell_code == cell_code,
            Assignment.ends_on.is_(None),
            Assignment.starts_on < ends_on,
        )
        .values(ends_on=ends_on)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not count:
        raise NotFound(f"{worker.full_name} holds no open assignment of {cell_code}.")
    audit.record("unassign_cell", "workers", worker.id, {"cell": cell_code, "ends_on": ends_on})
    return count


def _close(which, on: dt.date) -> None:
    """End the assignments ``which`` on ``on``, whatever end they had planned.

    Those that would only start after ``on`` are dropped; those running past
    ``on`` (open, or ending later) end on ``on`` — one that starts that very
    day ends before it began and stays only as history. A handover planned for
    later never leaves two holders of one cell, or a dismissed worker with one.
    """
    db.session.execute(delete(Assignment).where(which, Assignment.starts_on > on))
    db.session.execute(
        update(Assignment)
        .where(
            which,
            Assignment.open_on(on),
        )
        .values(ends_on=on)
        .execution_options(synchronize_session=False)
    )


def end_assignments(worker_id: int, on: dt.date) -> None:
    _close(Assignment.worker_id == worker_id, on)


def assignment_history(principal: Principal, worker_id: int) -> list[Assignment]:
    worker = get_worker(principal, worker_id)
    return list(
        db.session.execute(
            select(Assignment)
            .where(Assignment.worker_id == worker.id)
            .order_by(Assignment.starts_on.desc(), Assignment.id.desc())
        ).scalars()
    )


def vacant_cells(principal: Principal, area_id: int, on: dt.date) -> list[dict[str, Any]]:
    """Cells in force in an area on a day with nobody assigned."""
    area = get_visible(Area, area_id, principal)
    communities = [
        a.id
        for a in db.session.execute(
            select(Area).where(within_area(area), Area.level == "community")
        ).scalars()
    ]
    cells = current_cells(communities, on)
    held = set(
        db.session.execute(
            select(Assignment.cell_code).where(
                Assignment.cell_code.in_([c.code for c in cells]), Assignment.open_on(on)
            )
        ).scalars()
    )
    codes = dict(
        db.session.execute(select(Area.id, Area.code).where(Area.id.in_(communities))).all()
    )
    return [
        {
            "cell_id": c.id,
            "code": c.code,
            "community": codes.get(c.community_id),
            "workload": c.workload,
            "place_count": c.place_count,
        }
        for c in cells
        if c.code not in held
    ]
