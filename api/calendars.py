"""Working-day calendars: the holidays and adjusted working days (调休) of a year."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Date
from gridserve.auth import current_principal
from gridserve.services.accounts import calendars as calendar_service

blp = Blueprint(
    "calendars",
    __name__,
    description="Working-day calendars: the State Council's holidays and adjusted working days "
    "per year, loaded by an admin; the chinese-calendar package answers for the years it knows",
)


class HolidaySchema(Schema):
    date = Date(required=True)
    name = fields.String(required=True, validate=validate.Length(max=100))


class CalendarInSchema(Schema):
    holidays = fields.List(
        fields.Nested(HolidaySchema), required=True, validate=validate.Length(max=366)
    )
    workdays = fields.List(
        Date(),
        required=True,
        validate=validate.Length(max=366),
        metadata={"description": "Adjusted working days (usually weekends), ISO dates"},
    )
    note = fields.String(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "Where the data comes from, e.g. 国办发明电〔2026〕N号"},
    )


class CalendarSchema(Schema):
    country = fields.String()
    year = fields.Integer()
    source = fields.String(metadata={"description": "operator (loaded here) or package"})
    version = fields.Integer(
        allow_none=True, metadata={"description": "Bumps on each PUT; null for package data"}
    )
    updated_at = fields.DateTime(allow_none=True)
    updated_by = fields.Integer(allow_none=True, metadata={"description": "User id"})
    note = fields.String(allow_none=True)
    holidays = fields.List(fields.Dict(), metadata={"description": '[{"date", "name"}]'})
    workdays = fields.List(fields.String())


class CalendarVersionSchema(Schema):
    version = fields.Integer()
    updated_at = fields.DateTime()
    updated_by = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    holidays = fields.Integer(metadata={"description": "How many holidays"})
    workdays = fields.Integer(metadata={"description": "How many adjusted working days"})


@blp.route("/calendars/<string:country>/<int:year>")
class CalendarYear(MethodView):
    @blp.response(200, CalendarSchema)
    @blp.alt_response(404, description="`calendar_unknown_year`: nobody loaded it, no package")
    @blp.doc(security=BEARER)
    def get(self, country, year):
        """The year's calendar in force: the operator's (`source: operator`) or the package's."""
        return calendar_service.describe(country, year)

    @blp.roles()
    @blp.arguments(CalendarInSchema)
    @blp.response(200, CalendarSchema)
    @blp.alt_response(
        422,
        description="`date_outside_year`, `duplicate_date`, `holiday_and_workday`, `empty_name` "
        "(several at once: `invalid_calendar`, with `details.codes`), `invalid_year`",
    )
    @blp.doc(security=BEARER)
    def put(self, body, country, year):
        """Admin: load the year's holidays and adjusted working days (a new version each time).

        Days not listed follow the week: Monday to Friday work, weekends off. Slots of
        campaigns that already opened stay as they ran; the rest follow the new data.
        """
        return calendar_service.put_year(
            current_principal(), country, year, body["holidays"], body["workdays"],
            body.get("note"),
        )  # fmt: skip


@blp.route("/calendars/<string:country>/<int:year>/versions")
class CalendarVersions(MethodView):
    @blp.response(200, CalendarVersionSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, country, year):
        """Every version loaded for the year, newest first."""
        return calendar_service.history(country, year)
