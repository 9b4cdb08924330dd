"""Grid layouts: generate, measure, edit, read; and the cells in force on a day.

A plan covers a street (cells nested in its communities) or one community.
Geometry work happens in a local equal-area projection (metres); cells are
stored in EPSG:4326. Every plan and every edit is measured against the plan's
boundary: gaps and overlaps must stay under 1 m², every place must land in
exactly one cell, and an edit that breaks that is refused. Proposing, approving
and putting a plan in force are in :mod:`gridserve.services.geography.grid_workflow`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import shapely
from geoalchemy2 import WKTElement
from pyproj import CRS
from shapely.errors import ShapelyError
from shapely.geometry import LineString, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, func, select

from geo import partition
from geo.assign import assign_points
from geo.coverage import coverage
from geo.errors import GeometryError
from geo.lineage import trace
from geo.projection import crs_for, to_metric, to_wgs84
from geo.validate import as_multipolygon
from gridserve import audit
from gridserve.errors import Conflict, ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, GridCell, GridPlan
from gridserve.pagination import apply_sort
from gridserve.scope import Principal, get_visible, in_area, visible
from gridserve.services.geography.grid_drawing import (
    Ground,
    coverage_details,
    generate,
    ground,
    measure,
    weighted_places,
)
from gridserve.services.geography.places import current_cells
from gridserve.spatial import refuse, to_db, to_shapely
from gridserve.versioning import refuse_stale, update_versioned

PLANNERS = ("street_centre", "district_centre")
# Who may generate a draft to compare: the planners, and the coordinator (what-if layouts
# beside the outreach map); only planners edit, propose or approve.
DRAFTERS = (*PLANNERS, "coordinator")
APPROVERS = ("district_centre",)
PROPOSERS = ("street_centre",)
SORTABLE = {"id": GridPlan.id, "created_at": GridPlan.created_at, "status": GridPlan.status}


# --- generation --------------------------------------------------------------------------


def _next_seq(community_id: int) -> int:
    used = db.session.execute(
        select(func.max(GridCell.seq)).where(
            GridCell.community_id == community_id, GridCell.valid_from.is_not(None)
        )
    ).scalar()
    return (used or 0) + 1


def _codes(g: Ground, cells: list[tuple[int, BaseGeometry]], on: dt.date) -> list[tuple[str, int]]:
    """Stable codes: a cell that continues one in force keeps its code; others get new ones."""
    result: list[tuple[str, int] | None] = [None] * len(cells)
    for i, community in enumerate(g.communities):
        mine = [k for k, (ci, _) in enumerate(cells) if ci == i]
        old = current_cells([community.id], on)
        lineage = trace(
            [to_metric(to_shapely(c.geom), g.crs) for c in old], [cells[k][1] for k in mine]
        )
        for j, o in lineage.inherited.items():
            result[mine[j]] = (old[o].code, old[o].seq)
        seq = _next_seq(community.id)
        for k in mine:
            if result[k] is None:
                result[k] = (f"{community.code}-{seq:03d}", seq)
                seq += 1
    return result  # type: ignore[return-value]


def _store_cells(
    plan: GridPlan, g: Ground, cells: list[tuple[int, BaseGeometry]], today: dt.date
) -> None:
    metrics, per_cell = measure(g, cells)
    codes = _codes(g, cells, today)
    for cell in list(plan.cells):
        plan.cells.remove(cell)
    db.session.flush()
    for (i, geom), (code, seq), figures in zip(cells, codes, per_cell, strict=True):
        plan.cells.append(
            GridCell(
                community_id=g.communities[i].id,
                code=code,
                seq=seq,
                geom=to_db(as_multipolygon(to_wgs84(geom, g.crs)), multi=True),
                **figures,
            )
        )
    plan.metrics = {**metrics, **{k: v for k, v in plan.metrics.items() if k == "seconds"}}


def expected_cells(principal: Principal, area_id: int, data: dict[str, Any]) -> int:
    """How many cells a plan request asks for, before any is drawn (404 out of scope):
    ``balanced``/``blocks`` the number given; ``square``/``hex`` the area's size over one
    cell's (an estimate: clipping at the border adds some). 0 when it cannot be told or the
    request is refused before anything is drawn (no boundary, no size, more cells than places
    with workload): the request then fails at once as it would have."""
    area = get_visible(Area, area_id, principal)
    if data.get("method") not in ("square", "hex"):
        n = int(data.get("cells") or 0)
        return n if n <= weighted_places(area, data.get("weights")) else 0
    size = data.get("size_m")
    if not size or area.geom is None:
        return 0
    outline = to_shapely(area.geom)
    cell_m2 = size * size if data["method"] == "square" else size * size * 3**0.5 / 2
    return int(to_metric(outline, crs_for(outline)).area // cell_m2) + 1


def create_plan(
    principal: Principal,
    area_id: int,
    data: dict[str, Any],
    today: dt.date,
    progress: Callable[[float, str], None] | None = None,
) -> GridPlan:
    """Generate a draft layout by one of the methods and store it with its metrics.

    ``progress(fraction, step)``: told as the work goes on (a job's progress).
    """
    principal.require(*DRAFTERS)
    area = get_visible(Area, area_id, principal)
    report = progress or (lambda _fraction, _step: None)
    started = time.perf_counter()
    report(0.05, "reading_area")
    g = ground(area, data.get("weights"))
    report(0.2, "drawing_cells")
    cells = generate(g, data["method"], data)
    report(0.7, "measuring")
    seconds = round(time.perf_counter() - started, 3)
    params = {k: v for k, v in data.items() if k not in ("roads", "name")}
    if data.get("roads") is not None:
        params["roads"] = len(data["roads"].get("features", []))
    plan = GridPlan(
        area_id=area.id,
        name=data.get("name") or f"{area.name} {data['method']} {today.isoformat()}",
        method=data["method"],
        params=params,
        status="draft",
        created_by=principal.user_id or None,
        metrics={"seconds": seconds},
    )
    db.session.add(plan)
    _store_cells(plan, g, cells, today)
    plan.metrics = {**plan.metrics, "seconds": seconds}
    db.session.flush()
    return plan


# --- reading -----------------------------------------------------------------------------


def list_plans(
    principal: Principal, area_id: int, status: str | None = None, sort: str | None = None
) -> Select:
    area = get_visible(Area, area_id, principal)
    stmt = visible(GridPlan, principal).where(GridPlan.area_id == area.id)
    if status:
        stmt = stmt.where(GridPlan.status == status)
    return apply_sort(stmt, sort, SORTABLE, "-id", GridPlan.id)


def get_plan(principal: Principal, plan_id: int) -> GridPlan:
    return get_visible(GridPlan, plan_id, principal)


def active_plan(area_id: int) -> GridPlan | None:
    return db.session.execute(
        select(GridPlan).where(GridPlan.area_id == area_id, GridPlan.status == "active")
    ).scalar_one_or_none()


# --- editing a draft ---------------------------------------------------------------------


def _editable(principal: Principal, plan_id: int, version: int | None) -> GridPlan:
    """Claim a draft for one edit: a conditional UPDATE bumps its version, or 409.

    The row stays locked until the request ends, so a proposal or another edit
    racing this one waits, then finds the version moved on.
    """
    principal.require(*PLANNERS)
    plan = get_plan(principal, plan_id)
    claimed = update_versioned(
        GridPlan, version, GridPlan.id == plan.id, GridPlan.status == "draft"
    )
    db.session.refresh(plan)
    if claimed is None:
        if plan.status != "draft":
            raise Conflict(
                f"Plan {plan.id} is {plan.status}; only drafts can be edited.",
                code="plan_not_editable",
                details={"status": plan.status},
            )
        refuse_stale(
            "The plan changed since you loaded it.", expected=version, current=plan.version
        )
    return plan


def _line(payload: Any, crs: CRS) -> LineString:
    try:
        geom = shape(payload)
    except (ValueError, TypeError, AttributeError, IndexError, ShapelyError) as exc:
        raise ValidationFailed(
            "The line must be a GeoJSON LineString.",
            code="invalid_geometry",
            details={"fields": {"line": ["A GeoJSON LineString."]}},
        ) from exc
    if not isinstance(geom, LineString) or geom.is_empty:
        raise ValidationFailed(
            "The line must be a GeoJSON LineString.",
            code="wrong_geometry_type",
            details={"fields": {"line": ["A GeoJSON LineString."]}},
        )
    try:
        return to_metric(geom, crs)
    except GeometryError as exc:
        raise refuse(exc) from exc


def edit_plan(principal: Principal, plan_id: int, op: dict[str, Any], today: dt.date) -> GridPlan:
    """Merge, split or redraw cells of a draft; refuse any edit that breaks the coverage."""
    plan = _editable(principal, plan_id, op.get("version"))
    area = db.session.get(Area, plan.area_id)
    g = ground(area, plan.params.get("weights"))
    index = {c.id: i for i, c in enumerate(g.communities)}
    cells = [(index[c.community_id], to_metric(to_shapely(c.geom), g.crs)) for c in plan.cells]
    codes = [c.code for c in plan.cells]

    def find(code: str) -> int:
        if code not in codes:
            raise ValidationFailed(
                f"No cell {code} in plan {plan.id}.",
                code="unknown_cell",
                details={"cell": code},
            )
        return codes.index(code)

    kind = op["op"]
    try:
        if kind == "merge":
            a, b = (find(c) for c in op["cells"])
            if cells[a][0] != cells[b][0]:
                raise ValidationFailed(
                    "Cells of different communities cannot be merged.",
                    code="different_communities",
                )
            shared = cells[a][1].boundary.intersection(cells[b][1].boundary).length
            if shared <= 0:
                raise ValidationFailed(
                    f"{codes[a]} and {codes[b]} do not share a border.", code="not_adjacent"
                )
            merged = shapely.union(cells[a][1], cells[b][1])
            new = [(cells[a][0], merged)]
            drop = {a, b}
        elif kind == "split":
            a = find(op["cell"])
            community, geom = cells[a]
            if op.get("line") is not None:
                parts = partition.split_by_line(geom, _line(op["line"], g.crs))
            else:
                inside = assign_points(g.xy[:, 0], g.xy[:, 1], [geom]) == 0
                parts = partition.split(geom, g.xy[inside], g.weights[inside], op["parts"])
            new = [(community, p) for p in parts]
            drop = {a}
        else:  # redraw
            a, b = (find(c) for c in op["cells"])
            union = shapely.union(cells[a][1], cells[b][1])
            parts = partition.split_by_line(union, _line(op["line"], g.crs))
            first = max(parts, key=lambda p: p.intersection(cells[a][1]).area)
            second = next(p for p in parts if p is not first)
            if cells[a][0] != cells[b][0]:
                for part, (community, _) in ((first, cells[a]), (second, cells[b])):
                    outside = part.difference(g.regions[community]).area
                    if outside > 1.0:
                        raise ValidationFailed(
                            "A border between communities cannot move.",
                            code="crosses_community_border",
                            details={"outside_area_m2": round(outside, 1)},
                        )
            new = [(cells[a][0], first), (cells[b][0], second)]
            drop = {a, b}
    except partition.PartitionError as exc:
        raise ValidationFailed(str(exc), code=exc.code) from exc
    result = [c for i, c in enumerate(cells) if i not in drop] + new
    cov = coverage(g.region, [c for _, c in result])
    if not cov.exact:
        raise ValidationFailed(
            "That edit would leave a gap or an overlap.",
            code="coverage_broken",
            details=coverage_details(cov, g.crs),
        )
    _store_cells(plan, g, result, today)
    db.session.flush()
    audit.record("grid_plan_edit", "grid_plans", plan.id, {k: v for k, v in op.items()})
    return plan


def discard_plan(principal: Principal, plan_id: int) -> None:
    plan = _editable(principal, plan_id, None)  # locks it as a draft
    db.session.delete(plan)
    db.session.flush()


# --- cells in force ----------------------------------------------------------------------


def cells_in_force(
    principal: Principal, area_id: int, on: dt.date, bbox: list[float] | None = None
) -> list[GridCell]:
    area = get_visible(Area, area_id, principal)
    stmt = (
        visible(GridCell, principal)
        .where(
            in_area(GridCell.community_id, area),
            GridCell.in_force_on(on),
        )
        .order_by(GridCell.code)
    )
    if bbox:
        stmt = stmt.where(func.ST_Intersects(GridCell.geom, _envelope(bbox)))
    return list(db.session.execute(stmt).scalars())


def plan_cells(principal: Principal, plan_id: int, bbox: list[float] | None = None):
    plan = get_plan(principal, plan_id)
    stmt = select(GridCell).where(GridCell.plan_id == plan.id).order_by(GridCell.code)
    if bbox:
        stmt = stmt.where(func.ST_Intersects(GridCell.geom, _envelope(bbox)))
    return list(db.session.execute(stmt).scalars())


def _envelope(bbox: list[float]):
    minx, miny, maxx, maxy = bbox
    wkt = f"POLYGON(({minx} {miny},{maxx} {miny},{maxx} {maxy},{minx} {maxy},{minx} {miny}))"
    return WKTElement(wkt, srid=4326)


def feature_collection(
    cells: list[GridCell], tolerance_m: float | None, on: dt.date | None = None
) -> dict[str, Any]:
    """Cells as GeoJSON; simplified together so neighbours keep sharing their borders.

    With ``on``, each cell carries the worker assigned to it that day.
    """
    from gridserve.services.field.workers import assigned_worker

    workers = {c.code: assigned_worker(c.code, on) for c in cells} if on else {}
    geoms = [to_shapely(c.geom) for c in cells]
    if tolerance_m and geoms:
        geoms = list(shapely.coverage_simplify(geoms, tolerance_m / 111_320.0))
    codes = {}
    if cells:
        ids = {c.community_id for c in cells}
        codes = dict(db.session.execute(select(Area.id, Area.code).where(Area.id.in_(ids))).all())
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": c.id,
                "geometry": json.loads(shapely.to_geojson(geom)),
                "properties": {
                    "id": c.id,
                    "code": c.code,
                    "community": codes.get(c.community_id),
                    "plan_id": c.plan_id,
                    "workload": round(c.workload, 3),
                    "place_count": c.place_count,
                    "area_m2": round(c.area_m2, 1),
                    "valid_from": c.valid_from.isoformat() if c.valid_from else None,
                    "valid_to": c.valid_to.isoformat() if c.valid_to else None,
                    "worker": (
                        {"id": w.id, "full_name": w.full_name}
                        if (w := workers.get(c.code)) is not None
                        else None
                    ),
                },
            }
            for c, geom in zip(cells, geoms, strict=True)
        ],
    }
