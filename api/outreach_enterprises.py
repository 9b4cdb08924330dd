"""Outreach: the visit list of a visits programme (走访名单)."""

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
    UtcDateTime,
    import_answer,
)
from api.geojson import geojson_response
from gridserve.auth import accepts, current_principal
from gridserve.models import ENTERPRISE_STATUSES
from gridserve.pagination import SelectPage
from gridserve.request_checks import checks_text_per_item
from gridserve.services.outreach import enterprises as enterprise_service
from gridserve.services.outreach.basics import READERS
from gridserve.timeutil import local_today

blp = Blueprint(
    "outreach_enterprises",
    __name__,
    description="The visit list of a visits programme (走访名单): enterprises, their responsible "
    "institution and visitor (包靠责任人). The coordinator imports any row; an institution "
    "contact of the programme imports its own institution's rows until `list_due_on`; after "
    "that day only the coordinator may change the list (409 list_frozen).",
)

IMPORT_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "credit_code,name,address,lon,lat,industry,institution,visitor\n"
            "91510000000000000X,某商贸有限公司,1号,104.03,30.44,批发和零售业,DZCB,cell\n",
        }
    },
}


class ListRejectedRowSchema(Schema):
    row = Integer(metadata={"description": "1-based data row (header excluded)"})
    credit_code = fields.String(allow_none=True)
    code = fields.String(
        metadata={
            "description": "invalid_credit_code, duplicate_credit_code, unknown_institution, "
            "unknown_visitor, outside_area, missing_position, invalid_position, invalid_text, "
            "other_institution, place_not_enterprise"
        }
    )
    errors = fields.Dict()


class ListImportReportSchema(Schema):
    received = Integer()
    created = Integer()
    updated = Integer()
    rejected_count = Integer()
    rejected = fields.List(fields.Nested(ListRejectedRowSchema))


class FromRegisterSchema(Schema):
    area_id = Id(
        required=True,
        metadata={"description": "The area whose register enterprises join (inside the "
                  "programme's area)"},
    )  # fmt: skip
    institution = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Responsible institution: a code, name or alias (a contact: "
                  "its own by default; the coordinator must name one)"},
    )  # fmt: skip
    visitor = fields.String(
        load_default="cell",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "An account of that institution, or `cell` (the default)"},
    )


class RegisterRejectedRowSchema(ListRejectedRowSchema):
    place_id = Integer(metadata={"description": "The register place of the rejected row"})


class RegisterImportReportSchema(ListImportReportSchema):
    rejected = fields.List(fields.Nested(RegisterRejectedRowSchema))


class EnterpriseSchema(Schema):
    id = Integer()
    programme_id = Integer()
    credit_code = fields.String()
    name = fields.String()
    address = fields.String()
    industry = fields.String()
    institution = fields.String(attribute="institution_code")
    visitor = fields.String(
        allow_none=True,
        metadata={"description": "The visitor's username, or `cell` (the cell's worker)"},
    )
    status = fields.String()
    overdue = fields.Boolean(
        metadata={"description": "Still listed and the visit window has ended"}
    )
    place_id = Integer()
    area_id = Integer(metadata={"description": "The enterprise's community"})
    cell_id = Integer(allow_none=True)
    lon = fields.Float()
    lat = fields.Float()
    version = Integer()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class EnterpriseListArgs(ListArgs):
    institution = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"description": "Institution code"}
    )
    visitor = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "Username or `cell`"}
    )
    status = fields.String(validate=validate.OneOf(ENTERPRISE_STATUSES))
    community = Id(metadata={"description": "Within this area (any level)"})
    overdue = fields.Boolean(
        metadata={"description": "true: still listed after the visit window; false: the others"}
    )
    format = fields.String(
        validate=validate.OneOf(["json", "geojson"]),
        metadata={"description": "`geojson`: every matching row as one FeatureCollection"},
    )


@blp.route("/outreach/programmes/<int:programme_id>/enterprises")
class ProgrammeEnterprises(MethodView):
    @blp.roles(*enterprise_service.IMPORTERS)
    @accepts("text/csv")
    @checks_text_per_item
    @blp.response(201, ListImportReportSchema, description=CREATED_SOME)
    @blp.alt_response(200, schema=ListImportReportSchema, description=CREATED_NONE)
    @blp.doc(security=BEARER, requestBody=IMPORT_BODY)
    def post(self, programme_id):
        """Import the visit list from CSV: `credit_code,name,address,lon,lat,industry,
        institution,visitor`.

        Valid rows are stored, invalid rows reported one by one; a credit code already listed
        is updated. A row without lon/lat must name a register enterprise (its place's
        `external_id` is `uscc:<credit_code>`); with them the place is created or moved there.
        201 when the import listed a new enterprise, 200 when it only updated or rejected rows
        (the same report either way).
        """
        rows = enterprise_service.rows_from(request.get_data())
        report = enterprise_service.import_enterprises(
            current_principal(), programme_id, rows, local_today()
        )
        return import_answer(report)

    @blp.roles(*READERS)
    @blp.arguments(EnterpriseListArgs, location="query")
    @blp.response(200, EnterpriseSchema(many=True))
    @blp.alt_response(
        200,
        schema=Schema,
        content_type="application/geo+json",
        description="With `format=geojson`: every matching row as Point features (not paged)",
        success=True,
    )
    @blp.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    @blp.doc(security=BEARER)
    def get(self, args, pagination_parameters, programme_id):
        """The programme's visit list (a contact: its institution's rows; area users: their
        area's)."""
        filters = {
            "institution": args.get("institution"),
            "visitor": args.get("visitor"),
            "status": args.get("status"),
            "community": args.get("community"),
            "overdue": args.get("overdue"),
        }
        principal = current_principal()
        if args.get("format") == "geojson":
            collection = enterprise_service.features(principal, programme_id, **filters)
            pagination_parameters.item_count = len(collection["features"])
            pagination_parameters.page = 1
            pagination_parameters.page_size = max(1, len(collection["features"]))
            return geojson_response(collection)
        stmt = enterprise_service.list_enterprises(
            principal, programme_id, sort=args.get("sort"), **filters
        )
        page = SelectPage(stmt, page_params=pagination_parameters)
        pagination_parameters.item_count = page.item_count
        return enterprise_service.present(page.items)


@blp.route("/outreach/programmes/<int:programme_id>/enterprises/from-register")
class ProgrammeEnterprisesFromRegister(MethodView):
    @blp.roles(*enterprise_service.IMPORTERS)
    @blp.arguments(FromRegisterSchema)
    @blp.response(200, RegisterImportReportSchema)
    @blp.doc(security=BEARER)
    def post(self, body, programme_id):
        """Every register enterprise (place of type `enterprise`) of an area joins the list.

        Those not yet listed become rows with the place's credit code (its `uscc:` id or
        `attributes.credit_code`) and name, the given institution and visitor, and are stored
        by the rules of the CSV import (same freeze, same row codes, same report; a rejected
        row names its `place_id`; a place without a valid code is `invalid_credit_code`).
        Enterprises already on the list are left as they are. 404 for an unknown area,
        422 `outside_area` for one outside the programme's area."""
        return enterprise_service.import_from_register(
            current_principal(), programme_id, body, local_today()
        )
