"""Outreach: the progress of a visits programme (走访进度) and its CSV / XLSX exports."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, Blueprint, Integer, attachment
from gridserve.auth import current_principal
from gridserve.services.outreach import progress as progress_service
from gridserve.services.outreach.basics import READERS

blp = Blueprint(
    "outreach_progress",
    __name__,
    description="The progress of a visits programme per institution, per visitor (包靠责任人) "
    "and in total: listed, visited and its share, outcomes, financing needed and matched, "
    "decisions open and overdue, referrals made and converted; as CSV or XLSX (audited).",
)

_ROW_DOC = (
    "`listed`: rows of the visit list; `visited`: of them, those with a visit record; "
    "`visited_share`: visited / listed (4 decimals, 0 when none listed); `outcomes`: visit "
    "records per outcome; `need_amount`: the financing need (yuan) summed over the visit "
    "records; `matched_amount`: the need of the `product_matched` records, whatever their "
    "decision (the need a product was matched to); `decisions_open`: product_matched records "
    "without a decision whose due day is not over; `decisions_overdue`: the same past their "
    "due day (the programme area's local date); `referrals_made` / `referrals_converted`: "
    "referral cards of the programme sent by the institution (by the visitor's account; a "
    "`cell` row sends none) and those converted. List rows and visits count for the "
    "enterprise's responsible institution and visitor; everything is limited to what the "
    "caller may see (a bank: its own institution's rows), and `totals` is the sum of the "
    "institution rows."
)


class VisitOutcomesSchema(Schema):
    follow_up = fields.Integer()
    renewal = fields.Integer()
    product_matched = fields.Integer()
    not_eligible_explained = fields.Integer()
    no_need = fields.Integer()


class VisitProgressRowSchema(Schema):
    listed = fields.Integer()
    visited = fields.Integer()
    visited_share = fields.Float(metadata={"description": "visited / listed, 4 decimals"})
    outcomes = fields.Nested(VisitOutcomesSchema)
    need_amount = fields.Integer(metadata={"description": "Yuan"})
    matched_amount = fields.Integer(
        metadata={"description": "Yuan: the need of the product_matched visits, any decision"}
    )
    decisions_open = fields.Integer()
    decisions_overdue = fields.Integer()
    referrals_made = fields.Integer()
    referrals_converted = fields.Integer()


class InstitutionVisitProgressSchema(VisitProgressRowSchema):
    institution = fields.String(metadata={"description": "Institution code"})
    name = fields.String()


class VisitorVisitProgressSchema(VisitProgressRowSchema):
    visitor = fields.String(
        allow_none=True, metadata={"description": "The visitor's username, or `cell`"}
    )
    institution = fields.String(metadata={"description": "Institution code"})


class ProgressProgrammeSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()


class ProgrammeProgressSchema(Schema):
    programme = fields.Nested(ProgressProgrammeSchema)
    as_of = fields.DateTime(metadata={"description": "In the programme area's zone"})
    totals = fields.Nested(VisitProgressRowSchema)
    institutions = fields.List(fields.Nested(InstitutionVisitProgressSchema))
    visitors = fields.List(fields.Nested(VisitorVisitProgressSchema))


class ProgrammeProgressArgs(Schema):
    format = fields.String(
        validate=validate.OneOf(progress_service.FORMATS),
        metadata={
            "description": "`csv`: one table (UTF-8 with BOM) with a `level` column "
            "(total/institution/visitor); `xlsx`: sheets 汇总, 机构, 走访人. Exports are audited."
        },
    )


@blp.route("/outreach/programmes/<int:programme_id>/progress")
class ProgrammeProgress(MethodView):
    @blp.roles(*READERS)
    @blp.arguments(ProgrammeProgressArgs, location="query")
    @blp.response(200, ProgrammeProgressSchema, description=_ROW_DOC)
    @blp.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type="text/csv",
        description="With `format=csv` (UTF-8 with BOM) or `format=xlsx` "
        f"({progress_service.XLSX_TYPE}): an attachment",
        success=True,
    )
    @blp.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type=progress_service.XLSX_TYPE,
        description="With `format=xlsx`: a workbook",
        success=True,
    )
    @blp.doc(security=BEARER)
    def get(self, args, programme_id):
        """The programme's progress as the caller may see it (a contact: its institution's
        rows; area users: their area's; workers: 403)."""
        fmt = args.get("format") or "json"
        principal = current_principal()
        if fmt == "json":
            return progress_service.progress(principal, programme_id)
        return attachment(*progress_service.export(principal, programme_id, fmt))
