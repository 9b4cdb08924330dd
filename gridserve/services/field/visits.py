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
from sqlalchemy import Select, select

from geo.assign import assign_points
from geo.projection import MAX_OFFSET_DEG, crs_for, to_metric
from gridserve import audit, metrics
from gridserve.config import settings
from gridserve.db import insert_for, utcnow
from gridserve.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, GridCell, Place, Visit, Worker
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, in_area, visible
from gridserve.services.field import cases as case_service
from gridserve.services.field.workers import open_assignments, worker_for_user
from gridserve.services.outreach import visits as sme_service
from gridserve.spatial import to_shapely
from gridserve.timeutil import zone
from gridserve.versioning import STALE_VERSION, update_versioned

MAX_BATCH = 500
# Who uploads and edits visit records: workers (from their terminal, their own only).
UPLOADERS = ("worker",)
# Who reads visit records: workers (their own) and the station and above, in scope.
READERS = ("worker", "station", "street_centre", "district_centre")
SORTABLE = {"started_at": Visit.started_at, "id": Visit.id, "received_at": Visit.received_at}


@dataclass
class Rejected:
    """An uploaded item that failed validation in the API layer: it is rejected on its own."""

    uuid: str | None
    errors: dict[str, Any]
    code: str = "validation_error"


@dataclass
class ItemResult:
    uuid: str | None
    status: str  # created | updated | duplicate | conflict | rejected
    flags: list[str] = field(default_factory=list)
    errors: dict[str, Any] | None = None
    code: str | None = None
    version: int | None = None
    task_id: int | None = None  # a case: the task it is stored as

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
        if self.task_id is not None:
            out["task_id"] = self.task_id
        return out


# --- a visit record as a terminal sends it ----------------------------------------------
# Its content, besides its ``uuid`` and (for an edit) the ``base_version`` it is based on:
# the fields api/sync.py VisitItemSchema loads, for an upload and a PATCH alike, and what
# makes two uploads "the same" (content_hash).
RECORD_FIELDS = (
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
# An sme_visit of a visits programme also carries these (part of its content when present).
SME_FIELDS = ("programme_id", "enterprise_id", "sme")


def record_errors(record: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with a record beyond its fields' types, by field (empty: nothing)."""
    started, ended = record.get("started_at"), record.get("ended_at")
    if started is not None and ended is not None and ended < started:
        return {"ended_at": ["Ends before it starts."]}
    return {}


def record_flags(
    record: dict[str, Any],
    *,
    now: dt.datetime,
    outside_assigned_cell: bool,
    device_clock_skewed: bool,
    low_accuracy_m: float,
    clock_skew: dt.timedelta,
) -> list[str]:
    """Why a stored record deserves a second look (it is kept either way), in a fixed order.

    ``outside_assigned_cell``: the point lies farther than the GPS tolerance from the
    worker's cells that day (measured by the caller, in metres).
    """
    flags = []
    location = record["location"]
    if location is None:
        flags.append("no_location")
    else:
        accuracy = location.get("accuracy_m")
        if accuracy is not None and accuracy > low_accuracy_m:
            flags.append("low_accuracy")
        if outside_assigned_cell:
            flags.append("outside_assigned_cell")
    if record["mock_location"]:
        flags.append("mock_location")
    if device_clock_skewed or record["started_at"] > now + clock_skew:
        flags.append("clock_skew")
    return flags


def content_hash(item: dict[str, Any]) -> str:
    """The record's content, canonically: what makes two uploads "the same"."""
    body = {k: item.get(k) for k in RECORD_FIELDS}
    if item.get("programme_id") is not None:
        body.update({k: item.get(k) for k in SME_FIELDS})
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
        outline = to_shapely(self.community.geom) if self.community.geom else None
        self.crs = crs_for(outline) if outline is not None else None
        centre = outline.centroid if outline is not None else None
        self.centre = (centre.x, centre.y) if centre is not None else (0.0, 0.0)
        self._cells: dict[dt.date, tuple[list, list]] = {}
        self._assigned: dict[dt.date, Any] = {}
        cfg = settings()
        self.tolerance = float(cfg.gps_tolerance_m)
        self.low_accuracy = float(cfg.low_accuracy_m)
        self.skew = dt.timedelta(seconds=int(cfg.clock_skew_seconds))

    def cells(self, day: dt.date):
        if day not in self._cells:
            cells = cells_in_force_light(self.worker.area_id, day)
            self._cells[day] = (cells, cell_shapes([c.id for c in cells]))
        return self._cells[day]

    def assigned_area(self, day: dt.date):
        """The union of the worker's cells that day, in metres (None if they hold none)."""
        if day not in self._assigned:
            codes = {a.cell_code for a in open_assignments(self.worker.id, day)}
            cells, geoms = self.cells(day)
            mine = [g for c, g in zip(cells, geoms, strict=True) if c.code in codes]
            area = to_metric(shapely.union_all(mine), self.crs) if mine and self.crs else None
            if area is not None:
                shapely.prepare(area)
            self._assigned[day] = area
        return self._assigned[day]


@dataclass(frozen=True)
class CellRef:
    id: int
    code: str
    community_id: int


def cells_in_force_light(community_id: int, day: dt.date) -> list[CellRef]:
    """The cells of a community in force on a day, without their geometry."""
    rows = db.session.execute(
        select(GridCell.id, GridCell.code, GridCell.community_id)
        .where(
            GridCell.community_id == community_id,
            GridCell.in_force_on(day),
        )
        .order_by(GridCell.id)
    ).all()
    return [CellRef(*row) for row in rows]


# A cell put in force never changes shape (a new layout makes new cells), so its
# geometry can be kept in memory by id instead of being read for every batch.
_SHAPES: dict[int, Any] = {}


def cell_shapes(ids: list[int]) -> list[Any]:
    missing = [i for i in ids if i not in _SHAPES]
    if missing:
        if len(_SHAPES) > 20_000:
            _SHAPES.clear()
        for ident, geom in db.session.execute(
            select(GridCell.id, GridCell.geom).where(GridCell.id.in_(missing))
        ).all():
            _SHAPES[ident] = to_shapely(geom)
    return [_SHAPES[i] for i in ids]


def _place_rows(
    ctx: _Context, loaded: list[tuple[int, dict]], now: dt.datetime, device_time, places, device_id
) -> dict[int, dict]:
    """Flags, community and cell for every record, computed per day for the whole batch."""
    by_day: dict[dt.date, list[tuple[int, dict]]] = defaultdict(list)
    for index, item in loaded:
        by_day[item["started_at"].astimezone(zone()).date()].append((index, item))
    skewed = device_time is not None and abs(device_time - now) > ctx.skew
    rows: dict[int, dict] = {}
    for day, group in by_day.items():
        located = [(i, it) for i, it in group if it["location"] is not None]
        lon = np.array([it["location"]["lon"] for _, it in located], dtype=float)
        lat = np.array([it["location"]["lat"] for _, it in located], dtype=float)
        cells, geoms = ctx.cells(day)
        cell_idx = assign_points(lon, lat, geoms) if located else np.empty(0, int)
        mine = ctx.assigned_area(day)
        far = np.zeros(len(located), dtype=bool)
        if located and mine is not None:
            # Points beyond the reach of the community's local projection are far by any
            # measure: flagged without being projected.
            lon0, lat0 = ctx.centre
            near = (np.abs(lon - lon0) <= MAX_OFFSET_DEG / 2) & (
                np.abs(lat - lat0) <= MAX_OFFSET_DEG / 2
            )
            far[:] = True
            if near.any():
                pts = shapely.get_parts(
                    to_metric(shapely.MultiPoint(np.column_stack([lon[near], lat[near]])), ctx.crs)
                )
                far[near] = shapely.distance(mine, pts) > ctx.tolerance
        where = {i: k for k, (i, _) in enumerate(located)}
        for index, item in group:
            loc = item["location"]
            k = where.get(index)
            flags = record_flags(
                item,
                now=now,
                outside_assigned_cell=k is not None and bool(far[k]),
                device_clock_skewed=skewed,
                low_accuracy_m=ctx.low_accuracy,
                clock_skew=ctx.skew,
            )
            community_id, cell_code = ctx.worker.area_id, None
            if k is not None and cell_idx[k] >= 0:
                cell = cells[cell_idx[k]]
                community_id, cell_code = cell.community_id, cell.code
            elif item["place_id"] is not None:
                community_id = places[item["place_id"]].area_id
            rows[index] = {
                "uuid": item["uuid"],
                "worker_id": ctx.worker.id,
                "device_id": device_id,
                "kind": item["type"],
                "place_id": item["place_id"],
                "started_at": item["started_at"],
                "ended_at": item["ended_at"],
                "geom": f"SRID=4326;POINT({loc['lon']!r} {loc['lat']!r})" if loc else None,
                "accuracy_m": loc["accuracy_m"] if loc else None,
                "mock_location": item["mock_location"],
                "notes": item["notes"],
                "answers": item["answers"],
                "attachments": item["attachments"],
                "flags": flags,
                "community_id": community_id,
                "cell_code": cell_code,
                "content_hash": content_hash(item),
                "version": 1,
                "received_at": now,
                "updated_at": now,
            }
    return rows


def upload(
    principal: Principal,
    items: list[dict[str, Any] | Rejected],
    device_time: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Store a batch of visit records and cases; one result per item, in the batch's order.

    Each item is a record checked by the API's item schema (keys as in ``content_hash``
    plus ``uuid`` and ``base_version``), a case (``type`` case, :mod:`.cases`), or a
    :class:`Rejected` one, reported as such.

    An ``sme_visit`` naming a ``programme_id`` is an SME visit record of that programme:
    checked by :func:`gridserve.services.outreach.visits.check_terminal` (``rejected`` with
    ``unknown_enterprise`` or ``invalid_sme_visit``), and when its row is created here, its
    visit record is made with it (a retry is ``duplicate`` and makes none).
    """
    worker = _worker(principal)
    if len(items) > MAX_BATCH:
        raise Conflict(f"At most {MAX_BATCH} items per batch.", code="batch_too_large")
    ctx = _Context(worker)
    now = utcnow()
    results: list[ItemResult] = []
    seen: set[str] = set()
    loaded: list[tuple[int, dict]] = []
    cases: list[tuple[int, dict]] = []
    for item in items:
        if isinstance(item, Rejected):
            results.append(ItemResult(item.uuid, "rejected", errors=item.errors, code=item.code))
            continue
        if item["uuid"] in seen:
            results.append(ItemResult(item["uuid"], "rejected", code="duplicate_in_batch",
                                      errors={"uuid": ["Twice in this batch."]}))  # fmt: skip
            continue
        seen.add(item["uuid"])
        results.append(ItemResult(item["uuid"], "pending"))
        if item["type"] == "case":
            cases.append((len(results) - 1, item))
        else:
            loaded.append((len(results) - 1, item))

    sme = [(index, item) for index, item in loaded if item.get("programme_id") is not None]
    if sme:
        refused = sme_service.check_terminal(worker, sme)
        for index, (code, errors) in refused.items():
            results[index] = ItemResult(results[index].uuid, "rejected", code=code, errors=errors)
        loaded = [(index, item) for index, item in loaded if index not in refused]

    place_ids = {item["place_id"] for _, item in loaded if item["place_id"] is not None}
    places = {}
    if place_ids:
        places = {
            p.id: p
            for p in db.session.execute(
                visible(Place, principal).where(Place.id.in_(place_ids))
            ).scalars()
        }
    known = []
    for index, item in loaded:
        if item["place_id"] is not None and item["place_id"] not in places:
            results[index] = ItemResult(
                item["uuid"], "rejected", code="unknown_place",
                errors={"place_id": ["No such place in your area."]},
            )  # fmt: skip
        else:
            known.append((index, item))
    rows = _place_rows(ctx, known, now, device_time, places, principal.device_id)
    fresh, edits = [], []
    for index, item in known:
        results[index].flags = rows[index]["flags"]
        if item["base_version"]:
            edits.append((index, rows[index], item["base_version"]))
        else:
            fresh.append((index, rows[index]))

    _insert_new(fresh, results)
    sme_service.record_from_terminal(
        worker,
        [item for index, item in known
         if item.get("programme_id") is not None and results[index].status == "created"],
    )  # fmt: skip
    for index, row, base in edits:
        results[index] = _apply_edit(worker, row, base, results[index].flags)
    if cases:
        today = now.astimezone(zone()).date()
        outcomes = case_service.store(principal, [item for _, item in cases], today)
        for (index, item), done in zip(cases, outcomes, strict=True):
            results[index] = ItemResult(
                item["uuid"], done.status, errors=done.errors, code=done.code,
                version=done.version, task_id=done.task_id,
            )  # fmt: skip

    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    audit.record("visits_upload", "workers", worker.id, dict(counts))
    metrics.record_sync_upload(counts)
    return [r.as_dict() for r in results]


# One statement for the whole batch: the rows travel as arrays and are unnested on the
# server, so 500 records cost one parse, one plan and one round trip.
_PG_INSERT = """
INSERT INTO visits (uuid, worker_id, device_id, kind, place_id, started_at, ended_at, geom,
    accuracy_m, mock_location, notes, answers, attachments, flags, community_id, cell_code,
    content_hash, version, received_at, updated_at)
SELECT t.u, %(worker_id)s, %(device_id)s, t.k, t.p, t.s, t.e, ST_GeomFromEWKT(t.g), t.a, t.m,
    t.n, t.ans::jsonb, t.att::jsonb, t.fl::jsonb, t.c, t.cc, t.h, 1, %(now)s, %(now)s
FROM unnest(%(uuid)s::text[], %(kind)s::text[], %(place)s::int[], %(started)s::timestamptz[],
    %(ended)s::timestamptz[], %(geom)s::text[], %(acc)s::float8[], %(mock)s::bool[],
    %(notes)s::text[], %(ans)s::text[], %(att)s::text[], %(fl)s::text[], %(comm)s::int[],
    %(cell)s::text[], %(hash)s::text[])
    AS t(u, k, p, s, e, g, a, m, n, ans, att, fl, c, cc, h)
ON CONFLICT (uuid) DO NOTHING
RETURNING uuid
"""


def _insert_rows(rows: list[dict]) -> set[str]:
    """Insert what is new; return the UUIDs this statement inserted (the database decides)."""
    if db.engine.dialect.name == "postgresql":
        first = rows[0]

        def col(key: str) -> list:
            return [row[key] for row in rows]

        def js(key: str) -> list[str]:
            return [json.dumps(row[key], ensure_ascii=False) for row in rows]

        # psycopg sends a list as one typed array: 5 and 12.5 must both be floats.
        accuracy = [None if v is None else float(v) for v in col("accuracy_m")]
        params = {
            "worker_id": first["worker_id"], "device_id": first["device_id"],
            "now": first["received_at"], "uuid": col("uuid"), "kind": col("kind"),
            "place": col("place_id"), "started": col("started_at"), "ended": col("ended_at"),
            "geom": col("geom"), "acc": accuracy, "mock": col("mock_location"),
            "notes": col("notes"), "ans": js("answers"), "att": js("attachments"),
            "fl": js("flags"), "comm": col("community_id"), "cell": col("cell_code"),
            "hash": col("content_hash"),
        }  # fmt: skip
        conn = db.session.connection().connection.driver_connection
        with conn.cursor() as cur:
            cur.execute(_PG_INSERT, params)
            return {r[0] for r in cur.fetchall()}
    table = Visit.__table__
    stmt = (
        insert_for(table)
        .on_conflict_do_nothing(index_elements=[table.c.uuid])
        .returning(table.c.uuid)
    )
    return set(db.session.execute(stmt, rows).scalars())


def _insert_new(fresh: list[tuple[int, dict]], results: list[ItemResult]) -> None:
    if not fresh:
        return
    rows = [row for _, row in fresh]
    created = _insert_rows(rows)
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
    keep = ("uuid", "worker_id", "received_at", "version")  # version: bumped by the UPDATE
    values = {k: v for k, v in row.items() if k not in keep}
    table = Visit.__table__
    done = update_versioned(
        table, base, table.c.uuid == row["uuid"], table.c.worker_id == worker.id, **values
    )
    if done is not None:
        return ItemResult(row["uuid"], "updated", flags=flags, version=done)
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
        code=STALE_VERSION,  # a per-record answer in the upload; edit() turns it into the 409
        version=stored[2],
        errors={"base_version": [f"The record is at version {stored[2]}, not {base}."]},
    )


def edit(principal: Principal, item: dict[str, Any]) -> dict[str, Any]:
    """One checked record edited online: 409 when it changed since the terminal's version."""
    uuid = item["uuid"]
    [result] = upload(principal, [item])
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
        stmt = stmt.where(in_area(Visit.community_id, area))
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
