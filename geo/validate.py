"""GeoJSON in: structure, CRS, type, closure, validity, size. Every refusal says why and where.

``read_polygons`` turns a GeoJSON Feature, FeatureCollection or bare geometry
into WGS84 shapely (Multi)Polygons with their properties, or raises
:class:`GeometryError` naming the feature, the GEOS reason
(``shapely.validation.explain_validity``) and the location.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import shapely
from pyproj import CRS
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo.errors import GeometryError
from geo.projection import WGS84, area_m2, parse_crs, transform

POLYGONAL = ("Polygon", "MultiPolygon")
_LOCATION = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")


@dataclass
class Limits:
    max_vertices: int = 100_000
    max_area_km2: float = 10_000.0


@dataclass
class Feature:
    index: int
    geometry: BaseGeometry
    properties: dict[str, Any] = field(default_factory=dict)


def declared_crs(obj: dict[str, Any]) -> CRS:
    crs = obj.get("crs")
    if crs is None:
        return WGS84
    if isinstance(crs, str):
        return parse_crs(crs)
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = crs["properties"].get("name")
        if isinstance(name, str):
            parsed = parse_crs(name)
            return WGS84 if parsed.equals(CRS.from_user_input("OGC:CRS84")) else parsed
    raise GeometryError(
        "unknown_crs",
        'The \'crs\' member must name a CRS, e.g. {"type": "name", '
        '"properties": {"name": "EPSG:3857"}}.',
        crs=crs,
    )


def _features(obj: Any) -> list[tuple[int, dict | None, dict[str, Any]]]:
    if not isinstance(obj, dict) or "type" not in obj:
        raise GeometryError("invalid_geojson", "Expected a GeoJSON object with a 'type'.")
    kind = obj["type"]
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list):
            raise GeometryError("invalid_geojson", "A FeatureCollection needs a 'features' list.")
        if not feats:
            raise GeometryError("empty_geometry", "The FeatureCollection has no features.")
        out = []
        for i, feat in enumerate(feats):
            if not isinstance(feat, dict) or feat.get("type") != "Feature":
                raise GeometryError(
                    "invalid_geojson", f"Feature {i} is not a GeoJSON Feature.", feature=i
                )
            out.append((i, feat.get("geometry"), _properties(feat, i)))
        return out
    if kind == "Feature":
        return [(0, obj.get("geometry"), _properties(obj, 0))]
    return [(0, obj, {})]


def _properties(feature: dict, index: int) -> dict[str, Any]:
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise GeometryError(
            "invalid_geojson", f"Feature {index}: 'properties' must be an object.", feature=index
        )
    return props


def _finite(v: Any) -> bool:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_rings(coords: Any, kind: str, index: int) -> int:
    """Closure and minimum size of every ring, before shapely quietly closes them."""
    polygons = [coords] if kind == "Polygon" else coords
    if not isinstance(polygons, list):
        raise GeometryError("invalid_geojson", "Coordinates must be arrays.", feature=index)
    vertices = 0
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise GeometryError("empty_geometry", "A polygon has no rings.", feature=index)
        for ring in polygon:
            if not isinstance(ring, list) or not all(
                isinstance(p, list) and 2 <= len(p) <= 3 for p in ring
            ):
                raise GeometryError(
                    "invalid_geojson", "A ring must be an array of positions.", feature=index
                )
            if any(not _finite(v) for p in ring for v in p) or len({len(p) for p in ring}) > 1:
                raise GeometryError(
                    "invalid_geojson",
                    "Coordinates must be finite numbers, all 2D or all 3D.",
                    feature=index,
                )
            if len(ring) < 4:
                raise GeometryError(
                    "invalid_geometry",
                    f"A ring has {len(ring)} positions; a closed ring needs at least 4.",
                    feature=index,
                    reason="Too few points",
                    location=ring[0][:2] if ring else None,
                )
            if ring[0][:2] != ring[-1][:2]:
                raise GeometryError(
                    "invalid_geometry",
                    "A ring is not closed: its first and last positions differ.",
                    feature=index,
                    reason="Ring not closed",
                    location=ring[0][:2],
                )
            vertices += len(ring)
    return vertices


def check_valid(geom: BaseGeometry, index: int = 0) -> None:
    """Refuse an invalid geometry with GEOS's reason and the point where it fails."""
    if shapely.is_valid(geom):
        return
    reason = explain_validity(geom)
    match = _LOCATION.search(reason)
    location = [float(match.group(1)), float(match.group(2))] if match else None
    raise GeometryError(
        "invalid_geometry",
        f"The geometry is not valid: {reason}.",
        feature=index,
        reason=_LOCATION.sub("", reason).strip(),
        location=location,
    )


def repair(geom: BaseGeometry) -> BaseGeometry:
    """Make an invalid polygon valid, keeping only its polygonal parts (on request only)."""
    fixed = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(fixed) if isinstance(g, (Polygon, MultiPolygon))]
    polys = [p for g in parts for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(polys) if len(polys) != 1 else polys[0]


def read_polygons(
    obj: Any, *, limits: Limits | None = None, repair_invalid: bool = False
) -> list[Feature]:
    """Parse polygonal GeoJSON into WGS84 features, or raise GeometryError."""
    limits = limits or Limits()
    src = declared_crs(obj) if isinstance(obj, dict) else WGS84
    out: list[Feature] = []
    for index, geometry, properties in _features(obj):
        if not isinstance(geometry, dict) or geometry.get("type") is None:
            raise GeometryError("empty_geometry", "The feature has no geometry.", feature=index)
        kind = geometry["type"]
        if kind not in POLYGONAL:
            raise GeometryError(
                "wrong_geometry_type",
                f"Expected Polygon or MultiPolygon, got {kind}.",
                feature=index,
                expected=list(POLYGONAL),
                received=kind,
            )
        coords = geometry.get("coordinates")
        if not coords:
            raise GeometryError("empty_geometry", "The geometry has no coordinates.", feature=index)
        vertices = _check_rings(coords, kind, index)
        if vertices > limits.max_vertices:
            raise GeometryError(
                "too_many_vertices",
                f"The geometry has {vertices} vertices; the limit is {limits.max_vertices}.",
                feature=index,
                vertices=vertices,
                limit=limits.max_vertices,
            )
        try:
            geom = shape(geometry)
        except (ValueError, TypeError, OverflowError, ShapelyError) as exc:
            raise GeometryError(
                "invalid_geojson", f"Feature {index} is not valid GeoJSON: {exc}", feature=index
            ) from exc
        if geom.is_empty:
            raise GeometryError("empty_geometry", "The geometry is empty.", feature=index)
        geom = transform(geom, src, WGS84)
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise GeometryError(
                "invalid_coordinates",
                "Coordinates are outside longitude -180..180 / latitude -90..90; "
                "declare the CRS if they are projected.",
                feature=index,
                bounds=[minx, miny, maxx, maxy],
            )
        if repair_invalid:
            geom = repair(geom)
        check_valid(geom, index)
        try:
            km2 = area_m2(geom) / 1e6
        except GeometryError as exc:  # wider than any local projection reaches
            raise GeometryError(
                "area_too_large",
                f"The area spans too far to be one area: {exc.message}",
                feature=index,
                limit_km2=limits.max_area_km2,
            ) from exc
        if km2 > limits.max_area_km2:
            raise GeometryError(
                "area_too_large",
                f"The area is {km2:.1f} km²; the limit is {limits.max_area_km2:g} km².",
                feature=index,
                area_km2=round(km2, 3),
                limit_km2=limits.max_area_km2,
            )
        if km2 <= 0:
            raise GeometryError("empty_geometry", "The geometry has no area.", feature=index)
        out.append(Feature(index=index, geometry=geom, properties=properties))
    return out


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
