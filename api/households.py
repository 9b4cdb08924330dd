"""The household register: personal data encrypted at rest, masked unless you may see it."""

from __future__ import annotations

from flask import make_response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.services.field import households as household_service
from gridserve.timeutil import local_today

blp = Blueprint(
    "households",
    __name__,
    description="The household register (三知道、二清楚、一掌握): door, address, members, "
    "phone, ID number. Personal data is encrypted at rest; it is shown in clear only to the "
    "worker assigned to the household's cell and to its community's station (every such read "
    "is audited), masked to everyone else and in every list.",
)


@blp.after_request
def _no_store(response):
    """Personal data is never kept by browsers or proxies."""
    response.headers["Cache-Control"] = "no-store"
    return response


class HouseholdMemberSchema(Schema):
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=household_service.NAME_MAX)
    )
    relation = fields.String(
        load_default="",
        validate=validate.Length(max=household_service.RELATION_MAX),
        metadata={"example": "户主"},
    )
    work_unit = fields.String(
        load_default="", validate=validate.Length(max=household_service.WORK_UNIT_MAX)
    )


PHONE = fields.String(
    allow_none=True,
    validate=validate.Length(max=40),
    metadata={"description": "Mobile or landline (region CN); stored as the national number"},
)
ID_NUMBER = fields.String(
    allow_none=True,
    validate=validate.Length(max=40),
    metadata={"description": "18-character resident ID number (ISO 7064 MOD 11-2 check digit)"},
)
MEMBERS = fields.List(
    fields.Nested(HouseholdMemberSchema),
    validate=validate.Length(max=household_service.MAX_MEMBERS),
)


class HouseholdCreateSchema(Schema):
    place_id = Integer(required=True, metadata={"description": "A place of type household"})
    door_number = fields.String(
        required=True, validate=validate.Length(min=1, max=household_service.DOOR_MAX)
    )
    address = fields.String(validate=validate.Length(max=household_service.ADDRESS_MAX))
    phone = PHONE
    id_number = ID_NUMBER
    members = MEMBERS


class HouseholdUpdateSchema(Schema):
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The version your change is based on (409 stale_version if old)"},
    )
    door_number = fields.String(validate=validate.Length(min=1, max=household_service.DOOR_MAX))
    address = fields.String(validate=validate.Length(max=household_service.ADDRESS_MAX))
    phone = PHONE
    id_number = ID_NUMBER
    members = MEMBERS


class HouseholdLocationSchema(Schema):
    lon = fields.Float()
    lat = fields.Float()


class HouseholdSchema(Schema):
    """A household as the service revealed it to the caller (in clear or masked)."""

    id = Integer()
    place_id = Integer()
    area_id = Integer(metadata={"description": "The community"})
    cell_id = Integer(allow_none=True)
    location = fields.Nested(HouseholdLocationSchema)
    door_number = fields.String()
    address = fields.String()
    phone = fields.String(
        attribute="phone_shown", allow_none=True, metadata={"example": "138****5678"}
    )
    id_number = fields.String(
        attribute="id_number_shown", allow_none=True, metadata={"example": "510104********1234"}
    )
    members = fields.List(fields.Nested(HouseholdMemberSchema), attribute="members_shown")
    member_count = Integer()
    version = Integer()
    change_seq = Integer()
    masked = fields.Boolean(metadata={"description": "True when personal data is masked"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HouseholdListArgs(ListArgs):
    area = Id(metadata={"description": "Within this area (any level)"})
    cell = Id(metadata={"description": "In this grid cell (id)"})
    place = Id(metadata={"description": "At this place (id)"})


class ExportArgs(Schema):
    area = Id(metadata={"description": "Within this area (any level)"})


@blp.route("/households")
class Households(MethodView):
    @blp.roles(*household_service.READERS)
    @blp.arguments(HouseholdListArgs, location="query")
    @blp.response(200, HouseholdSchema(many=True))
    @blp.paginate_select(present=household_service.present_masked)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Households in your scope, always masked (open one to see it in clear, if you may)."""
        return household_service.list_households(
            current_principal(),
            area_id=args.get("area"),
            cell_id=args.get("cell"),
            place_id=args.get("place"),
            sort=args.get("sort"),
        )

    @blp.roles(*household_service.WRITERS)
    @blp.arguments(HouseholdCreateSchema)
    @blp.response(201, HouseholdSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Register the household at a place of type household.

        For the worker assigned to the place's cell, or a station / street centre /
        district centre in scope. 404 for a place you cannot see, 422 `not_a_household`,
        422 `validation_error` for a bad phone or ID number, 409 `household_exists`.
        """
        return household_service.create_household(current_principal(), body, local_today())


@blp.route("/households/export")
class HouseholdExport(MethodView):
    @blp.roles(*household_service.MANAGERS)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(
        200,
        {"type": "string"},
        content_type="text/csv",
        description="CSV (UTF-8 with BOM), one row per household",
    )
    @blp.doc(security=BEARER)
    def get(self, args):
        """Station and above: every household in scope as CSV (audited).

        A station gets its own community in clear; street and district centres get
        masked rows. Workers: 403.
        """
        text, _rows, _unmasked = household_service.export_csv(
            current_principal(), area_id=args.get("area")
        )
        resp = make_response(text)
        resp.mimetype = "text/csv"
        resp.charset = "utf-8"
        resp.headers["Content-Disposition"] = (
            f'attachment; filename="households-{local_today().isoformat()}.csv"'
        )
        return resp


@blp.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @blp.roles(*household_service.READERS)
    @blp.response(200, HouseholdSchema)
    @blp.doc(security=BEARER)
    def get(self, household_id):
        """One household: in clear (and audited) for its assigned worker and its station."""
        return household_service.get_household(current_principal(), household_id, local_today())

    @blp.roles(*household_service.WRITERS)
    @blp.arguments(HouseholdUpdateSchema)
    @blp.response(200, HouseholdSchema)
    @blp.doc(security=BEARER)
    def patch(self, body, household_id):
        """Change a household; send the `version` you read (409 `stale_version` if it moved on)."""
        return household_service.update_household(
            current_principal(), household_id, body, local_today()
        )

    @blp.roles(*household_service.MANAGERS)
    @blp.response(204)
    @blp.doc(security=BEARER)
    def delete(self, household_id):
        """Station and above: remove a household (terminals drop it on their next sync)."""
        household_service.delete_household(current_principal(), household_id)
