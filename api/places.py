"""The place register: bulk import and lookup."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import (
    BEARER,
    CREATED_NONE,
    CREATED_SOME,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Blueprint,
    Id,
    Integer,
    ListArgs,
    import_answer,
)
from api.geojson import GeometryField, bbox_field, geojson_response
from api.jobs import accepted, may_run_as_job, request_id, wants_async
from gridserve.auth import accepts, current_principal
from gridserve.config import settings
from gridserve.errors import ValidationFailed
from gridserve.models import PLACE_TYPES
from gridserve.pagination import SelectPage
from gridserve.request_checks import checks_text_per_item
from gridserve.services.accounts import jobs as job_service
from gridserve.services.geography import places as place_service
from gridserve.timeutil import local_today

blp = Blueprint("places", __name__, description="Households, enterprises and other places")

IMPORT_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "external_id,type,name,lon,lat\nHH-1,household,1栋101,104.05,30.50\n",
        },
        "application/geo+json": {"schema": {"type": "object"}},
        "application/json": {"schema": {"type": "object"}},
    },
}


class PlaceSchema(Schema):
    id = Integer()
    type = fields.String()
    external_id = fields.String(allow_none=True)
    name = fields.String()
    attributes = fields.Dict()
    area_id = Integer(metadata={"description": "The community"})
    cell_id = Integer(allow_none=True)
    geometry = GeometryField(attribute="geom")


class PlaceListArgs(ListArgs):
    area = Id(metadata={"description": "Within this area (any level)"})
    cell = Id()
    type = fields.String(validate=validate.OneOf(PLACE_TYPES))
    external_id = fields.String()
    bbox = bbox_field()
    format = fields.String(
        validate=validate.OneOf(["json", "geojson"]),
        metadata={
            "description": "`geojson`: EVERY matching place as one FeatureCollection of Points "
            "(no paging: `page`/`page_size` are ignored; gzip-compressed when the client "
            "sends `Accept-Encoding: gzip`)"
        },
    )


class PlaceFeatureCollectionSchema(Schema):
    type = fields.String(metadata={"description": "FeatureCollection"})
    features = fields.List(
        fields.Dict(),
        metadata={
            "description": "Point features, properties `id`, `type`, `name`, `cell` (the "
            "cell's code or null), `cell_id`, `area_id` (the community)"
        },
    )


class RejectedRowSchema(Schema):
    row = Integer()
    external_id = fields.String(allow_none=True)
    code = fields.String()
    errors = fields.Dict()


class ImportReportSchema(Schema):
    received = Integer()
    created = Integer()
    updated = Integer()
    rejected_count = Integer()
    rejected = fields.List(fields.Nested(RejectedRowSchema))


@blp.route("/areas/<int:area_id>/places")
class AreaPlaces(MethodView):
    @blp.roles(*place_service.IMPORTERS)
    @accepts("text/csv", "application/json", "application/geo+json")
    @checks_text_per_item
    @blp.response(201, ImportReportSchema, description=CREATED_SOME)
    @blp.alt_response(200, schema=ImportReportSchema, description=CREATED_NONE)
    @may_run_as_job(blp)
    @blp.doc(security=BEARER, requestBody=IMPORT_BODY)
    def post(self, area_id):
        """Import places from CSV (`lon`,`lat`,`type`[,`external_id`,`name`,…]) or GeoJSON Points.

        Valid rows are stored, invalid rows reported one by one with the reason; an
        existing `external_id` is updated, never duplicated. Each place is put in its
        community and its cell; a place outside the area is reported (`outside_coverage`).
        201 when the import created a place, 200 when it only updated or rejected rows (the
        same report either way).

        With `Prefer: respond-async`: 202 and a job to poll (`Location`); a file that cannot
        be read fails the job with the error this call would answer; its `result_url` gives
        the report. A readable file of more rows than the service's
        `GRIDSERVE_ASYNC_IMPORT_ROWS` (default 10,000) is answered the same way without the
        header.
        """
        if wants_async(request):
            return _import_job(area_id)
        if request.mimetype == "text/csv":
            rows = place_service.rows_from_csv(request.get_data(as_text=True))
        else:
            body = request.get_json(silent=True)
            if body is None:
                raise ValidationFailed("Send CSV or a GeoJSON FeatureCollection.")
            rows = place_service.rows_from_geojson(body)
        if len(rows) > settings().async_import_rows:
            return _import_job(area_id)
        report = place_service.import_places(current_principal(), area_id, rows, local_today())
        return import_answer(report)


def _import_job(area_id: int):
    """The import as a job: the body kept as sent, read again when the job runs."""
    if request.mimetype == "text/csv":
        payload = {"csv": request.get_data(as_text=True)}
    else:
        payload = {"geojson": request.get_json(silent=True)}
    job = job_service.submit(
        current_principal(), "place_import", area_id,
        params={"content_type": request.mimetype}, payload=payload, request_id=request_id(),
    )  # fmt: skip
    return accepted(job)


@blp.route("/places")
class Places(MethodView):
    @blp.arguments(PlaceListArgs, location="query")
    @blp.response(200, PlaceSchema(many=True))
    @blp.alt_response(
        200,
        schema=PlaceFeatureCollectionSchema,
        content_type="application/geo+json",
        description="With `format=geojson`: all matching places in one FeatureCollection "
        "(not paged)",
        success=True,
    )
    @blp.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    @blp.doc(security=BEARER)
    def get(self, args, pagination_parameters):
        """Places in your scope; `bbox` = minLon,minLat,maxLon,maxLat (WGS84).

        `format=geojson` answers every matching place at once, for the map (a street's
        31,766 places in one gzip response); otherwise the list pages as usual."""
        filters = {
            "area_id": args.get("area"),
            "cell_id": args.get("cell"),
            "type": args.get("type"),
            "external_id": args.get("external_id"),
        }
        principal = current_principal()
        if args.get("format") == "geojson":
            collection = place_service.place_features(principal, bbox=args.get("bbox"), **filters)
            # one page holding everything, so X-Pagination tells the truth
            pagination_parameters.item_count = len(collection["features"])
            pagination_parameters.page = 1
            pagination_parameters.page_size = max(1, len(collection["features"]))
            return geojson_response(collection)
        stmt = place_service.list_places(
            principal, bbox=args.get("bbox"), sort=args.get("sort"), **filters
        )
        return SelectPage(stmt, page_params=pagination_parameters).items


@blp.route("/places/<int:place_id>")
class PlaceItem(MethodView):
    @blp.response(200, PlaceSchema)
    @blp.doc(security=BEARER)
    def get(self, place_id):
        """One place."""
        return place_service.get_place(current_principal(), place_id)
