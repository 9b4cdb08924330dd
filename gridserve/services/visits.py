"""Visits and patrols uploaded from terminals: exactly once per UUID, never a lost record.

A batch is judged item by item; one bad item never fails the others. The
database decides what is new: ``INSERT ... ON CONFLICT (uuid) DO NOTHING
RETURNING`` stores each UUID once even when two identical batches arrive at
the same moment, and the content hash tells a retry (``duplicate``) from a
different record under a reused UUID (``conflict``: the stored one is kept).
Suspicious records are stored with flags, not refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from flask import current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Select, select, update

from geo.assign import assign_points
from geo.projection import crs_for, to_metric
from gridserve import audit
from gridserve.db import insert_for, utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import VISIT_KINDS, Area, Place, Visit, Worker
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, visible
from gridserve.services.places import current_cells
from gridserve.services.workers import open_assignments, worker_for_user
from gridserve.spatial import to_shapely
from gridserve.timeutil import zone

MAX_BATCH = 500
SORTABLE = {"started_at": Visit.started_at, "id": Visit.id, "received_at": Visit.received_at}


class LocationSchema(Schema):
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180))
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    accuracy_m = fields.Float(validate=validate.Range(min=0, max=100_000), allow_none=True)


class VisitItemSchema(Schema):
    """One record made offline on a terminal."""

    uuid = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(VISIT_KINDS))
    place_id = fields.Integer(allow_none=True)
    started_at = fields.AwareDateTime(required=True, default_timezone=None)
    ended_at = fields.AwareDateTime(allow_none=True, default_timezone=None)
    location = fields.Nested(LocationSchema, allow_none=True)
    mock_location = fields.Boolean(load_default=False)
    notes = fields.String(load_default="", validate=validate.Length(max=5000))
    answers = fields.Dict(load_default=dict)
    attachments = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=20))
    base_version = fields.Integer(
        validate=validate.Range(min=1),
        metadata={"description": "For an edit: the version the terminal changed"},
    )

    @validates_schema
    def _order(self, data: dict, **_kwargs: Any) -> None:
        ended = data.get("ended_at")
        if ended is not None and ended < data["started_at"]:
            raise ValidationError("Ends before it starts.", "ended_at")


ITEM = VisitItemSchema()


@dataclass
class ItemResult:
    uuid: str | None
    status: str  # created | updated | duplicate | conflict | rejected
    flags: list[str] = field(default_factory=list)
    errors: dict[str, Any] | None = None
    code: str | None = None
    version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uuid": self.uuid, "status": self.status}
        if self.flags:
            out["flags"] = self.flags
        if self.errors:
            out["errors"] = self.errors
        if self.code:
            out["code"] = self.code
        if self.version is not None:
            out["version"] = self.version
        return out


def content_hash(item: dict[str, Any]) -> str:
    """The record's content, canonically: what makes two uploads "the same"."""
    keys = (
        "type",
        "place_id",
        "started_at",
        "ended_at",
        "location",
        "mock_location",
        "notes",
        "answers",
        "attachments",
    )
    body = {k: item.get(k) for k in keys}
    text = json.dumps(body, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _worker(principal: Principal) -> Worker:
    worker = worker_for_user(principal.user_id) if principal.role == "worker" else None
    if worker is None:
        raise Forbidden(
            "Only a worker's terminal uploads visits.",
            code="not_a_worker",
            details={"role": principal.role},
        )
    if worker.status != "active":
        raise Forbidden(f"This worker is {worker.status}.", code="worker_not_active")
    return worker


class _Context:
    """What flagging a batch needs, loaded once: the worker's cells per day, in metres."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.community = db.session.get(Area, worker.area_id)
        self.crs = crs_for(to_shapely(self.community.geom)) if self.community.geom else None
        self._cells: dict[dt.date, tuple[list, list]] = {}
        self._assigned: dict[dt.date, Any] = {}
        cfg = current_app.config
        self.tolerance = float(cfg["GRIDSERVE_GPS_TOLERANCE_M"])
        self.low_accuracy = float(cfg["GRIDSERVE_LOW_ACCURACY_M"])
        self.skew = dt.timedelta(seconds=int(cfg["GRIDSERVE_CLOCK_SKEW_SECONDS"]))

    def cells(self, day: dt.date):
        if day not in self._cells:
            cells = current_cells([self.worker.area_id], day)
            self._cells[day] = (cells, [to_shapely(c.geom) for c in cells])
        return self._cells[day]

    def assigned_area(self, day: dt.date):
        if day not in self._assigned:
            codes = {a.cell_code for a in open_assignments(self.worker.id, day)}
            cells, geoms = self.cells(day)
            mine = [g for c, g in zip(cells, geoms, strict=True) if c.code in codes]
            self._assigned[day] = (
                to_metric(shapely.union_all(mine), self.crs) if mine and self.crs else None
            )
        return self._assigned[day]


def _flags(ctx: _Context, item: dict, day: dt.date, now: dt.datetime, device_time) -> list[str]:
    flags = []
    loc = item.get("location")
    if loc is None:
        flags.append("no_location")
    else:
        if loc.get("accuracy_m") is not None and loc["accuracy_m"] > ctx.low_accuracy:
            flags.append("low_accuracy")
        mine = ctx.assigned_area(day)
        if mine is not None:
            here = to_metric(shapely.Point(loc["lon"], loc["lat"]), ctx.crs)
            if mine.distance(here) > ctx.tolerance:
                flags.append("outside_assigned_cell")
    if item.get("mock_location"):
        flags.append("mock_location")
    skewed = device_time is not None and abs(device_time - now) > ctx.skew
    if skewed or item["started_at"] > now + ctx.skew:
        flags.append("clock_skew")
    return flags


def _row(ctx: _Context, item: dict, device_id: int | None, flags: list[str], now, place) -> dict:
    loc = item.get("location")
    day = item["started_at"].astimezone(zone()).date()
    community_id, cell_code = ctx.worker.area_id, None
    if loc is not None:
        cells, geoms = ctx.cells(day)
        idx = assign_points(np.array([loc["lon"]]), np.array([loc["lat"]]), geoms)[0]
        if idx >= 0:
            cell_code = cells[idx].code
            community_id = cells[idx].community_id
    elif place is not None:
        community_id = place.area_id
    return {
        "uuid": str(item["uuid"]),
        "worker_id": ctx.worker.id,
        "device_id": device_id,
        "kind": item["type"],
        "place_id": item.get("place_id"),
        "started_at": item["started_at"],
        "ended_at": item.get("ended_at"),
        "geom": f"SRID=4326;POINT({loc['lon']!r} {loc['lat']!r})" if loc else None,
        "accuracy_m": loc.get("accuracy_m") if loc else None,
        "mock_location": bool(item.get("mock_location")),
        "notes": item.get("notes") or "",
        "answers": item.get("answers") or {},
        "attachments": [str(a) for a in item.get("attachments") or []],
        "flags": flags,
        "community_id": community_id,
        "cell_code": cell_code,
        "content_hash": content_hash(item),
        "version": 1,
        "received_at": now,
        "updated_at": now,
    }


def upload(
    principal: Principal, items: list[Any], device_time: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Store a batch of visit records; one result per item, in the batch's order."""
    worker = _worker(principal)
    if len(items) > MAX_BATCH:
        raise Conflict(f"At most {MAX_BATCH} items per batch.", code="batch_too_large")
    ctx = _Context(worker)
    now = utcnow()
    results: list[ItemResult] = []
    fresh: list[tuple[int, dict]] = []  # (result index, row)
    edits: list[tuple[int, dict, int]] = []
    seen: set[str] = set()

    loaded: list[tuple[int, dict]] = []
    for raw in items:
        uuid = raw.get("uuid") if isinstance(raw, dict) else None
        try:
            item = ITEM.load(raw if isinstance(raw, dict) else {})
        except ValidationError as exc:
            results.append(
                ItemResult(
                    str(uuid) if uuid else None,
                    "rejected",
                    errors=exc.messages,
                    code="validation_error",
                )
            )
            continue
        key = str(item["uuid"])
        if key in seen:
            results.append(
                ItemResult(
                    key,
                    "rejected",
                    code="duplicate_in_batch",
                    errors={"uuid": ["Twice in this batch."]},
                )
            )
            continue
        seen.add(key)
        results.append(ItemResult(key, "pending"))
        loaded.append((len(results) - 1, item))

    place_ids = {item["place_id"] for _, item in loaded if item.get("place_id")}
    places = (
        {
            p.id: p
            for p in db.session.execute(
                visible(Place, principal).where(Place.id.in_(place_ids))
            ).scalars()
        }
        if place_ids
        else {}
    )
    for index, item in loaded:
        if item.get("place_id") and item["place_id"] not in places:
            results[index] = ItemResult(
                results[index].uuid,
                "rejected",
                code="unknown_place",
                errors={"place_id": ["No such place in your area."]},
            )
            continue
        day = item["started_at"].astimezone(zone()).date()
        flags = _flags(ctx, item, day, now, device_time)
        row = _row(ctx, item, principal.device_id, flags, now, places.get(item.get("place_id")))
        results[index].flags = flags
        if item.get("base_version"):
            edits.append((index, row, item["base_version"]))
        else:
            fresh.append((index, row))

    _insert_new(fresh, results)
    for index, row, base in edits:
        results[index] = _apply_edit(worker, row, base, results[index].flags)

    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    audit.record("visits_upload", "workers", worker.id, dict(counts))
    return [r.as_dict() for r in results]


def _insert_new(fresh: list[tuple[int, dict]], results: list[ItemResult]) -> None:
    if not fresh:
        return
    table = Visit.__table__
    stmt = (
        insert_for(table)
        .on_conflict_do_nothing(index_elements=[table.c.uuid])
        .returning(table.c.uuid)
    )
    rows = [row for _, row in fresh]
    created = set(db.session.execute(stmt, rows).scalars())
    stored = {}
    missing = [row["uuid"] for row in rows if row["uuid"] not in created]
    if missing:
        stored = {
            u: (h, w, v)
            for u, h, w, v in db.session.execute(
                select(Visit.uuid, Visit.content_hash, Visit.worker_id, Visit.version).where(
                    Visit.uuid.in_(missing)
                )
            ).all()
        }
    for index, row in fresh:
        result = results[index]
        if row["uuid"] in created:
            result.status, result.version = "created", 1
            continue
        content, owner, version = stored.get(row["uuid"], (None, None, None))
        if content == row["content_hash"] and owner == row["worker_id"]:
            result.status, result.version = "duplicate", version
        else:
            result.status, result.code = "conflict", "uuid_taken"
            result.errors = {"uuid": ["A different record is stored under this UUID; it is kept."]}


def _apply_edit(worker: Worker, row: dict, base: int, flags: list[str]) -> ItemResult:
    """An edit applies only to the version it was based on (conditional UPDATE)."""
    values = {k: v for k, v in row.items() if k not in ("uuid", "worker_id", "received_at")}
    values["version"] = Visit.version + 1
    done = db.session.execute(
        update(Visit.__table__)
        .where(
            Visit.__table__.c.uuid == row["uuid"],
            Visit.__table__.c.worker_id == worker.id,
            Visit.__table__.c.version == base,
        )
        .values(**values)
        .returning(Visit.__table__.c.version)
    ).first()
    if done is not None:
        return ItemResult(row["uuid"], "updated", flags=flags, version=done[0])
    stored = db.session.execute(
        select(Visit.content_hash, Visit.worker_id, Visit.version).where(Visit.uuid == row["uuid"])
    ).first()
    if stored is None or stored[1] != worker.id:
        return ItemResult(
            row["uuid"],
            "rejected",
            code="unknown_visit",
            errors={"uuid": ["No such record of yours to edit."]},
        )
    if stored[0] == row["content_hash"]:
        return ItemResult(row["uuid"], "duplicate", flags=flags, version=stored[2])
    return ItemResult(
        row["uuid"],
        "conflict",
        code="stale_version",
        version=stored[2],
        errors={"base_version": [f"The record is at version {stored[2]}, not {base}."]},
    )


def edit(principal: Principal, uuid: str, item: dict[str, Any]) -> dict[str, Any]:
    """One record edited online: 409 when it changed since the terminal's version."""
    if "base_version" not in item:
        item = {**item, "base_version": None}
    [result] = upload(principal, [{**item, "uuid": uuid}])
    if result["status"] == "conflict":
        raise Conflict(
            "The record changed since the version you edited.",
            code=result.get("code") or "conflict",
            details={"current_version": result.get("version")},
        )
    if result["status"] == "rejected":
        if result.get("code") == "unknown_visit":
            raise NotFound(f"No visit {uuid} of yours.")
        raise ValidationFailed(
            "The record is not valid.", details={"fields": result.get("errors") or {}}
        )
    return result


def list_visits(
    principal: Principal,
    *,
    worker_id: int | None = None,
    area_id: int | None = None,
    kind: str | None = None,
    day: dt.date | None = None,
    flag: str | None = None,
    sort: str | None = None,
) -> Select:
    stmt = visible(Visit, principal)
    if principal.role == "worker":
        mine = worker_for_user(principal.user_id)
        stmt = stmt.where(Visit.worker_id == (mine.id if mine else -1))
    if worker_id is not None:
        stmt = stmt.where(Visit.worker_id == worker_id)
    if area_id is not None:
        area = get_visible(Area, area_id, principal)
        stmt = stmt.where(
            Visit.community_id.in_(select(Area.id).where(Area.path.startswith(area.path)))
        )
    if kind:
        stmt = stmt.where(Visit.kind == kind)
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), tzinfo=zone())
        stmt = stmt.where(
            Visit.started_at >= start, Visit.started_at < start + dt.timedelta(days=1)
        )
    if flag:
        stmt = stmt.where(Visit.id.in_(_flagged(flag)))
    return apply_sort(stmt, sort, SORTABLE, "-started_at", Visit.id)


def _flagged(flag: str) -> Select:
    return select(Visit.id).where(Visit.flags.cast(db.String).contains(f'"{flag}"'))
