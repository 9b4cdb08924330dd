"""The place register: bulk import and lookup."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, ListArgs
from api.geojson import GeometryField
from api.jobs import accepted, may_run_as_job, request_id, wants_async
from gridserve.auth import accepts, current_principal
from gridserve.errors import ValidationFailed
from gridserve.models import PLACE_TYPES
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
    @blp.response(200, ImportReportSchema)
    @may_run_as_job(blp)
    @blp.doc(security=BEARER, requestBody=IMPORT_BODY)
    def post(self, area_id):
        """Import places from CSV (`lon`,`lat`,`type`[,`external_id`,`name`,…]) or GeoJSON Points.

        Valid rows are stored, invalid rows reported one by one with the reason; an
        existing `external_id` is updated, never duplicated. Each place is put in its
        community and its cell; a place outside the area is reported (`outside_coverage`).

        With `Prefer: respond-async`: 202 and a job to poll (`Location`); a file that cannot
        be read fails the job with the error this call would answer; its `result_url` gives
        the report.
        """
        if wants_async(request):
            if request.mimetype == "text/csv":
                payload = {"csv": request.get_data(as_text=True)}
            else:
                payload = {"geojson": request.get_json(silent=True)}
            params = {"content_type": request.mimetype}
            job = job_service.submit(
                current_principal(), "place_import", area_id,
                params=params, payload=payload, request_id=request_id(),
            )  # fmt: skip
            return accepted(job)
        if request.mimetype == "text/csv":
            rows = place_service.rows_from_csv(request.get_data(as_text=True))
        else:
            body = request.get_json(silent=True)
            if body is None:
                raise ValidationFailed("Send CSV or a GeoJSON FeatureCollection.")
            rows = place_service.rows_from_geojson(body)
        return place_service.import_places(current_principal(), area_id, rows, local_today())


@blp.route("/places")
class Places(MethodView):
    @blp.arguments(PlaceListArgs, location="query")
    @blp.response(200, PlaceSchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Places in your scope."""
        return place_service.list_places(
            current_principal(),
            area_id=args.get("area"),
            cell_id=args.get("cell"),
            type=args.get("type"),
            external_id=args.get("external_id"),
            sort=args.get("sort"),
        )


@blp.route("/places/<int:place_id>")
class PlaceItem(MethodView):
    @blp.response(200, PlaceSchema)
    @blp.doc(security=BEARER)
    def get(self, place_id):
        """One place."""
        return place_service.get_place(current_principal(), place_id)
