"""The area tree as the caller's scope shows it."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, ListArgs
from api.geojson import GeoJSONSchema, GeometryField
from gridserve.auth import current_principal
from gridserve.models import AREA_LEVELS
from gridserve.services.geography import areas as area_service

blp = Blueprint("areas", __name__, description="District, street and community boundaries")


class AreaSummarySchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    name_en = fields.String(allow_none=True)
    level = fields.String()
    parent_id = Integer(allow_none=True)


class AreaSchema(AreaSummarySchema):
    geometry = GeometryField(attribute="geom", allow_none=True)


class AreaListArgs(ListArgs):
    level = fields.String(validate=validate.OneOf(AREA_LEVELS))
    parent = Id(metadata={"description": "Only the children of this area"})


class ImportArgs(Schema):
    repair = fields.Boolean(
        load_default=False,
        metadata={"description": "Repair invalid polygons (make_valid) instead of refusing them"},
    )


@blp.route("/areas")
class Areas(MethodView):
    @blp.arguments(AreaListArgs, location="query")
    @blp.response(200, AreaSummarySchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args):
        """Areas in your scope, filtered by level or parent."""
        return area_service.list_areas(
            current_principal(),
            level=args.get("level"),
            parent_id=args.get("parent"),
            sort=args.get("sort"),
        )

    @blp.roles(*area_service.IMPORTERS)
    @blp.arguments(GeoJSONSchema)
    @blp.arguments(ImportArgs, location="query")
    @blp.response(201, AreaSchema(many=True))
    @blp.doc(security=BEARER)
    def post(self, body, args):
        """Import district, street or community boundaries (GeoJSON Feature or FeatureCollection).

        Properties: `code`, `name`, `level`, and `parent_code` (or `parent_id`) below a
        district. All features are stored, or none: each refusal names the feature,
        the reason and, for geometry, where it is.
        """
        return area_service.import_boundaries(current_principal(), body, repair=args["repair"])


@blp.route("/areas/<int:area_id>")
class AreaItem(MethodView):
    @blp.response(200, AreaSchema)
    @blp.doc(security=BEARER)
    def get(self, area_id):
        """One area with its boundary as GeoJSON."""
        return area_service.get_area(current_principal(), area_id)


class DutyPhoneSchema(Schema):
    phone = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "A mobile number; null or empty clears it"},
    )


class DutyPhoneOutSchema(Schema):
    area_id = Integer()
    duty_phone = fields.String(allow_none=True, metadata={"description": "Masked"})


@blp.route("/areas/<int:area_id>/duty-phone")
class AreaDutyPhone(MethodView):
    @blp.roles(*area_service.DUTY_PHONE_SETTERS)
    @blp.arguments(DutyPhoneSchema)
    @blp.response(200, DutyPhoneOutSchema)
    @blp.doc(security=BEARER)
    def put(self, body, area_id):
        """Set the duty mobile (值班手机) of an area's office: cases reaching or escalated to it
        are texted there (station for its community; centres for their subtree). Stored
        encrypted, answered masked; null clears it."""
        return area_service.set_duty_phone(current_principal(), area_id, body["phone"])


@blp.route("/areas/<int:area_id>/children")
class AreaChildren(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, AreaSummarySchema(many=True))
    @blp.paginate_select()
    @blp.doc(security=BEARER)
    def get(self, args, area_id):
        """The areas directly below one area."""
        return area_service.children(current_principal(), area_id, sort=args.get("sort"))
