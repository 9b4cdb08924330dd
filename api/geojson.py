"""GeoJSON in and out of marshmallow schemas."""

from __future__ import annotations

import json
from typing import Any

import shapely
from flask import Response, make_response
from geoalchemy2.shape import to_shape
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from webargs import fields as wfields


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


class GeoJSONSchema(Schema):
    """Any GeoJSON object (checked in depth by the service, which reports where it fails)."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(
        required=True,
        validate=validate.OneOf(
            ["FeatureCollection", "Feature", "Polygon", "MultiPolygon", "LineString", "Point"]
        ),
    )
    features = fields.List(fields.Dict())
    geometry = fields.Dict(allow_none=True)
    properties = fields.Dict(allow_none=True)
    coordinates = fields.Raw()
    crs = fields.Raw(metadata={"description": 'e.g. {"type": "name", "properties": {"name": '
                                              '"EPSG:3857"}}; WGS84 when absent'})  # fmt: skip


def _bbox_in_order(box: list[float]) -> None:
    if len(box) != 4:
        return  # reported by the length check
    min_lon, min_lat, max_lon, max_lat = box
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationError(
            "minLon,minLat,maxLon,maxLat with -180 <= minLon <= maxLon <= 180 and "
            "-90 <= minLat <= maxLat <= 90."
        )


def bbox_field() -> wfields.DelimitedList:
    return wfields.DelimitedList(
        fields.Float(validate=validate.Range(min=-180, max=180)),
        validate=[validate.Length(equal=4), _bbox_in_order],
        metadata={"description": "minLon,minLat,maxLon,maxLat (WGS84, min <= max)"},
    )


def geojson_response(payload: dict) -> Response:
    resp = make_response(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    resp.mimetype = "application/geo+json"
    return resp
