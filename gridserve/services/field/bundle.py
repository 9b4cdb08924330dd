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
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

import shapely
from sqlalchemy import and_, false, or_, select

from gridserve import audit
from gridserve.db import utcnow
from gridserve.errors import Forbidden, ValidationFailed
from gridserve.extensions import db
from gridserve.models import GridCell, Household, Place, SyncTombstone, Task, TaskEvent
from gridserve.scope import Principal
from gridserve.services.field import households as household_service
from gridserve.services.field import tasks as task_service
from gridserve.services.field.workers import open_assignments, worker_for_user
from gridserve.services.geography.places import current_cells
from gridserve.spatial import to_shapely
from gridserve.sync import current_seq

# Order within one change number; new kinds go at the end so old cursors stay valid.
# Who syncs a bundle: workers (their cells and tasks).
READERS = ("worker",)
KINDS = ("place", "household", "tombstone", "task", "task_tombstone")


def _encode(position: tuple[int, int, int], signature: str) -> str:
    raw = json.dumps({"p": list(position), "s": signature}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[tuple[int, int, int], str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        seq, kind, ident = (int(v) for v in data["p"])
        return (seq, kind, ident), str(data["s"])
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
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


def build(
    principal: Principal, since: str | None, today: dt.date, page_size: int
) -> dict[str, Any]:
    """One page of the worker's bundle after ``since``."""
    worker, codes, cells, signature = _holdings(principal, today)
    cell_ids = sorted(c.id for c in cells)

    reset = True
    position = (-1, 0, 0)
    if since:
        position, old_signature = _decode(since)
        reset = old_signature != signature
        if reset:
            position = (-1, 0, 0)

    def page(model, kind: int, where):
        rows = db.session.execute(
            select(model)
            .where(where, _after(model.change_seq, model.id, kind, position))
            .order_by(model.change_seq, model.id)
            .limit(page_size + 1)
        ).scalars()
        return [((r.change_seq, kind, r.id), kind, r) for r in rows]

    task_kind, dropped_kind = KINDS.index("task"), KINDS.index("task_tombstone")

    in_cells = Place.cell_id.in_(cell_ids) if cell_ids else Place.id < 0
    stream = page(Place, 0, in_cells)
    stream += page(Household, 1, Household.place_id.in_(select(Place.id).where(in_cells)))
    if not reset:
        stream += page(
            SyncTombstone,
            2,
            or_(SyncTombstone.cell_code.in_(codes), SyncTombstone.cell_code.is_(None))
            & (SyncTombstone.area_id == worker.area_id),
        )
    stream += page(Task, task_kind, task_service.carried_by(worker.id))
    if not reset:
        stream += page(TaskEvent, dropped_kind, task_service.dropped_by(worker.id))
    stream.sort(key=lambda item: item[0])
    more = len(stream) > page_size
    stream = stream[:page_size]

    places, households, tasks, tombstones = [], [], [], []
    dropped: list[int] = []
    for _pos, kind, row in stream:
        if kind == 0:
            places.append(_place(row))
        elif kind == 1:
            households.append(household_service.serialize(row, unmasked=True))
        elif kind == task_kind:
            tasks.append(task_service.serialize(row))
        elif kind == dropped_kind:
            dropped.append(row.task_id)
        else:
            tombstones.append({"entity": row.entity, "id": row.entity_id})
    # A task row is its current state, newer than any tombstone of it: a task handed
    # away and back within one page arrives as the task alone (and each tombstone once).
    carried = {t["id"] for t in tasks}
    tombstones += [{"entity": "task", "id": i} for i in dict.fromkeys(dropped) if i not in carried]
    if households:
        audit.record(
            "household_read", "workers", worker.id,
            {"via": "sync_bundle", "households": [h["id"] for h in households]},
        )  # fmt: skip
    last = stream[-1][0] if stream else position
    if not stream and position == (-1, 0, 0):
        last = (current_seq(), len(KINDS) - 1, 0)
    body: dict[str, Any] = {
        "reset": reset,
        "more": more,
        "next_cursor": _encode(last, signature),
        "server_time": utcnow(),
        "cells": _cells(cells) if reset else None,
        "places": places,
        "households": households,
        "tasks": tasks,
        "tombstones": tombstones,
    }
    return body


def _holdings(principal: Principal, today: dt.date):
    """The worker, their cell codes, the cells in force, and a signature of both."""
    worker = worker_for_user(principal.user_id) if principal.role == "worker" else None
    if worker is None:
        raise Forbidden("Bundles are for workers' terminals.", code="not_a_worker")
    codes = sorted(a.cell_code for a in open_assignments(worker.id, today))
    cells = [c for c in current_cells([worker.area_id], today) if c.code in codes]
    ids = sorted(c.id for c in cells)
    signature = hashlib.sha256(json.dumps([codes, ids]).encode()).hexdigest()[:16]
    return worker, codes, cells, signature


def etag(principal: Principal, since: str | None, today: dt.date) -> str:
    """Changes whenever the bundle for (worker, cursor) could: new data or new cells."""
    _worker, _codes, _cells, signature = _holdings(principal, today)
    raw = json.dumps([principal.user_id, signature, since or "", current_seq()])
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
