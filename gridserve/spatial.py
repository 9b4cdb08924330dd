"""Between the database's geometry columns and shapely; plus the SQL predicates we use.

GeoAlchemy2 gives the same SQL functions on PostGIS and SpatiaLite; this module
is where they are named once.
"""

from __future__ import annotations

from typing import Any

from geoalchemy2 import WKTElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func

from geo.errors import GeometryError
from geo.validate import Limits
from gridserve.config import settings
from gridserve.errors import ValidationFailed

SRID = 4326


def to_shapely(value: Any) -> BaseGeometry:
    return to_shape(value)


def to_db(geom: BaseGeometry, *, multi: bool = False) -> Any:
    if multi and isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return from_shape(geom, srid=SRID)


def point(lon: float, lat: float) -> WKTElement:
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=SRID)


def intersects(column: Any, geom: Any) -> Any:
    return func.ST_Intersects(column, geom)


def limits() -> Limits:
    cfg = settings()
    return Limits(max_vertices=cfg.max_vertices, max_area_km2=cfg.max_area_km2)


def refuse(exc: GeometryError) -> ValidationFailed:
    """A geometry-layer refusal as the API's 422."""
    return ValidationFailed(exc.message, code=exc.code, details=dict(exc.details))
