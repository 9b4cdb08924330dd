"""Projections: store in EPSG:4326, measure in metres in a local transverse Mercator."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from geo.errors import GeometryError

WGS84 = CRS.from_epsg(4326)


@lru_cache(maxsize=256)
def local_crs(lon: float, lat: float) -> CRS:
    """A transverse Mercator projection centred near (lon, lat), in metres.

    Rounded to 0.01° so that nearby areas share one projection (and its cache).
    Within 30 km of its centre, distances are off by less than 1e-5 and areas by
    less than 2e-5 (the scale is 1 + d²/2R²). Chosen over an equal-area
    azimuthal projection because its inverse is exact to the micrometre: cells
    stored in EPSG:4326 and projected again still tile their boundary (LAEA's
    inverse series moves points by about a millimetre, which opens gaps of
    several m² along a street's border).
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise GeometryError(
            "outside_projection",
            "The geometry is not in longitude -180..180 / latitude -90..90.",
            centre=[lon, lat] if math.isfinite(lon) and math.isfinite(lat) else None,
        )
    lon0, lat0 = round(lon, 2), round(lat, 2)
    crs = CRS.from_proj4(
        f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
    )
    _CENTRES[id(crs)] = (crs, lon0, lat0)
    return crs


# Where each local projection is centred (by identity, like the transformers below).
_CENTRES: dict[int, tuple[CRS, float, float]] = {}

# A local transverse Mercator is used within this many degrees of its centre: a
# district is far smaller (a line 20° away is still "does not cross the cell"), and
# farther out points towards the antimeridian or the poles project to huge or
# infinite values, so what lies there is refused rather than measured.
MAX_OFFSET_DEG = 30.0


def _check_domain(geom: BaseGeometry, crs: CRS) -> None:
    """Refuse a WGS84 geometry too far from ``crs``'s centre to project meaningfully."""
    hit = _CENTRES.get(id(crs))
    if hit is None or hit[0] is not crs or geom.is_empty:
        return
    _, lon0, lat0 = hit
    minx, miny, maxx, maxy = geom.bounds
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or (
        max(abs(minx - lon0), abs(maxx - lon0), abs(miny - lat0), abs(maxy - lat0)) > MAX_OFFSET_DEG
    ):
        raise GeometryError(
            "outside_projection",
            f"The geometry reaches more than {MAX_OFFSET_DEG:g}° from the area it belongs to "
            f"(around {lon0:g}, {lat0:g}).",
            bounds=[minx, miny, maxx, maxy] if math.isfinite(minx + miny + maxx + maxy) else None,
            centre=[lon0, lat0],
        )


def crs_for(geom: BaseGeometry) -> CRS:
    """The local metric CRS for a WGS84 geometry."""
    c = geom.centroid if not geom.is_empty else None
    if c is None or c.is_empty:
        raise GeometryError("empty_geometry", "The geometry is empty.")
    return local_crs(c.x, c.y)


# Keyed by object identity: hashing or comparing a pyproj CRS renders it as WKT each time,
# which costs more than projecting a point. The CRS objects are kept alive alongside.
_TRANSFORMERS: dict[tuple[int, int], tuple[CRS, CRS, Transformer | None]] = {}


def _transformer(src: CRS, dst: CRS) -> Transformer | None:
    """The transformer from ``src`` to ``dst`` (None when they are the same CRS)."""
    key = (id(src), id(dst))
    hit = _TRANSFORMERS.get(key)
    if hit is None or hit[0] is not src or hit[1] is not dst:
        t = None if src == dst else Transformer.from_crs(src, dst, always_xy=True)
        hit = (src, dst, t)
        if len(_TRANSFORMERS) > 512:
            _TRANSFORMERS.clear()
        _TRANSFORMERS[key] = hit
    return hit[2]


def transform(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    """``geom`` from ``src`` to ``dst``; GeometryError when a point has no image there."""
    t = None if src is dst else _transformer(src, dst)
    if t is None:
        return geom
    return shapely.transform(geom, lambda xy: _stack(t.transform(xy[:, 0], xy[:, 1])))


def _stack(xy):
    out = np.column_stack(xy)
    if not np.isfinite(out).all():
        bad = out[~np.isfinite(out).all(axis=1)][0]
        raise GeometryError(
            "outside_projection",
            "A coordinate cannot be projected (it lies outside the projection's domain).",
            projected=[None if not math.isfinite(v) else float(v) for v in bad],
        )
    return out


# GeoJSON edges are straight in longitude/latitude; projected, they are slight
# curves. Edges are densified before projecting (and back) so that a border two
# polygons share stays shared, and a child drawn inside its parent stays inside.
DENSIFY_DEG = 0.0005  # about 50 m
DENSIFY_M = 50.0


def _densify(geom: BaseGeometry, step: float) -> BaseGeometry:
    if geom.geom_type in ("Point", "MultiPoint") or geom.is_empty:
        return geom
    return shapely.segmentize(geom, step)


def to_metric(geom: BaseGeometry, crs: CRS) -> BaseGeometry:
    _check_domain(geom, crs)
    return transform(_densify(geom, DENSIFY_DEG), WGS84, crs)


def to_wgs84(geom: BaseGeometry, crs: CRS) -> BaseGeometry:
    return transform(_densify(geom, DENSIFY_M), crs, WGS84)


def parse_crs(name: str) -> CRS:
    """A CRS from a GeoJSON ``crs`` name (``EPSG:3857``, ``urn:ogc:def:crs:EPSG::4547``...)."""
    try:
        crs = CRS.from_user_input(name)
    except (CRSError, TypeError, ValueError) as exc:
        raise GeometryError(
            "unknown_crs", f"Unknown coordinate reference system {name!r}.", crs=name
        ) from exc
    return crs


def area_m2(geom: BaseGeometry, crs: CRS | None = None) -> float:
    """Area of a WGS84 geometry in square metres."""
    if geom.is_empty:
        return 0.0
    crs = crs or crs_for(geom)
    return float(to_metric(geom, crs).area)
