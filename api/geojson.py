"""GeoJSON in and out of marshmallow schemas."""

from __future__ import annotations

import json
from typing import Any

import shapely
from geoalchemy2.shape import to_shape
from marshmallow import fields


class GeometryField(fields.Field):
    """Dumps a stored geometry as a GeoJSON geometry object (lon/lat, EPSG:4326)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault(
            "description", "GeoJSON geometry, coordinates as [longitude, latitude] (EPSG:4326)"
        )
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        if value is None:
            return None
        return json.loads(shapely.to_geojson(to_shape(value)))
