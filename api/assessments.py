"""Assessment templates and runs (考核模板、考核批次): what is scored, and scoring it."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, pre_load, validate

from api.common import BEARER, Blueprint, Date, Id, Integer, ListArgs, UtcDateTime
from api.jobs import JobSchema, accepted, request_id
from gridserve.auth import current_principal
from gridserve.errors import ErrorEnvelopeSchema
from gridserve.models import INDICATOR_SOURCES, RUN_STATUSES, SCORINGS, TARGET_KINDS
from gridserve.services.assessment import runs as run_service
from gridserve.services.assessment import templates as template_service

blp = Blueprint(
    "assessments",
    __name__,
    description="Scorecard templates (an admin makes them; everyone signed in reads them) and "
    "runs: a template scored over an area for a quarter (`YYYY-Qn`) or a year (`YYYY`), "
    "computed as a job (202 + `Location` of the job; the job's `result_url` is the run), then "
    "published (frozen). Runs, entries, deductions and publishing are for the template's "
    "assessor role and the roles above it in their own area: `station` templates (workers) — "
    "the station of the community, the street and district centres; `street_centre` templates "
    "(stations) — the street and district centres; `coordinator` templates (institutions) — "
    "the coordinator; admin always.",
)

CODE = validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$", error="2-40 of a-z, 0-9, '_'.")
VERSION = Integer(
    required=True,
    strict=True,
    validate=validate.Range(min=1),
    metadata={"description": "The version your change is based on (409 stale_version)"},
)


class AssessmentIndicatorSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    group = fields.String(
        validate=validate.Length(max=60),
        metadata={"description": "The group it is shown in (服务质量...)"},
    )
    weight = Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Integer points; a template's weights sum to 100"},
    )
    source = fields.String(required=True, validate=validate.OneOf(INDICATOR_SOURCES))
    metric = fields.String(
        allow_none=True,
        validate=validate.Length(max=40),
        metadata={"description": "computed: a metric of the template's target kind"},
    )
    scoring = fields.String(
        allow_none=True,
        validate=validate.OneOf(SCORINGS),
        metadata={"description": "computed: share (default), target, relative; entered: entered"},
    )
    invert = fields.Boolean(metadata={"description": "share: score 1 − share (fewer is better)"})
    target = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, min_inclusive=False, max=1e9),
        metadata={"description": "target: achieved per unit expected"},
    )
    factor = fields.Float(
        validate=validate.Range(min=0, min_inclusive=False, max=10),
        metadata={"description": "relative: × factor (0.8)"},
    )
    scale = fields.Float(
        validate=validate.Range(min=0, min_inclusive=False, max=1e6),
        metadata={"description": "entered: the value's full scale (100)"},
    )
    cap = fields.Float(
        validate=validate.Range(min=1, max=10),
        metadata={"description": "At most cap × weight points (1.2)"},
    )
    min_count = Integer(
        validate=validate.Range(min=0, max=1_000_000),
        metadata={"description": "Fewer records: not rated"},
    )
    description = fields.String(validate=validate.Length(max=2000))
    formula = fields.String(dump_only=True, metadata={"description": "The metric's formula"})

    @pre_load
    def _drop_shown(self, data, **_kwargs):
        """An indicator as read (with its formula) may be sent back as it is."""
        if isinstance(data, dict) and "formula" in data:
            data = {k: v for k, v in data.items() if k != "formula"}
        return data


class GradeBandsSchema(Schema):
    excellent = fields.Float(required=True)
    good = fields.Float(required=True)
    # ``pass`` is a keyword: the field is named by data_key.
    pass_ = fields.Float(required=True, data_key="pass", attribute="pass")


class DeductionKindSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    points = fields.Float(required=True, validate=validate.Range(min=0.01, max=100))


class AssessmentTemplateSchema(Schema):
    id = Integer(dump_only=True)
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    target_kind = fields.String(required=True, validate=validate.OneOf(TARGET_KINDS))
    assessor_role = fields.String(
        required=True,
        metadata={
            "description": "Who enters, runs and publishes: "
            + ", ".join(template_service.ASSESSOR_ROLES)
            + " (and the roles above it)"
        },
    )
    bands = fields.Nested(
        GradeBandsSchema,
        metadata={
            "description": "Lower bounds (inclusive) of excellent, good, pass on the total rounded "
            "half-up to 2 decimals; default 93 / 85 / 75"
        },
    )
    deductions = fields.List(fields.Nested(DeductionKindSchema), validate=validate.Length(max=20))
    disqualify_after = Integer(
        allow_none=True,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Deductions that disqualify"},
    )
    description = fields.String(validate=validate.Length(max=4000))
    active = fields.Boolean()
    indicators = fields.List(
        fields.Nested(AssessmentIndicatorSchema),
        required=True,
        validate=validate.Length(min=1, max=50),
    )
    version = Integer(dump_only=True)
    created_at = UtcDateTime(dump_only=True)
    updated_at = UtcDateTime(dump_only=True)


class AssessmentTemplateOutSchema(AssessmentTemplateSchema):
    indicators = fields.List(fields.Nested(AssessmentIndicatorSchema), attribute="indicator_list")


class AssessmentTemplateUpdateSchema(Schema):
    version = VERSION
    name = fields.String(validate=validate.Length(min=1, max=120))
    assessor_role = fields.String()
    bands = fields.Nested(GradeBandsSchema)
    deductions = fields.List(fields.Nested(DeductionKindSchema), validate=validate.Length(max=20))
    disqualify_after = Integer(allow_none=True, validate=validate.Range(min=1, max=1000))
    description = fields.String(validate=validate.Length(max=4000))
    active = fields.Boolean()
    indicators = fields.List(
        fields.Nested(AssessmentIndicatorSchema),
        validate=validate.Length(min=1, max=50),
        metadata={"description": "Replace them all"},
    )


class TemplateListArgs(ListArgs):
    target_kind = fields.String(validate=validate.OneOf(TARGET_KINDS))
    active = fields.Boolean()


def _templates(rows: list) -> list:
    return template_service.present(rows)


@blp.route("/assessments/templates")
class Templates(MethodView):
    @blp.arguments(TemplateListArgs, location="query")
    @blp.response(200, AssessmentTemplateOutSchema(many=True))
    @blp.paginate_select(present=_templates)
    @blp.doc(security=BEARER)
    def get(self, args):
        """The templates (everyone signed in)."""
        return template_service.list_templates(current_principal(), **args)

    @blp.roles()
    @blp.arguments(AssessmentTemplateSchema)
    @blp.response(201, AssessmentTemplateOutSchema)
    @blp.alt_response(
        409, schema=ErrorEnvelopeSchema, description="`template_exists`: the code is taken"
    )
    @blp.doc(security=BEARER)
    def post(self, body):
        """Make a template (admin): weights summing to 100 (else 422 `weights_not_100`), each
        indicator computed (a metric of its target kind) or entered; bands, deduction kinds
        and the assessor role checked (422 by field)."""
        return _templates([template_service.create_template(current_principal(), body)])[0]


@blp.route("/assessments/templates/<int:template_id>")
class TemplateItem(MethodView):
    @blp.response(200, AssessmentTemplateOutSchema)
    @blp.doc(security=BEARER)
    def get(self, template_id):
        """One template with its indicators."""
        return _templates([template_service.get_template(current_principal(), template_id)])[0]

    @blp.roles()
    @blp.arguments(AssessmentTemplateUpdateSchema)
    @blp.response(200, AssessmentTemplateOutSchema)
    @blp.alt_response(
        409, schema=ErrorEnvelopeSchema, description="`stale_version`: it changed since you read it"
    )
    @blp.doc(security=BEARER)
    def patch(self, body, template_id):
        """Change a template (admin), based on its `version`; `indicators` replace them all.
        Runs made before keep the template as it was."""
        template = template_service.update_template(current_principal(), template_id, body)
        return _templates([template])[0]


RUN_HEADERS = {
    "Location": {"description": "The job to poll: /api/v1/jobs/{id}", "schema": {"type": "string"},
                 "required": True},
    "Content-Location": {"description": "The run: /api/v1/assessments/runs/{id}",
                         "schema": {"type": "string"}, "required": True},
}  # fmt: skip

# --- runs -------------------------------------------------------------------------------------


class AssessmentRunCreateSchema(Schema):
    template = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "The template's code or id"},
    )
    period = fields.String(
        required=True,
        validate=validate.Length(max=16),
        metadata={"description": "`YYYY-Qn` (a quarter) or `YYYY`"},
    )
    area_id = Id(required=True)
    provisional = fields.Boolean(
        metadata={
            "description": "Score a period not yet ended (422 `period_not_ended` "
            "otherwise); a provisional run is not published"
        }
    )
    reason = fields.String(
        validate=validate.Length(max=2000),
        metadata={
            "description": "Why: given when a run exists, it makes a correction — a new "
            "version superseding the latest (else 409 `run_exists`)"
        },
    )


class AssessmentRunSchema(Schema):
    id = Integer()
    template_id = Integer()
    template_code = fields.String()
    template_name = fields.String()
    target_kind = fields.String(metadata={"enum": list(TARGET_KINDS)})
    period = fields.String()
    period_start = Date(metadata={"description": "Local, inclusive"})
    period_end = Date(metadata={"description": "Local, inclusive"})
    area_id = Integer()
    provisional = fields.Boolean()
    status = fields.String(attribute="shown_status", metadata={"enum": list(RUN_STATUSES)})
    error = fields.Dict(
        attribute="shown_error",
        allow_none=True,
        metadata={"description": "Once failed: the job's error"},
    )
    version = Integer()
    supersedes_id = Integer(allow_none=True)
    superseded_by = Integer(allow_none=True)
    reason = fields.String()
    job_id = Integer(allow_none=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=Integer(),
        metadata={"description": "Cards by grade: excellent, good, pass, fail, not_graded, total"},
    )
    computed_at = UtcDateTime(allow_none=True)
    published_at = UtcDateTime(allow_none=True)
    published_by = Integer(allow_none=True)
    created_by = Integer(allow_none=True)
    created_at = UtcDateTime()


class AssessmentRunDetailSchema(AssessmentRunSchema):
    template_snapshot = fields.Dict(
        metadata={
            "description": "The template as the run scores it (indicators, bands, "
            "deductions, each metric's formula)"
        }
    )


class RunListArgs(ListArgs):
    template = fields.String(validate=validate.Length(max=40))
    period = fields.String(validate=validate.Length(max=16))
    area = Id()
    status = fields.String(validate=validate.OneOf(RUN_STATUSES))


def _runs(rows: list) -> list:
    return run_service.present(rows)


@blp.route("/assessments/runs")
class Runs(MethodView):
    @blp.arguments(RunListArgs, location="query")
    @blp.response(200, AssessmentRunSchema(many=True))
    @blp.paginate_select(present=_runs)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Runs in your scope, newest first (a contact: published runs with its card)."""
        return run_service.list_runs(
            current_principal(),
            template=args.get("template"),
            period=args.get("period"),
            area_id=args.get("area"),
            status=args.get("status"),
            sort=args.get("sort"),
        )

    @blp.roles(*template_service.ANY_ASSESSOR)
    @blp.arguments(AssessmentRunCreateSchema)
    @blp.response(
        202,
        JobSchema,
        headers=RUN_HEADERS,
        description="Accepted as a job: poll `Location` (/api/v1/jobs/{id}); "
        "the job's `params.run_id` is the run, its `result_url` once computed",
    )
    @blp.alt_response(
        409, schema=ErrorEnvelopeSchema, description="`run_exists`: give a `reason` to correct it"
    )
    @blp.doc(security=BEARER)
    def post(self, body):
        """Score a template over an area for a period. 422 `period_not_ended` (unless
        `provisional`), 422 by field for a bad period or area; 403 `not_the_assessor` for a
        role that does not act for the template."""
        _run, job = run_service.create_run(current_principal(), body, request_id=request_id())
        response = accepted(job)
        response.headers["Content-Location"] = f"/api/v1/assessments/runs/{_run.id}"
        return response


@blp.route("/assessments/runs/<int:run_id>")
class RunItem(MethodView):
    @blp.response(200, AssessmentRunDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, run_id):
        """A run: status (computing, computed, published, failed), its template snapshot,
        period dates, counts by grade, the version it supersedes and the one superseding it."""
        return run_service.get_run(current_principal(), run_id)


@blp.route("/assessments/runs/<int:run_id>/publish")
class RunPublish(MethodView):
    @blp.roles(*template_service.ANY_ASSESSOR)
    @blp.response(200, AssessmentRunSchema)
    @blp.alt_response(
        409,
        schema=ErrorEnvelopeSchema,
        description="`already_published`; `run_computing`, `run_failed`; `run_provisional`",
    )
    @blp.doc(security=BEARER)
    def post(self, run_id):
        """Publish (freeze) a computed run: entries and deductions are refused afterwards
        (409 `run_published`); its workers and contacts see their cards. A yearly worker run
        opens a dismissal recommendation for each `fail` card."""
        return run_service.publish(current_principal(), run_id)
