"""Reports: the monthly grid report of a street or community (JSON, XLSX, HTML, CSV per
section), the street centre's daily summary, and the archive of those the scheduler kept."""

from __future__ import annotations

from flask import make_response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Date, Id, Integer, attachment
from gridserve.auth import current_principal
from gridserve.exports import XLSX_TYPE
from gridserve.services.assessment import daily as daily_service
from gridserve.services.assessment import monthly as monthly_service
from gridserve.services.assessment import report_render

blp = Blueprint(
    "reports_monthly",
    __name__,
    description="The monthly grid report (网格月报) of a street or community — patrols and "
    "coverage, visits, households registered, cases, SMS sent, outreach events, vacant cells, "
    "against the previous month — as JSON, XLSX (a sheet per section, charts), a printable "
    "HTML page or CSV per section; the street centre's daily summary; and both as kept by "
    "the scheduler (the first working day of each month; each morning).",
)

_MONTHLY_DOC = (
    "Sections: `summary` (each headline figure: `value`, the previous month's `previous`, "
    "`change`), `patrols` (patrol visits; (cell, day) pairs in force `cell_days`, with a "
    "patrol `patrolled`, with a patrol in each of the three windows — 06-12, 12-18, 18-24 "
    "local — `covered`; the shares; per window; per day), `visits` (by kind), `households` "
    "(household places and households at the month's end, registered in the month, the "
    "register's completeness now: door number, members, every member's work unit; "
    "`completeness_share` complete ÷ household places), `cases` (the cases report over the "
    "cases received in the month: `totals`, `levels`, `categories`; `outcomes` how they stand "
    "now), `sms` (per campaign of the area or above it: accepted in the month, delivered, "
    "failed), `outreach` (events whose venue is in the area starting in the month, by status, "
    "held, their reports and counts), `vacant` (cells in force without a worker on the "
    "month's last day, or today)."
)
_FORMAT_DOC = (
    "`json` (default); `xlsx`: sheets 汇总 and one per section, with native charts; `html`: "
    "a self-contained printable page (inline CSS, SVG charts); `csv`: one section (`section` "
    "required). Exports are audited."
)


class ReportedAreaSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    level = fields.String()


class HeadlineSchema(Schema):
    key = fields.String()
    label = fields.String()
    value = fields.Float(allow_none=True)
    previous = fields.Float(allow_none=True)
    change = fields.Float(allow_none=True)


class MonthlyReportSchema(Schema):
    kind = fields.String()
    area = fields.Nested(ReportedAreaSchema)
    month = fields.String(metadata={"description": "YYYY-MM"})
    from_ = fields.String(data_key="from", attribute="from", metadata={"description": "Date"})
    to = fields.String(metadata={"description": "Date"})
    complete = fields.Boolean(metadata={"description": "False while the month is not over"})
    as_of = fields.String(metadata={"description": "When it was built (local time)"})
    summary = fields.List(fields.Nested(HeadlineSchema))
    patrols = fields.Dict()
    visits = fields.Dict()
    households = fields.Dict()
    cases = fields.Dict()
    sms = fields.Dict()
    outreach = fields.Dict()
    vacant = fields.Dict()
    archive = fields.Dict(metadata={"description": "A kept report: its `id` and `built_at`"})


class DailySummarySchema(Schema):
    kind = fields.String()
    area = fields.Nested(ReportedAreaSchema)
    day = fields.String(metadata={"description": "Date"})
    as_of = fields.String()
    patrols = fields.Dict()
    visits = fields.Dict()
    cases = fields.Dict(
        metadata={"description": "`new` received, `closed` closed that day, `escalations` "
                  "that day, `overdue_now` pending past their level's due time when built"}
    )  # fmt: skip
    sms = fields.Dict()
    archive = fields.Dict()


class ArchivedSchema(Schema):
    id = Integer()
    kind = fields.String()
    area = fields.Nested(ReportedAreaSchema)
    period = fields.String(metadata={"description": "YYYY-MM (monthly) or the day (daily)"})
    period_start = fields.Date()
    built_at = fields.DateTime()


class FormatArgs(Schema):
    format = fields.String(
        validate=validate.OneOf(monthly_service.FORMATS), metadata={"description": _FORMAT_DOC}
    )
    section = fields.String(
        validate=validate.OneOf(monthly_service.SECTIONS),
        metadata={"description": "With `format=csv`: the section"},
    )


class MonthlyArgs(FormatArgs):
    area = Id(metadata={"description": "A street or community (default: yours)"})
    month = fields.String(
        required=True,
        validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="A month as YYYY-MM."),
        metadata={"description": "YYYY-MM, not after the current month"},
    )


class AreaArgs(Schema):
    area = Id(metadata={"description": "The area (default: yours)"})


class DailyArgs(AreaArgs):
    day = Date(metadata={"description": "A local day before today (default: yesterday)"})


def _formatted(data: dict, args: dict):
    fmt = args.get("format") or "json"
    if fmt == "json":
        return data
    body, filename, mimetype = report_render.export(data, fmt, args.get("section"))
    if fmt == "html":
        resp = make_response(body)
        resp.mimetype = mimetype
        resp.charset = "utf-8"
        resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
        return resp
    return attachment(body, filename, mimetype)


def _alt_formats(view):
    for content_type, text in (
        ("text/csv", "With `format=csv&section=…`: one section (UTF-8 with BOM)"),
        (XLSX_TYPE, "With `format=xlsx`: the workbook (a sheet per section, charts)"),
        ("text/html", "With `format=html`: the printable page (inline CSS and SVG)"),
    ):
        view = blp.alt_response(
            200,
            schema={"type": "string", "format": "binary"},
            content_type=content_type,
            description=text,
            success=True,
        )(view)
    return view


@blp.route("/reports/monthly")
class MonthlyReport(MethodView):
    @blp.roles(*monthly_service.READERS)
    @blp.arguments(MonthlyArgs, location="query")
    @blp.response(200, MonthlyReportSchema, description=_MONTHLY_DOC)
    @_alt_formats
    @blp.doc(security=BEARER)
    def get(self, args):
        """The monthly report of a street or community in your scope (station: its
        community; street centre and above; 404 out of scope; 422 another level, a month not
        begun, `format=csv` without `section`)."""
        report_render.check_format(args.get("format"), args.get("section"))
        data = monthly_service.report(current_principal(), args.get("area"), args["month"])
        return _formatted(data, args)


@blp.route("/reports/monthly/archive")
class MonthlyArchive(MethodView):
    @blp.roles(*monthly_service.READERS)
    @blp.arguments(AreaArgs, location="query")
    @blp.response(200, ArchivedSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args):
        """The monthly reports kept for an area (built on the first working day of the next
        month), newest first."""
        return monthly_service.archive_list(current_principal(), "monthly", args.get("area"))


@blp.route("/reports/monthly/archive/<int:report_id>")
class MonthlyArchived(MethodView):
    @blp.roles(*monthly_service.READERS)
    @blp.arguments(FormatArgs, location="query")
    @blp.response(200, MonthlyReportSchema, description=_MONTHLY_DOC)
    @_alt_formats
    @blp.doc(security=BEARER)
    def get(self, args, report_id):
        """One kept monthly report, from the data kept (any format)."""
        report_render.check_format(args.get("format"), args.get("section"))
        data = monthly_service.archived(current_principal(), "monthly", report_id)
        return _formatted(data, args)


@blp.route("/reports/daily")
class DailySummary(MethodView):
    @blp.roles(*daily_service.READERS)
    @blp.arguments(DailyArgs, location="query")
    @blp.response(200, DailySummarySchema)
    @blp.doc(security=BEARER)
    def get(self, args):
        """The daily summary of a street (street centre and above): patrols, visits, new and
        closed cases, escalations, overdue now, SMS sent."""
        return daily_service.summary(current_principal(), args.get("area"), args.get("day"))


@blp.route("/reports/daily/archive")
class DailyArchive(MethodView):
    @blp.roles(*daily_service.READERS)
    @blp.arguments(AreaArgs, location="query")
    @blp.response(200, ArchivedSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args):
        """The daily summaries kept for a street (built each morning), newest first."""
        return monthly_service.archive_list(current_principal(), "daily", args.get("area"))


@blp.route("/reports/daily/archive/<int:report_id>")
class DailyArchived(MethodView):
    @blp.roles(*daily_service.READERS)
    @blp.response(200, DailySummarySchema)
    @blp.doc(security=BEARER)
    def get(self, report_id):
        """One kept daily summary."""
        return monthly_service.archived(current_principal(), "daily", report_id)
