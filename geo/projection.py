"""Projections: store in EPSG:4326, measure in metres in a local equal-area projection."""

from __future__ import annotations

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
    """A Lambert azimuthal equal-area projection centred near (lon, lat).

    Rounded to 0.01° so that nearby areas share one projection (and its cache).
    Areas are exact in it; distances are within a fraction of a percent over
    the size of a district.
    """
    lon0, lat0 = round(lon, 2), round(lat, 2)
    return CRS.from_proj4(f"+proj=laea +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs")


def crs_for(geom: BaseGeometry) -> CRS:
    """The local metric CRS for a WGS84 geometry."""
    c = geom.centroid if not geom.is_empty else None
    if c is None or c.is_empty:
        raise GeometryError("empty_geometry", "The geometry is empty.")
    return local_crs(c.x, c.y)


@lru_cache(maxsize=256)
def _transformer(src: CRS, dst: CRS) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def transform(geom: BaseGeometry, src: CRS, dst: CRS) -> BaseGeometry:
    if src == dst:
        return geom
    t = _transformer(src, dst)
    return shapely.transform(geom, lambda xy: _stack(t.transform(xy[:, 0], xy[:, 1])))


def _stack(xy):
    return np.column_stack(xy)


def to_metric(geom: BaseGeometry, crs: CRS) -> BaseGeometry:
    return transform(geom, WGS84, crs)


def to_wgs84(geom: BaseGeometry, crs: CRS) -> BaseGeometry:
    return transform(geom, crs, WGS84)


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
