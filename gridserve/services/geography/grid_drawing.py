"""Drawing a layout: the ground a plan is drawn on, the methods that cut it, the measures.

The ground is the plan's boundary, its places with their workload weights and
the roads a planner draws, all in a local equal-area projection (metres).
:mod:`gridserve.services.grid` stores, edits and activates what is drawn here.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from shapely.errors import ShapelyError
from shapely.geometry import LineString, MultiLineString, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select

from geo import partition, regular
from geo.apportion import largest_remainder
from geo.assign import assign_points
from geo.coverage import coverage, polsby_popper
from geo.errors import GeometryError
from geo.projection import WGS84, crs_for, to_metric, to_wgs84, transform
from geo.validate import check_valid, declared_crs
from gridserve.config import settings
from gridserve.errors import ValidationFailed
from gridserve.extensions import db
from gridserve.models import Area, Place
from gridserve.spatial import refuse, to_shapely

# --- the plan's world in metres ----------------------------------------------------------


@dataclass
class Ground:
    """A plan area, its communities and places, projected to metres."""

    area: Area
    crs: CRS
    communities: list[Area]
    regions: list[BaseGeometry]  # metric, one per community
    region: BaseGeometry  # metric union: the plan's boundary
    xy: np.ndarray  # (n, 2) metric place coordinates
    weights: np.ndarray  # (n,)
    place_ids: np.ndarray  # (n,)
    community_of: np.ndarray  # (n,) index into communities, -1 outside
    weight_table: dict[str, float]

    def mask(self, i: int) -> np.ndarray:
        return self.community_of == i


def _weights(overrides: dict[str, float] | None) -> dict[str, float]:
    table = dict(settings().workload_weights)
    if overrides:
        table = {k: float(v) for k, v in overrides.items()}
    return table


def weighted_places(area: Area, weight_overrides: dict[str, float] | None = None) -> int:
    """How many places of the plan area's communities carry workload (as :func:`ground`
    counts them, without reading them)."""
    types = [t for t, w in _weights(weight_overrides).items() if w > 0]
    if area.level == "community":
        ids = [area.id]
    else:
        ids = [c.id for c in area.children if c.level == "community"]
    if not types or not ids:
        return 0
    return db.session.execute(
        select(func.count()).select_from(Place).where(Place.area_id.in_(ids), Place.type.in_(types))
    ).scalar_one()


def ground(area: Area, weight_overrides: dict[str, float] | None = None) -> Ground:
    if area.level not in ("street", "community"):
        raise ValidationFailed(
            "Grid layouts are made for a street or a community.", code="invalid_plan_area"
        )
    if area.geom is None:
        raise ValidationFailed(f"{area.code} has no boundary yet.", code="no_boundary")
    outline = to_shapely(area.geom)
    crs = crs_for(outline)
    if area.level == "community":
        communities = [area]
    else:
        communities = [c for c in area.children if c.level == "community"]
        if not communities or any(c.geom is None for c in communities):
            raise ValidationFailed(
                f"{area.code} needs community boundaries before it can be divided.",
                code="no_communities",
            )
    regions = [to_metric(to_shapely(c.geom), crs) for c in communities]
    region = to_metric(outline, crs)
    if area.level == "street":
        cov = coverage(region, regions)
        if not cov.exact:
            where = cov.gap_location or cov.overlap_location
            raise ValidationFailed(
                f"The communities of {area.code} do not tile it exactly, so cells nested in "
                "them cannot either.",
                code="communities_do_not_cover",
                details=coverage_details(cov, crs) | {"location": _lonlat(where, crs)},
            )
    table = _weights(weight_overrides)
    rows = db.session.execute(
        select(Place.id, Place.type, func.ST_X(Place.geom), func.ST_Y(Place.geom)).where(
            Place.area_id.in_([c.id for c in communities])
        )
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    w = np.array([table.get(r[1], 0.0) for r in rows], dtype=float)
    lon = np.array([r[2] for r in rows], dtype=float)
    lat = np.array([r[3] for r in rows], dtype=float)
    if rows:
        pts = to_metric(shapely.MultiPoint(np.column_stack([lon, lat])), crs)
        xy = shapely.get_coordinates(pts)
    else:
        xy = np.empty((0, 2))
    community_of = assign_points(xy[:, 0], xy[:, 1], regions) if rows else np.empty(0, int)
    return Ground(area, crs, communities, regions, region, xy, w, ids, community_of, table)


def _lonlat(where: tuple[float, float] | None, crs: CRS) -> list[float] | None:
    if where is None:
        return None
    p = to_wgs84(shapely.Point(where), crs)
    return [round(p.x, 7), round(p.y, 7)]


def coverage_details(cov, crs: CRS) -> dict[str, Any]:
    return {
        "gap_area_m2": cov.gap_area_m2,
        "overlap_area_m2": cov.overlap_area_m2,
        "gap_location": _lonlat(cov.gap_location, crs),
        "overlap_location": _lonlat(cov.overlap_location, crs),
    }


# --- generation --------------------------------------------------------------------------


def _roads(payload: Any, crs: CRS) -> list[LineString]:
    if payload is None:
        raise ValidationFailed(
            "The blocks method needs the street and lane network as GeoJSON LineStrings.",
            details={"fields": {"roads": ["Required for method blocks."]}},
        )
    try:
        src = declared_crs(payload) if isinstance(payload, dict) else None
    except GeometryError as exc:
        raise refuse(exc) from exc
    features = payload.get("features") if isinstance(payload, dict) else None
    if payload.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise ValidationFailed(
            "Send the roads as a GeoJSON FeatureCollection.", code="invalid_geojson"
        )
    lines: list[LineString] = []
    for i, feat in enumerate(features):
        geometry = (feat or {}).get("geometry") if isinstance(feat, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in ("LineString", "MultiLineString"):
            raise ValidationFailed(
                f"Road {i} is a {kind}, not a LineString.",
                code="wrong_geometry_type",
                details={"feature": i, "expected": ["LineString", "MultiLineString"]},
            )
        try:
            geom = shape(geometry)
            if src is not None and src != WGS84:
                geom = transform(geom, src, WGS84)
            check_valid(geom, i)
        except GeometryError as exc:
            raise refuse(exc) from exc
        except (ValueError, TypeError, IndexError, ShapelyError) as exc:
            raise ValidationFailed(
                f"Road {i} is not a valid LineString.",
                code="invalid_geometry",
                details={"feature": i},
            ) from exc
        geom = to_metric(geom, crs)
        lines.extend(geom.geoms if isinstance(geom, MultiLineString) else [geom])
    return lines


def generate(g: Ground, method: str, data: dict[str, Any]) -> list[tuple[int, BaseGeometry]]:
    max_cells = settings().max_cells
    out: list[tuple[int, BaseGeometry]] = []
    try:
        if method in ("square", "hex"):
            size = data.get("size_m")
            if size is None:
                raise ValidationFailed(
                    f"The {method} method needs a cell size.",
                    details={"fields": {"size_m": ["Required for square and hex."]}},
                )
            make = regular.square if method == "square" else regular.hexagon
            for i, region in enumerate(g.regions):
                out += [(i, c) for c in make(region, size, max_cells=max_cells)]
            if len(out) > max_cells:
                raise GeometryError(
                    "too_many_cells",
                    f"That size gives {len(out)} cells; the limit is {max_cells}.",
                    cells=len(out),
                    limit=max_cells,
                )
            return out
        n = data.get("cells")
        if n is None:
            raise ValidationFailed(
                f"The {method} method needs the number of cells.",
                details={"fields": {"cells": ["Required for balanced and blocks."]}},
            )
        if n > max_cells:
            raise GeometryError(
                "too_many_cells",
                f"{n} cells is over the configured limit of {max_cells}.",
                cells=n,
                limit=max_cells,
            )
        weighted = int((g.weights > 0).sum())
        if n > weighted:
            raise GeometryError(
                "too_many_cells",
                f"{n} cells but only {weighted} weighted places: a cell would have no workload.",
                cells=n,
                places=weighted,
            )
        loads = [float(g.weights[g.mask(i)].sum()) for i in range(len(g.communities))]
        shares = largest_remainder(loads, n)
        roads = _roads(data.get("roads"), g.crs) if method == "blocks" else []
        for i, (region, k) in enumerate(zip(g.regions, shares, strict=True)):
            m = g.mask(i)
            if method == "balanced":
                cells = partition.balanced(region, g.xy[m], g.weights[m], k)
            else:
                cells = partition.blocks(region, roads, g.xy[m], g.weights[m], k)
            out += [(i, c) for c in cells]
        return out
    except partition.PartitionError as exc:
        raise ValidationFailed(str(exc), code=exc.code) from exc
    except GeometryError as exc:
        raise refuse(exc) from exc


def measure(g: Ground, cells: list[tuple[int, BaseGeometry]]) -> tuple[dict, list[dict]]:
    """Plan metrics and per-cell figures, all in metres."""
    geoms = [c for _, c in cells]
    idx = assign_points(g.xy[:, 0], g.xy[:, 1], geoms) if len(g.xy) else np.empty(0, int)
    loads = np.bincount(idx[idx >= 0], weights=g.weights[idx >= 0], minlength=len(geoms))
    counts = np.bincount(idx[idx >= 0], minlength=len(geoms))
    areas = np.array([c.area for c in geoms]) if geoms else np.zeros(0)
    compact = np.array([polsby_popper(c) for c in geoms]) if geoms else np.zeros(0)
    cov = coverage(g.region, geoms)
    mean = float(loads.mean()) if len(loads) else 0.0
    metrics = {
        "cell_count": len(geoms),
        "workload": {
            "min": round(float(loads.min()), 3) if len(loads) else 0,
            "mean": round(mean, 3),
            "max": round(float(loads.max()), 3) if len(loads) else 0,
        },
        "balance_ratio": round(float(loads.max()) / mean, 4) if mean > 0 else None,
        "area_m2": {
            "min": round(float(areas.min()), 1) if len(areas) else 0,
            "mean": round(float(areas.mean()), 1) if len(areas) else 0,
            "max": round(float(areas.max()), 1) if len(areas) else 0,
        },
        "compactness": {
            "min": round(float(compact.min()), 4) if len(compact) else 0,
            "mean": round(float(compact.mean()), 4) if len(compact) else 0,
        },
        **coverage_details(cov, g.crs),
        "places_total": len(g.xy),
        "places_unassigned": int((idx < 0).sum()) if len(g.xy) else 0,
        "weights": g.weight_table,
    }
    per_cell = [
        {
            "workload": float(loads[i]),
            "place_count": int(counts[i]),
            "area_m2": float(areas[i]),
            "compactness": float(compact[i]),
        }
        for i in range(len(geoms))
    ]
    return metrics, per_cell
