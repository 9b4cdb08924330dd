"""Scorecards (考核卡) with their evidence, entries and deductions; dismissal recommendations."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, MAX_PAGE_SIZE, PAGE_SIZE, Blueprint, Date, Id, Integer, UtcDateTime
from gridserve.auth import current_principal
from gridserve.errors import ErrorEnvelopeSchema
from gridserve.models import GRADES, RECOMMENDATION_STATUSES, TARGET_KINDS
from gridserve.pagination import RowPage
from gridserve.services.assessment import cards as card_service
from gridserve.services.assessment import recommendations as rec_service
from gridserve.services.assessment import templates as template_service

blp = Blueprint(
    "assessment_cards",
    __name__,
    description="Scorecards: one per target of a run, each line with its raw figures, "
    "formula, points, cap, rated or not (and why) and a link to the records behind it; "
    "rankings (station and above) by community, street and run. A worker sees only their own "
    "published cards (`GET /assessments/scorecards?mine=1`), a contact its institution's, "
    "area users those of their area. Entered indicators and deductions: the template's "
    "assessor role and above, until the run is published. Dismissal recommendations: a "
    "published yearly fail of a worker, for the street centre to confirm or overturn.",
)

GRADE_CODES = ("excellent", "good", "pass", "fail")


class CardRanksSchema(Schema):
    community = Integer(allow_none=True)
    street = Integer(allow_none=True)
    run = Integer(allow_none=True)


class ScorecardSummarySchema(Schema):
    id = Integer()
    run_id = Integer()
    period = fields.String()
    run_status = fields.String()
    target_kind = fields.String(metadata={"enum": list(TARGET_KINDS)})
    target_id = Integer(
        metadata={"description": "A worker's, a community's or an institution's id"}
    )
    target_name = fields.String()
    area_id = Integer(
        allow_none=True,
        metadata={"description": "The community (workers, stations) or the run's area"},
    )
    total = fields.Decimal(
        as_string=True, allow_none=True, metadata={"description": "Rounded half-up to 2 decimals"}
    )
    grade = fields.String(allow_none=True, metadata={"enum": list(GRADES)})
    grade_name = fields.String(metadata={"description": "优秀 / 良好 / 合格 / 不合格"})
    rated_weight = Integer(
        metadata={
            "description": "Weights of the rated indicators (the total is scaled to 100 over them)"
        }
    )
    deducted = fields.Decimal(as_string=True)
    disqualified = fields.Boolean()
    ranks = fields.Nested(
        CardRanksSchema,
        allow_none=True,
        metadata={"description": "Station and above: rank by total among rated cards"},
    )
    version = Integer()
    computed_at = UtcDateTime()


class AssessmentEvidenceSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    attachments = fields.List(
        fields.UUID(),
        validate=validate.Length(max=20),
        metadata={"description": "Attachment ids (photos, scans)"},
    )


class CardLineSchema(Schema):
    code = fields.String()
    name = fields.String()
    group = fields.String()
    weight = Integer()
    source = fields.String()
    metric = fields.String(allow_none=True)
    metric_name = fields.String()
    scoring = fields.String()
    invert = fields.Boolean()
    target = fields.Float(allow_none=True)
    factor = fields.Float()
    scale = fields.Float()
    cap = fields.Float()
    min_count = Integer()
    formula = fields.String(metadata={"description": "The metric's formula, in plain words"})
    rule = fields.String(metadata={"description": "How the points are worked out"})
    max_points = fields.Decimal(as_string=True)
    raw = fields.Dict(
        metadata={
            "description": "numerator, denominator, count, details "
            "(computed); overall (relative); entered, scale (entered)"
        }
    )
    value = fields.Float(allow_none=True)
    points = fields.Decimal(as_string=True, allow_none=True)
    capped = fields.Boolean()
    rated = fields.Boolean()
    not_rated_reason = fields.String(
        allow_none=True,
        metadata={"enum": ["too_little_data", "nothing_to_divide", "no_overall", "not_entered"]},
    )
    not_rated_text = fields.String(allow_none=True)
    entered_value = fields.Float(allow_none=True)
    evidence = fields.Dict(allow_none=True)
    entered_by = Integer(allow_none=True)
    entered_at = UtcDateTime(allow_none=True)
    records_url = fields.String(allow_none=True)
    ranks = fields.Nested(CardRanksSchema, allow_none=True)


class CardDeductionSchema(Schema):
    id = Integer()
    code = fields.String()
    name = fields.String()
    points = fields.Decimal(as_string=True)
    reason = fields.String()
    evidence = fields.Dict(allow_none=True)
    created_by = Integer(allow_none=True)
    created_at = UtcDateTime()


class ScorecardSchema(ScorecardSummarySchema):
    period_start = Date()
    period_end = Date()
    template = fields.Dict()
    lines = fields.List(fields.Nested(CardLineSchema))
    deductions = fields.List(fields.Nested(CardDeductionSchema), attribute="deduction_list")


class CardListArgs(Schema):
    grade = fields.String(validate=validate.OneOf([*GRADE_CODES, "none"]))
    community = Id()
    sort = fields.String(
        validate=validate.OneOf(card_service.SORTS),
        metadata={
            "description": "`rank` (best total first; the default for a run), "
            "`target_name`, `id`; `-` reverses"
        },
    )


class AllCardListArgs(CardListArgs):
    mine = fields.Boolean(
        metadata={
            "description": "Only your own published cards (a worker's; a contact's institution's)"
        }
    )
    run = Id()
    target_kind = fields.String(validate=validate.OneOf(TARGET_KINDS))
    period = fields.String(validate=validate.Length(max=16))


class When(fields.Field):
    """A record's time (ISO 8601, UTC) or day, whatever its backend gave."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC).isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)


class CardRecordSchema(Schema):
    id = fields.Raw(metadata={"description": "The record's id (a visit's, a case's...)"})
    kind = fields.String(metadata={"description": "visit, patrol, case, household, event..."})
    at = When(metadata={"description": "When (UTC), if the record has a time"})
    local = fields.String(allow_none=True, metadata={"description": "Local YYYY-MM-DD HH:MM"})
    ref = fields.String(allow_none=True, metadata={"description": "A cell code or a due day"})
    counted = fields.Boolean(allow_none=True, metadata={"description": "In the numerator"})
    description = fields.String(metadata={"description": "Codes and statuses, no personal data"})


class CardEntrySchema(Schema):
    value = fields.Float(required=True, metadata={"description": "0..the indicator's scale"})
    evidence = fields.Nested(AssessmentEvidenceSchema, required=True)
    version = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "The card's version (409 stale_version)"},
    )


class CardDeductionInSchema(Schema):
    code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A deduction kind of the template"},
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    evidence = fields.Nested(AssessmentEvidenceSchema, required=True)


def _cards(rows: list) -> list:
    return card_service.present_cards(current_principal(), rows)


def assessor_first(view: Callable) -> Callable:
    """Refuse (404 out of scope, 403 not the template's assessor) before the body is read."""

    @functools.wraps(view)
    def wrapper(self, *args, **kwargs):
        card_service.check_may_enter(current_principal(), kwargs["card_id"])
        return view(self, *args, **kwargs)

    return wrapper


@blp.route("/assessments/runs/<int:run_id>/scorecards")
class RunCards(MethodView):
    @blp.arguments(CardListArgs, location="query")
    @blp.response(200, ScorecardSummarySchema(many=True))
    @blp.paginate_select(present=_cards)
    @blp.doc(security=BEARER)
    def get(self, args, run_id):
        """A run's cards in your scope, by rank (best total first; not graded last)."""
        return card_service.list_cards(current_principal(), run_id=run_id, **args)


@blp.route("/assessments/scorecards")
class Cards(MethodView):
    @blp.arguments(AllCardListArgs, location="query")
    @blp.response(200, ScorecardSummarySchema(many=True))
    @blp.paginate_select(present=_cards)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Cards in your scope, newest first; `mine=1`: your own published cards (a worker's
        own, a contact's institution's)."""
        run_id = args.pop("run", None)
        return card_service.list_cards(current_principal(), run_id=run_id, **args)


@blp.route("/assessments/scorecards/<int:card_id>")
class CardItem(MethodView):
    @blp.response(200, ScorecardSchema)
    @blp.doc(security=BEARER)
    def get(self, card_id):
        """A card: each line's raw figures, value, points, cap, rated or not (and why), the
        formula, a link to its records; deductions; the period; ranks (station and above)."""
        return card_service.get_card(current_principal(), card_id)


@blp.route("/assessments/scorecards/<int:card_id>/indicators/<string:code>/records")
class CardRecords(MethodView):
    @blp.response(200, CardRecordSchema(many=True))
    @blp.paginate(RowPage, page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    @blp.doc(security=BEARER)
    def get(self, card_id, code):
        """The records behind one computed line (visits, cases, households, events...): id,
        kind and a short description, no personal data."""
        return card_service.records(current_principal(), card_id, code)


@blp.route("/assessments/scorecards/<int:card_id>/indicators/<string:code>")
class CardEntry(MethodView):
    @blp.roles(*template_service.ANY_ASSESSOR)
    @blp.response(200, ScorecardSchema)
    @blp.alt_response(
        409, schema=ErrorEnvelopeSchema, description="`run_published`; `stale_version`"
    )
    @assessor_first
    @blp.arguments(CardEntrySchema)
    @blp.doc(security=BEARER)
    def put(self, body, card_id, code):
        """Enter an entered indicator's value (0..scale) with evidence; the card's total and
        grade are rescored. The template's assessor role and above (403 first); audited."""
        return card_service.enter(current_principal(), card_id, code, body)


@blp.route("/assessments/scorecards/<int:card_id>/deductions")
class CardDeductions(MethodView):
    @blp.roles(*template_service.ANY_ASSESSOR)
    @blp.response(201, ScorecardSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="`run_published`")
    @assessor_first
    @blp.arguments(CardDeductionInSchema)
    @blp.doc(security=BEARER)
    def post(self, body, card_id):
        """Take points off for a deduction kind of the template (1 point per serious complaint
        or negative media report...), with reason and evidence; `disqualified` once their
        count reaches the template's `disqualify_after`."""
        return card_service.deduct(current_principal(), card_id, body)


# --- dismissal recommendations ----------------------------------------------------------------


class DismissalRecommendationSchema(Schema):
    id = Integer()
    scorecard_id = Integer()
    run_id = Integer()
    worker_id = Integer()
    worker_name = fields.String()
    period = fields.String()
    total = fields.Decimal(as_string=True, allow_none=True)
    grade = fields.String(allow_none=True)
    area_id = Integer(metadata={"description": "The street whose centre decides"})
    status = fields.String(metadata={"enum": list(RECOMMENDATION_STATUSES)})
    reason = fields.String()
    decided_by = Integer(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    version = Integer()


class RecommendationListArgs(Schema):
    status = fields.String(validate=validate.OneOf(RECOMMENDATION_STATUSES))
    run = Id()


class DismissalDecisionSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


def _recs(rows: list) -> list:
    return rec_service.present(rows)


@blp.route("/assessments/recommendations")
class Recommendations(MethodView):
    @blp.roles(*rec_service.DECIDERS)
    @blp.arguments(RecommendationListArgs, location="query")
    @blp.response(200, DismissalRecommendationSchema(many=True))
    @blp.paginate_select(present=_recs)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Dismissal recommendations of your streets, newest first (`status=open`)."""
        return rec_service.list_recommendations(
            current_principal(), status=args.get("status"), run_id=args.get("run")
        )


@blp.route("/assessments/recommendations/<int:rec_id>")
class RecommendationItem(MethodView):
    @blp.roles(*rec_service.DECIDERS)
    @blp.response(200, DismissalRecommendationSchema)
    @blp.doc(security=BEARER)
    def get(self, rec_id):
        """One recommendation."""
        return rec_service.get_recommendation(current_principal(), rec_id)


@blp.route("/assessments/recommendations/<int:rec_id>/confirm")
class RecommendationConfirm(MethodView):
    @blp.roles(*rec_service.DECIDERS)
    @blp.arguments(DismissalDecisionSchema)
    @blp.response(200, DismissalRecommendationSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="`already_decided`")
    @blp.doc(security=BEARER)
    def post(self, body, rec_id):
        """Confirm: the worker is dismissed (assignments end today, the cell shows vacant),
        their terminals revoked and their account disabled."""
        return rec_service.confirm(current_principal(), rec_id, body["reason"])


@blp.route("/assessments/recommendations/<int:rec_id>/overturn")
class RecommendationOverturn(MethodView):
    @blp.roles(*rec_service.DECIDERS)
    @blp.arguments(DismissalDecisionSchema)
    @blp.response(200, DismissalRecommendationSchema)
    @blp.alt_response(409, schema=ErrorEnvelopeSchema, description="`already_decided`")
    @blp.doc(security=BEARER)
    def post(self, body, rec_id):
        """Overturn: the worker stays."""
        return rec_service.overturn(current_principal(), rec_id, body["reason"])
