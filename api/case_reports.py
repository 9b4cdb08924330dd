"""Cases: the report of an area by level and category, with a hexbin for the map; CSV / XLSX."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Id, Integer, attachment
from gridserve.auth import current_principal
from gridserve.services.cases import reports as report_service

blp = Blueprint(
    "case_reports",
    __name__,
    description="The cases of an area, received in a window: by level and by category — "
    "received, settled at each level (小问题不出网格), escalated, overdue now, median time to "
    "close, satisfaction — and a hexbin of their points for the map; as CSV or XLSX (audited).",
)

_ROW_DOC = (
    "Cases (`kind=case`) of the area's subtree in your scope, received (created) from the "
    "local day `from` to `to` inclusive (default: the last 30 days). `settled`: per level, "
    "settled or closed there (a closed case at its `closed_level`, a settled one at its latest "
    "`settle` event's level); `settled_in_cell_share`: settled in the cell / settled "
    "(小问题不出网格); `escalated`: cases escalated at least once, `escalations` their "
    "escalate events; `overdue`: pending (open, accepted) past the level's due time and not "
    "paused; `median_close_hours`: median of closed_at − created_at − paused time over the "
    "closed cases (hours); `ratings` 1 satisfied / 2 fairly / 3 unsatisfied, `satisfied_share` "
    "(1 + 2) / rated. Rows by level: received and overdue at the level the case is at now, "
    "settled, closed, median and ratings at the level it was settled at, escalations at the "
    "level it was escalated from."
)


class SettledSchema(Schema):
    cell = fields.Integer()
    community = fields.Integer()
    street = fields.Integer()
    district = fields.Integer()


class RatingsSchema(Schema):
    satisfied = fields.Integer()
    fairly = fields.Integer()
    unsatisfied = fields.Integer()


class CaseReportRowSchema(Schema):
    received = fields.Integer()
    settled = fields.Nested(SettledSchema)
    settled_total = fields.Integer()
    settled_in_cell_share = fields.Float(metadata={"description": "小问题不出网格, 4 decimals"})
    escalated = fields.Integer()
    escalations = fields.Integer()
    overdue = fields.Integer()
    closed = fields.Integer()
    median_close_hours = fields.Float(allow_none=True)
    ratings = fields.Nested(RatingsSchema)
    rated = fields.Integer()
    satisfied_share = fields.Float(metadata={"description": "(satisfied + fairly) / rated"})


class CaseReportLevelSchema(CaseReportRowSchema):
    level = fields.String()


class CaseReportCategorySchema(CaseReportRowSchema):
    category = fields.String(allow_none=True, metadata={"description": "Category code"})
    name = fields.String()


class ReportAreaSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()


class CaseReportSchema(Schema):
    area = fields.Nested(ReportAreaSchema)
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    as_of = fields.DateTime(metadata={"description": "In the area's zone"})
    hex_m = fields.Float()
    totals = fields.Nested(CaseReportRowSchema)
    levels = fields.List(fields.Nested(CaseReportLevelSchema))
    categories = fields.List(fields.Nested(CaseReportCategorySchema))
    hexbin = fields.Dict(
        metadata={"description": "GeoJSON FeatureCollection: hexagons `hex_m` metres across "
                  "(WGS84 polygons), properties `q`, `r`, `count`"},
    )  # fmt: skip


class CaseReportArgs(Schema):
    area = Id(metadata={"description": "The area (default: yours)"})
    from_ = fields.Date(data_key="from", metadata={"description": "First local day received"})
    to = fields.Date(metadata={"description": "Last local day received (default: today)"})
    hex_m = fields.Float(
        validate=validate.Range(min=report_service.HEX_RANGE[0], max=report_service.HEX_RANGE[1]),
        metadata={"description": "Hexagon width, metres (default 250)"},
    )
    format = fields.String(
        validate=validate.OneOf(report_service.FORMATS),
        metadata={"description": "`csv`: one table (UTF-8 with BOM) with a `table` column "
                  "(total/level/category); `xlsx`: sheets 汇总, 按层级, 按类别, 热力格. "
                  "Exports are audited."},
    )  # fmt: skip


@blp.route("/reports/cases")
class CaseReport(MethodView):
    @blp.roles(*report_service.READERS)
    @blp.arguments(CaseReportArgs, location="query")
    @blp.response(200, CaseReportSchema, description=_ROW_DOC)
    @blp.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type="text/csv",
        description="With `format=csv` (UTF-8 with BOM) or `format=xlsx` "
        f"({report_service.XLSX_TYPE}): an attachment",
        success=True,
    )
    @blp.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type=report_service.XLSX_TYPE,
        description="With `format=xlsx`: a workbook",
        success=True,
    )
    @blp.doc(security=BEARER)
    def get(self, args):
        """The cases report of an area in your scope (station and above; 404 out of scope)."""
        fmt = args.get("format") or "json"
        params = {
            "area_id": args.get("area"),
            "start": args.get("from_"),
            "end": args.get("to"),
            "hex_m": args.get("hex_m") or report_service.HEX_M,
        }
        if fmt == "json":
            return report_service.report(current_principal(), **params)
        return attachment(*report_service.export(current_principal(), fmt, **params))
