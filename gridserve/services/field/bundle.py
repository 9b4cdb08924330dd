"""Sync down: what a worker's terminal needs for its own cells, incrementally.

The terminal sends back the ``next_cursor`` of its last page. A cursor holds
the position in the change stream (``change_seq``, kind, id) and a signature
of the worker's cells: when the cells change (new assignment, re-division),
the signature no longer matches and the terminal gets a ``reset`` — a full
bundle — instead of deltas. Deleted rows arrive as tombstones.

Tasks and cases travel with the worker, not with the cells: the bundle holds
those assigned to the worker while open or in progress, and when one is
closed, cancelled or handed to someone else, the step that took it away
(a :class:`TaskEvent`) is its tombstone in the worker's next incremental bundle.

Outreach events travel with the cells, read-only: those the worker may see (scope.py) that
are past drafting and whose venue is a place in one of the worker's cells or lies inside one.
Each change of an event (the events service takes a new ``change_seq``) sends it again; a
cancelled one comes with status ``cancelled`` so the terminal drops it, and one moved out of
the worker's cells arrives as an ``event`` tombstone. A cursor from before events were in the
bundle still works: its next page also carries every event already in the cells (once).

SME enterprises (``sme_enterprises``) travel with the cells too: the rows of visits
programmes' lists the worker visits (visitor ``cell``) whose register place lies in one of the
worker's cells. They ride on their place's change number (the list import renumbers a place it
creates, moves or renames, and an enterprise's first visit renumbers it for its new status), so
they page like places. A cursor from before they were in the bundle gets them all once, like
events above; a terminal that does not know the kind ignores the key.

Cases (tasks of kind ``case``) carry where they stand on the escalation ladder, so the worker's
list works offline: ``category`` (code) and ``category_name``, ``level``, ``level_started_at``,
``level_due_at``, ``overdue`` (at ``server_time``: pending — open or accepted —, past
``level_due_at`` and not paused; :func:`gridserve.services.cases.lists.overdue`), ``paused``,
``paused_at``, ``pause_reason``, ``escalations``, ``supervised`` and ``supervision_due_at``,
``department_id`` (dispatched to), ``needs_verification``; with ``status`` and ``version`` the
worker takes a step (``POST /tasks/{id}/{step}``). Every step, the deadline job's escalation
and a rating take a new change number, so the case comes again in the next delta; closing or
cancelling it is its tombstone (above). A task carries the same keys, null or false.

Case categories (``case_categories``, for reporting a case offline) have no change number: the
cursor holds a fingerprint of them (``c``), and a page carries the whole list of active
categories when it differs from the cursor's (on a reset, for a cursor from before, after an
admin's edit) — the terminal replaces what it holds — and ``null`` otherwise. They are not a
kind of the change stream, so :data:`KINDS` and old cursors' positions are untouched.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Date, and_, bindparam, case, exists, false, func, or_, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import (
    Assignment,
    CaseCategory,
    GridCell,
    Household,
    Institution,
    OutreachEnterprise,
    OutreachEvent,
    OutreachProgramme,
    Place,
    SyncCounter,
    SyncTombstone,
    Task,
    TaskEvent,
    Worker,
)
from gridserve.scope import Principal, visible
from gridserve.services.cases.lists import PENDING_STATUSES
from gridserve.services.field import households as household_service
from gridserve.services.field import tasks as task_service
from gridserve.services.geography.areas import zone_of
from gridserve.spatial import to_shapely
from gridserve.sync import current_seq

# Order within one change number; new kinds go at the end so old cursors stay valid.
# Who syncs a bundle: workers (their cells and tasks).
READERS = ("worker",)
KINDS = ("place", "household", "tombstone", "task", "task_tombstone", "event", "sme_enterprise")
# How many kinds a cursor without "k" knew (one given out before events were in the bundle).
LEGACY_KINDS = 5


def _encode(position: tuple[int, int, int], signature: str, categories: str) -> str:
    raw = json.dumps(
        {"p": list(position), "s": signature, "k": len(KINDS), "c": categories},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[tuple[int, int, int], str, int, str]:
    """Position, cells' signature, the number of kinds the cursor's bundle knew and the
    fingerprint of the case categories it carried ("" before they were in the bundle)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        seq, kind, ident = (int(v) for v in data["p"])
        known = int(data.get("k", LEGACY_KINDS))
        if not 0 < known <= len(KINDS):
            raise ValueError("kinds out of range")
        return (seq, kind, ident), str(data["s"]), known, str(data.get("c", ""))
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
        raise ValidationFailed(
            "The sync cursor is not one this server gave out.",
            code="invalid_cursor",
            details={"fields": {"since": ["Use next_cursor from the last bundle, or omit it."]}},
        ) from exc


def _after(seq_col, id_col, kind: int, pos: tuple[int, int, int]):
    """Rows of ``kind`` after the position (change number, kind, id) in the stream."""
    seq, k, ident = pos
    if kind == k:
        same = and_(seq_col == seq, id_col > ident)
    elif kind > k:
        same = seq_col == seq
    else:
        same = false()
    return or_(seq_col > seq, same)


@dataclass(frozen=True)
class Holdings:
    """What a bundle and its ETag both start from, read in one statement per request: the
    worker, the codes of the cells they hold and the ids of those cells in force, the signature
    of both, the fingerprint of the case categories, and the change stream's last number.

    Nothing heavy is read here: the cells' geometry (a reset's map; events' venues) and the
    categories' list (a reset; a cursor with another fingerprint) are read when a page needs them.
    """

    worker_id: int
    area_id: int
    codes: list[str]
    cell_ids: list[int]
    signature: str
    fingerprint: str
    seq: int  # the change stream's last number (for the ETag)
    on: dt.date

    def cells(self) -> list[GridCell]:
        """The cells with their geometry, by id."""
        if not self.cell_ids:
            return []
        return list(
            db.session.execute(
                select(GridCell).where(GridCell.id.in_(self.cell_ids)).order_by(GridCell.id)
            ).scalars()
        )


def _holdings_statement():
    """One row per cell the worker holds on ``:on`` (one with nulls when none), each with the
    change stream's last number and the categories' fingerprint parts: how many, the sums of
    their ids and versions, and of the ids of the active ones. A category is never deleted and
    every edit takes a new version (services/cases/categories.py), so any change moves them."""
    on = bindparam("on", type_=Date)
    counter = select(SyncCounter.value).where(SyncCounter.id == 1).scalar_subquery()
    parts = [
        select(func.count(CaseCategory.id)).scalar_subquery(),
        select(func.coalesce(func.sum(CaseCategory.id), 0)).scalar_subquery(),
        select(func.coalesce(func.sum(CaseCategory.version), 0)).scalar_subquery(),
        select(
            func.coalesce(func.sum(case((CaseCategory.active, CaseCategory.id), else_=0)), 0)
        ).scalar_subquery(),
    ]
    held = and_(Assignment.worker_id == Worker.id, Assignment.open_on(on))
    in_force = and_(
        GridCell.community_id == Worker.area_id,
        GridCell.code == Assignment.cell_code,
        GridCell.in_force_on(on),
    )
    return (
        select(Worker.id, Worker.area_id, Assignment.cell_code, GridCell.id, counter, *parts)
        .select_from(Worker)
        .outerjoin(Assignment, held)
        .outerjoin(GridCell, in_force)
        .where(Worker.user_id == bindparam("user"))
    )


# Built once: the sync's hottest statement, executed with new values only.
_HOLDINGS = _holdings_statement()


def holdings(principal: Principal, today: dt.date) -> Holdings:
    """The worker's holdings for :func:`etag` and :func:`build` (pass it to both); 403
    ``not_a_worker`` for an account that is not a worker's."""
    rows = (
        db.session.execute(_HOLDINGS, {"user": principal.user_id, "on": today}).all()
        if principal.role == "worker"
        else []
    )
    if not rows:
        raise Forbidden("Bundles are for workers' terminals.", code="not_a_worker")
    worker_id, area_id, _code, _cell, seq, *parts = rows[0]
    codes = sorted({code for _w, _a, code, *_rest in rows if code is not None})
    cell_ids = sorted({cell for _w, _a, _c, cell, *_rest in rows if cell is not None})
    signature = hashlib.sha256(json.dumps([codes, cell_ids]).encode()).hexdigest()[:16]
    fingerprint = hashlib.sha256(json.dumps([int(v) for v in parts]).encode()).hexdigest()[:12]
    return Holdings(
        worker_id, area_id, codes, cell_ids, signature, fingerprint, int(seq or 0), today
    )


def build(
    principal: Principal,
    since: str | None,
    today: dt.date,
    page_size: int,
    held: Holdings | None = None,
) -> dict[str, Any]:
    """One page of the worker's bundle after ``since`` (``held``: read by :func:`holdings` in
    this transaction, or read here)."""
    held = held or holdings(principal, today)
    cell_ids, signature = held.cell_ids, held.signature

    reset = True
    position = (-1, 0, 0)
    known = len(KINDS)
    held_categories = ""
    if since:
        position, old_signature, known, held_categories = _decode(since)
        reset = old_signature != signature
        if reset:
            position, known = (-1, 0, 0), len(KINDS)

    def page(model, kind: int, where):
        rows = db.session.execute(
            select(model)
            .where(where, _after(model.change_seq, model.id, kind, position))
            .order_by(model.change_seq, model.id)
            .limit(page_size + 1)
        ).scalars()
        return [((r.change_seq, kind, r.id), kind, r) for r in rows]

    task_kind, dropped_kind = KINDS.index("task"), KINDS.index("task_tombstone")
    event_kind, sme_kind = KINDS.index("event"), KINDS.index("sme_enterprise")

    cells = held.cells() if reset else None  # with their geometry, for the reset's map
    # A delta asks first, in one statement, which kinds have anything after the cursor, and
    # reads only those (the answer is the same: an empty kind adds nothing to the stream).
    changed = set(range(len(KINDS))) if reset else _changed(held, position)
    if reset:
        changed -= {2, dropped_kind}  # no tombstones
    stream = []
    if changed & {0, 1, 2, task_kind, dropped_kind}:
        wheres = _wheres(cell_ids, held.codes, held.worker_id, held.area_id)
        for kind, (model, where) in wheres.items():
            if kind in changed:
                stream += page(model, kind, where)
    shown: set[int] = set()
    if event_kind in changed or (known <= event_kind and not reset):
        shown, candidates = _events_in_cells(principal, cells or held.cells())
        # Reset: the events in the cells. Deltas: every changed event the worker may see,
        # those outside the cells (moved away) as tombstones.
        wanted = sorted(candidates if not reset else shown)
        stream += page(OutreachEvent, event_kind, OutreachEvent.id.in_(wanted))
    if sme_kind in changed:
        stream += _sme_page(principal, cell_ids, sme_kind, position, page_size)
    stream.sort(key=lambda item: item[0])
    more = len(stream) > page_size
    stream = stream[:page_size]

    places, households, tasks, tombstones, events, smes = [], [], [], [], [], []
    dropped: list[int] = []
    if known <= event_kind and not reset:
        # A cursor from before events were in the bundle: the events it never got, once.
        events += [_event(row) for row in _rows(OutreachEvent, shown, position[0])]
    if known <= sme_kind and not reset:
        # A cursor from before SME enterprises were in the bundle: those it never got, once.
        smes += _sme_rows(principal, cell_ids, before=position[0])
    for _pos, kind, row in stream:
        if kind == 0:
            places.append(_place(row))
        elif kind == 1:
            households.append(household_service.serialize(row, unmasked=True))
        elif kind == task_kind:
            tasks.append(row)
        elif kind == dropped_kind:
            dropped.append(row.task_id)
        elif kind == sme_kind:
            smes.append(row)
        elif kind == event_kind:
            if row.id in shown:
                events.append(_event(row))
            else:
                tombstones.append({"entity": "event", "id": row.id})
        else:
            tombstones.append({"entity": row.entity, "id": row.entity_id})
    # A task row is its current state, newer than any tombstone of it: a task handed
    # away and back within one page arrives as the task alone (and each tombstone once).
    tasks = _tasks(tasks)
    carried = {t["id"] for t in tasks}
    tombstones += [{"entity": "task", "id": i} for i in dict.fromkeys(dropped) if i not in carried]
    if households:
        audit.record(
            "household_read", "workers", held.worker_id,
            {"via": "sync_bundle", "households": [h["id"] for h in households]},
        )  # fmt: skip
    last = stream[-1][0] if stream else position
    if not stream and position == (-1, 0, 0):
        last = (current_seq(), len(KINDS) - 1, 0)
    fingerprint = held.fingerprint
    send_categories = reset or held_categories != fingerprint
    body: dict[str, Any] = {
        "reset": reset,
        "more": more,
        "next_cursor": _encode(last, signature, fingerprint),
        "server_time": utcnow(),
        "cells": _cells(cells) if cells is not None else None,
        "places": places,
        "households": households,
        "tasks": tasks,
        "tombstones": tombstones,
        "events": events,
        "sme_enterprises": smes,
        "case_categories": _categories() if send_categories else None,
    }
    return body


def _wheres(cells: Any, codes: Any, worker: Any, area: Any) -> dict[int, tuple[Any, Any]]:
    """Kind -> (model, the worker's rows) for the kinds read by change number alone: places,
    households, tombstones, tasks and task tombstones (values, or bound parameters)."""
    in_cells = Place.cell_id.in_(cells)
    return {
        0: (Place, in_cells),
        1: (Household, Household.place_id.in_(select(Place.id).where(in_cells))),
        2: (
            SyncTombstone,
            or_(SyncTombstone.cell_code.in_(codes), SyncTombstone.cell_code.is_(None))
            & (SyncTombstone.area_id == area),
        ),
        KINDS.index("task"): (Task, task_service.carried_by(worker)),
        KINDS.index("task_tombstone"): (TaskEvent, task_service.dropped_by(worker)),
    }


def _changed_statement(kind_at: int):
    """Which kinds have a row after a position of kind ``kind_at`` (``:seq``, ``:ident``):
    exactly for the worker's places, households, tombstones, tasks and task tombstones
    (``:cells``, ``:codes``, ``:worker``, ``:area``), and for events and SME enterprises any
    row at all (a superset: their own queries decide)."""
    position = (bindparam("seq"), kind_at, bindparam("ident"))
    wheres = _wheres(
        bindparam("cells", expanding=True),
        bindparam("codes", expanding=True),
        bindparam("worker"),
        bindparam("area"),
    )
    checks = [
        exists().where(where, _after(model.change_seq, model.id, kind, position)).label(f"k{kind}")
        for kind, (model, where) in wheres.items()
    ]
    event_kind, sme_kind = KINDS.index("event"), KINDS.index("sme_enterprise")
    checks.append(
        exists()
        .where(_after(OutreachEvent.change_seq, OutreachEvent.id, event_kind, position))
        .label(f"k{event_kind}")
    )
    checks.append(
        exists(
            select(OutreachEnterprise.id)
            .join(Place, Place.id == OutreachEnterprise.place_id)
            .where(_after(Place.change_seq, OutreachEnterprise.id, sme_kind, position))
        ).label(f"k{sme_kind}")
    )
    return select(*checks), [*wheres, event_kind, sme_kind]


# Built once per kind a cursor can stop at (every incremental sync runs one of them).
_CHANGED = {kind: _changed_statement(kind) for kind in range(len(KINDS))}


def _changed(held: Holdings, position: tuple[int, int, int]) -> set[int]:
    """The kinds with anything after ``position`` for this worker (:func:`_changed_statement`)."""
    seq, kind_at, ident = position
    statement, kinds = _CHANGED[kind_at]
    row = db.session.execute(
        statement,
        {
            "seq": seq,
            "ident": ident,
            "cells": held.cell_ids,
            "codes": held.codes,
            "worker": held.worker_id,
            "area": held.area_id,
        },
    ).one()
    return {kind for kind, found in zip(kinds, row, strict=True) if found}


def _tasks(rows: list[Task]) -> list[dict[str, Any]]:
    """Tasks and cases as the terminal holds them: :func:`task_service.serialize` and where a
    case stands on the ladder (see the module docstring), ``overdue`` as of now."""
    ids = {t.category_id for t in rows if t.category_id is not None}
    names = {
        ident: (code, name)
        for ident, code, name in db.session.execute(
            select(CaseCategory.id, CaseCategory.code, CaseCategory.name).where(
                CaseCategory.id.in_(sorted(ids))
            )
        )
    } if ids else {}  # fmt: skip
    now = utcnow()
    out = []
    for task in rows:
        code, name = names.get(task.category_id, (None, None))
        due = task.level_due_at
        out.append(
            task_service.serialize(task)
            | {
                "category": code,
                "category_name": name,
                "level": task.level,
                "level_started_at": _iso(task.level_started_at),
                "level_due_at": _iso(due),
                "overdue": (
                    task.status in PENDING_STATUSES
                    and due is not None
                    and due < now
                    and task.paused_at is None
                ),
                "paused": task.paused_at is not None,
                "paused_at": _iso(task.paused_at),
                "pause_reason": task.pause_reason or "",
                "escalations": task.escalations or 0,
                "supervised": task.supervised_at is not None,
                "supervision_due_at": _iso(task.supervision_due_at),
                "department_id": task.department_id,
                "needs_verification": bool(task.needs_verification),
            }
        )
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _categories() -> list[dict[str, Any]]:
    """The active case categories, in their order, for the report form."""
    rows = db.session.execute(
        select(
            CaseCategory.id,
            CaseCategory.code,
            CaseCategory.name,
            CaseCategory.name_en,
            CaseCategory.report_class,
            CaseCategory.start_level,
            CaseCategory.to_street_at_once,
        )
        .where(CaseCategory.active.is_(True))
        .order_by(CaseCategory.position, CaseCategory.code)
    ).all()
    return [row._asdict() for row in rows]


def _sme_query(principal: Principal, cell_ids: list[int]):
    """The worker's listed enterprises with their place's change number and position."""
    return (
        visible(OutreachEnterprise, principal)
        .join(Place, Place.id == OutreachEnterprise.place_id)
        .join(OutreachProgramme, OutreachProgramme.id == OutreachEnterprise.programme_id)
        .join(Institution, Institution.id == OutreachEnterprise.institution_id)
        .where(
            OutreachEnterprise.visitor_is_cell.is_(True),
            Place.cell_id.in_(cell_ids) if cell_ids else false(),
        )
        .add_columns(Place.change_seq, Place.geom, OutreachProgramme.code, Institution.code)
    )


def _sme(row: Any) -> dict[str, Any]:
    enterprise, _seq, geom, programme_code, institution = row
    point = to_shapely(geom)
    return {
        "id": enterprise.id,
        "programme_id": enterprise.programme_id,
        "programme_code": programme_code,
        "credit_code": enterprise.credit_code,
        "name": enterprise.name,
        "address": enterprise.address,
        "industry": enterprise.industry,
        "institution": institution,
        "place_id": enterprise.place_id,
        "lon": point.x,
        "lat": point.y,
        "status": enterprise.status,
        "version": enterprise.version,
    }


def _sme_page(
    principal: Principal,
    cell_ids: list[int],
    kind: int,
    position: tuple[int, int, int],
    page_size: int,
) -> list[tuple[tuple[int, int, int], int, dict[str, Any]]]:
    """One page of the worker's listed enterprises after ``position`` (by their place's
    change number)."""
    rows = db.session.execute(
        _sme_query(principal, cell_ids)
        .where(_after(Place.change_seq, OutreachEnterprise.id, kind, position))
        .order_by(Place.change_seq, OutreachEnterprise.id)
        .limit(page_size + 1)
    ).all()
    return [((row[1], kind, row[0].id), kind, _sme(row)) for row in rows]


def _sme_rows(principal: Principal, cell_ids: list[int], before: int) -> list[dict[str, Any]]:
    """The worker's listed enterprises whose place changed before ``before``."""
    rows = db.session.execute(
        _sme_query(principal, cell_ids)
        .where(Place.change_seq < before)
        .order_by(Place.change_seq, OutreachEnterprise.id)
    ).all()
    return [_sme(row) for row in rows]


def _events_in_cells(principal: Principal, cells: list[GridCell]) -> tuple[set[int], set[int]]:
    """Ids of the events the worker gets (venue in one of the cells), and of every event the
    worker may see past drafting (the candidates whose changes the worker hears about)."""
    rows = db.session.execute(
        visible(OutreachEvent, principal)
        .where(OutreachEvent.status != "draft")
        .outerjoin(Place, Place.id == OutreachEvent.place_id)
        .with_only_columns(OutreachEvent.id, OutreachEvent.geom, Place.cell_id)
    ).all()
    shapes: list[BaseGeometry] = [to_shapely(c.geom) for c in cells]
    held_ids = {c.id for c in cells}
    shown = {
        ident
        for ident, geom, place_cell in rows
        if place_cell in held_ids or any(s.covers(to_shapely(geom)) for s in shapes)
    }
    return shown, {r[0] for r in rows}


def _rows(model, ids: set[int], before: int) -> list:
    """Rows of ``model`` among ``ids`` changed before ``before`` (a change number; the rows
    numbered ``before`` itself come in the stream, after the cursor's older kinds)."""
    if not ids:
        return []
    return list(
        db.session.execute(
            select(model)
            .where(model.id.in_(sorted(ids)), model.change_seq < before)
            .order_by(model.change_seq, model.id)
        ).scalars()
    )


def _event(event: OutreachEvent) -> dict[str, Any]:
    """An outreach event as a terminal shows it (read-only), times in the area's zone."""
    point = to_shapely(event.geom)
    tz = zone_of(event.area_id)
    return {
        "id": event.id,
        "programme_id": event.programme_id,
        "kind": event.kind,
        "title": event.title,
        "starts_at": event.starts_at.astimezone(tz).isoformat(),
        "ends_at": event.ends_at.astimezone(tz).isoformat(),
        "venue": {
            "place_id": event.place_id,
            "address": event.address,
            "lon": point.x,
            "lat": point.y,
            "confirmed": event.venue_confirmed,
        },
        "status": event.status,
        "host": event.host.code,
        "lead": event.lead.code if event.lead is not None else None,
        "co_organisers": [i.code for i in event.co_organisers],
        "version": event.version,
        "change_seq": event.change_seq,
    }


def etag(
    principal: Principal, since: str | None, today: dt.date, held: Holdings | None = None
) -> str:
    """Changes whenever the bundle for (worker, cursor) could: new data or new cells."""
    held = held or holdings(principal, today)
    raw = json.dumps([principal.user_id, held.signature, since or "", held.seq, held.fingerprint])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _place(place: Place) -> dict[str, Any]:
    geom = to_shapely(place.geom)
    return {
        "id": place.id,
        "type": place.type,
        "external_id": place.external_id,
        "name": place.name,
        "attributes": place.attributes,
        "lon": geom.x,
        "lat": geom.y,
        "cell_id": place.cell_id,
        "change_seq": place.change_seq,
    }


def _cells(cells: list[GridCell]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": c.id,
                "geometry": json.loads(shapely.to_geojson(to_shapely(c.geom))),
                "properties": {"id": c.id, "code": c.code, "workload": c.workload},
            }
            for c in cells
        ],
    }
