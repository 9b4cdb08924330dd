"""Outreach: SME visit records (走访记录) and the decisions product_matched visits call for."""

from __future__ import annotations

import datetime as dt

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.common import BEARER, AwareDateTime, Blueprint, Date, Id, Integer, ListArgs
from gridserve.auth import current_principal
from gridserve.models import DECISIONS, OPERATING_STATUSES, VISIT_OUTCOMES
from gridserve.services.outreach import visits as visit_service
from gridserve.services.outreach.basics import READERS

blp = Blueprint(
    "outreach_visits",
    __name__,
    description="SME visit records of a visits programme: bank staff record them here, grid "
    "workers from their terminal (upload item `sme_visit`). A `product_matched` visit must be "
    "decided by its institution within N working days (`decision_due_on`).",
)

MAX_AMOUNT = 10**12  # yuan


class NeedSchema(Schema):
    amount = Integer(
        required=True,
        validate=validate.Range(min=0, max=MAX_AMOUNT),
        metadata={"description": "Yuan"},
    )
    term_months = Integer(allow_none=True, validate=validate.Range(min=1, max=360))
    purpose = fields.String(load_default="", validate=validate.Length(max=200))


class SmeVisitFieldsSchema(Schema):
    """What a visit records besides its enterprise and time: the body of `POST
    /outreach/visits` and the `sme` part of a terminal's `sme_visit` upload item."""

    operating_status = fields.String(required=True, validate=validate.OneOf(OPERATING_STATUSES))
    need = fields.Nested(
        NeedSchema,
        allow_none=True,
        load_default=None,
        metadata={"description": "The financing need; null: none stated"},
    )
    lenders = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "Codes of the institutions it already borrows from"},
    )
    eligible = fields.Boolean(allow_none=True, load_default=None)
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(VISIT_OUTCOMES),
        metadata={
            "description": "follow_up and renewal need `lenders`; product_matched needs "
            "`products`, `need.amount` > 0 and `eligible: true`; not_eligible_explained needs "
            "`eligible: false` and `explanation`; no_need: no need (null or amount 0)"
        },
    )
    products = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=list,
        validate=validate.Length(max=20),
    )
    explanation = fields.String(load_default="", validate=validate.Length(max=2000))
    next_step = fields.String(load_default="", validate=validate.Length(max=2000))
    next_step_due_on = Date(allow_none=True, load_default=None)
    notes = fields.String(load_default="", validate=validate.Length(max=5000))


class VisitBodySchema(SmeVisitFieldsSchema):
    enterprise_id = Id(required=True, metadata={"description": "A row of a visit list"})
    visited_at = AwareDateTime(
        required=True,
        metadata={"description": "Not in the future; its local day inside the visit window"},
    )


class EnterpriseRefSchema(Schema):
    credit_code = fields.String()
    name = fields.String()


class NeedOutSchema(Schema):
    amount = fields.Integer()
    term_months = fields.Integer(allow_none=True)
    purpose = fields.String()


class OutreachVisitSchema(Schema):
    id = Integer()
    programme_id = Integer()
    enterprise_id = Integer()
    enterprise = fields.Nested(EnterpriseRefSchema)
    institution = fields.String(metadata={"description": "The enterprise's institution (code)"})
    area_id = Integer(metadata={"description": "The enterprise's community"})
    visited_at = fields.DateTime(metadata={"description": "In the programme area's zone"})
    visitor = fields.String(allow_none=True, metadata={"description": "Username"})
    worker_id = Integer(allow_none=True)
    source = fields.String(
        validate=validate.OneOf(["bank", "terminal"]),
        metadata={"description": "`terminal`: a grid worker's visit; `bank`: recorded online"},
    )
    operating_status = fields.String()
    need = fields.Nested(NeedOutSchema, allow_none=True)
    lenders = fields.List(fields.String())
    eligible = fields.Boolean(allow_none=True)
    outcome = fields.String()
    products = fields.List(fields.String())
    explanation = fields.String()
    next_step = fields.String()
    next_step_due_on = fields.Date(allow_none=True)
    notes = fields.String()
    decision_due_on = fields.Date(
        allow_none=True, metadata={"description": "product_matched: local date + N working days"}
    )
    decision = fields.String(allow_none=True)
    decision_reason = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decision_overdue = fields.Boolean(
        metadata={"description": "Undecided and the area's local date is past decision_due_on"}
    )
    version = Integer()
    created_at = fields.DateTime()


class VisitListArgs(ListArgs):
    programme = Id()
    enterprise = Id()
    institution = fields.String(
        validate=validate.Length(min=1, max=40), metadata={"description": "Institution code"}
    )
    visitor = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "Username"}
    )
    outcome = fields.String(validate=validate.OneOf(VISIT_OUTCOMES))
    from_ = Date(data_key="from", metadata={"description": "Visited on or after (local day)"})
    to = Date(metadata={"description": "Visited on or before (local day)"})


class DecisionListArgs(ListArgs):
    programme = Id()
    institution = fields.String(validate=validate.Length(min=1, max=40))
    visitor = fields.String(validate=validate.Length(min=1, max=64))
    state = fields.String(
        load_default="open",
        validate=validate.OneOf(visit_service.DECISION_STATES),
        metadata={"description": "open: undecided; overdue: undecided past decision_due_on"},
    )


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    reason = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "Required for rejected"},
    )
    version = Integer(
        validate=validate.Range(min=1),
        metadata={"description": "The version you read (409 stale_version if it moved on)"},
    )


def _dates(args: dict) -> tuple[dt.date | None, dt.date | None]:
    return args.get("from_"), args.get("to")


@blp.route("/outreach/visits")
class Visits(MethodView):
    @blp.roles(*visit_service.RECORDERS)
    @blp.arguments(VisitBodySchema)
    @blp.response(201, OutreachVisitSchema)
    @blp.doc(security=BEARER)
    def post(self, body):
        """Record a visit (a contact of the enterprise's institution, the coordinator, admin).

        422 `validation_error` for the outcome rules (details by field) or a time in the
        future; 422 `outside_visit_window`; 404 for an enterprise you do not see."""
        visit = visit_service.record(current_principal(), body)
        return visit_service.present([visit])[0]

    @blp.roles(*READERS)
    @blp.arguments(VisitListArgs, location="query")
    @blp.response(200, OutreachVisitSchema(many=True))
    @blp.paginate_select(present=visit_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Visits you see (a bank: its own enterprises'), newest first."""
        day_from, day_to = _dates(args)
        return visit_service.list_visits(
            current_principal(),
            programme=args.get("programme"),
            enterprise=args.get("enterprise"),
            institution=args.get("institution"),
            visitor=args.get("visitor"),
            outcome=args.get("outcome"),
            day_from=day_from,
            day_to=day_to,
            sort=args.get("sort"),
        )


@blp.route("/outreach/visits/<int:visit_id>")
class VisitItem(MethodView):
    @blp.roles(*READERS)
    @blp.response(200, OutreachVisitSchema)
    @blp.doc(security=BEARER)
    def get(self, visit_id):
        """One visit (404 out of scope)."""
        visit = visit_service.get_visit(current_principal(), visit_id)
        return visit_service.present([visit])[0]


@blp.route("/outreach/visits/<int:visit_id>/decision")
class VisitDecision(MethodView):
    @blp.roles(*visit_service.DECIDERS)
    @blp.arguments(DecisionSchema)
    @blp.response(200, OutreachVisitSchema)
    @blp.doc(security=BEARER)
    def post(self, body, visit_id):
        """Decide a product_matched visit, once: 409 `no_decision_needed`, `already_decided`,
        `stale_version`; 422 without a reason for `rejected`."""
        visit = visit_service.decide(current_principal(), visit_id, body)
        return visit_service.present([visit])[0]


@blp.route("/outreach/decisions")
class Decisions(MethodView):
    @blp.roles(*READERS)
    @blp.arguments(DecisionListArgs, location="query")
    @blp.response(200, OutreachVisitSchema(many=True))
    @blp.paginate_select(present=visit_service.present)
    @blp.doc(security=BEARER)
    def get(self, args):
        """Visits awaiting a decision (per institution and visitor), earliest due first."""
        return visit_service.list_decisions(
            current_principal(),
            programme=args.get("programme"),
            institution=args.get("institution"),
            visitor=args.get("visitor"),
            state=args.get("state"),
            sort=args.get("sort"),
        )
