"""What participants file for an outreach event: rosters, the site plan, reports; and the
programme's summary of the reports."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates

from api.common import BEARER, Blueprint, Date, Integer, UtcDateTime
from gridserve.auth import current_principal
from gridserve.services.outreach import plans as plan_service
from gridserve.services.outreach import reports as report_service
from gridserve.services.outreach import teams as team_service

blp = Blueprint(
    "outreach_participation",
    __name__,
    description="What each participant of a publicity event files: its roster (team and "
    "display boards), the lead's site plan (approved or returned by the coordinator), its report "
    "after the event; and the programme's summary of the reports.",
)

MAX_COUNT = 10_000_000


class Count(Integer):
    """A non-negative whole number (not a string, not a boolean)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=validate.Range(min=0, max=MAX_COUNT), **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


VERSION = Count(
    load_default=None,
    allow_none=True,
    metadata={"description": "The version you read; omit (or 0) to file the first time "
              "(409 `stale_version` otherwise)"},
)  # fmt: skip


# --- rosters -----------------------------------------------------------------------------------


class OutreachMemberSchema(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=100), _not_blank])
    duty = fields.String(load_default="", validate=validate.Length(max=100))
    phone = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "A mobile number; stored as E.164 (422 `invalid_phone`)"},
    )


class OutreachRosterSchema(Schema):
    members = fields.List(
        fields.Nested(OutreachMemberSchema),
        required=True,
        validate=validate.Length(max=team_service.MAX_MEMBERS),
    )
    boards = Count(load_default=0, metadata={"description": "Display boards the team brings"})
    version = VERSION


class OutreachMemberOutSchema(Schema):
    name = fields.String()
    duty = fields.String()
    phone = fields.String(
        metadata={"description": "E.164; masked unless you are the coordinator or this team's"}
    )


class OutreachTeamSchema(Schema):
    institution = fields.String()
    institution_name = fields.String()
    participant = fields.Boolean(metadata={"description": "Still a host, lead or co-organiser"})
    filed = fields.Boolean(metadata={"description": "A roster is filed"})
    boards = Integer()
    boards_required = Integer()
    members = fields.List(fields.Nested(OutreachMemberOutSchema))
    size = Integer()
    min_team = Integer(metadata={"description": "People required (min_group at a launch)"})
    meets_min_team = fields.Boolean()
    meets_boards = fields.Boolean()
    problems = fields.List(
        fields.String(), metadata={"description": "no_team, team_below_minimum, boards_missing"}
    )
    version = Integer(metadata={"description": "0: no roster yet"})
    updated_at = UtcDateTime(allow_none=True)


@blp.route("/outreach/events/<int:event_id>/teams")
class Teams(MethodView):
    @blp.roles(*team_service.READERS)
    @blp.response(200, OutreachTeamSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, event_id):
        """Every participant's team, whether it meets the booth rule (`min_team`, or `min_group`
        at a launch, and the boards). Phones in clear for the coordinator and the team's own
        institution, masked for others."""
        return team_service.list_teams(current_principal(), event_id)


@blp.route("/outreach/events/<int:event_id>/teams/<string:code>")
class TeamItem(MethodView):
    @blp.roles(*team_service.WRITERS)
    @blp.arguments(OutreachRosterSchema)
    @blp.response(200, OutreachTeamSchema)
    @blp.doc(security=BEARER)
    def put(self, body, event_id, code):
        """File or replace institution `code`'s roster: its contact or the coordinator.

        422 `unknown_institution`, `not_a_participant`, `invalid_phone` / `duplicate_phone`
        (with the member's `index`); 403 `not_your_institution`; 409 `event_closed` (held,
        reported or cancelled), `stale_version`.
        """
        principal = current_principal()
        team = team_service.set_roster(
            principal, event_id, code, body["members"], body["boards"], body["version"]
        )
        return next(t for t in team_service.list_teams(principal, event_id)
                    if t.institution == team.institution.code)  # fmt: skip


# --- the site plan -----------------------------------------------------------------------------


class OutreachPlanFileSchema(Schema):
    text = fields.String(
        required=True, validate=[validate.Length(min=1, max=plan_service.TEXT_MAX), _not_blank]
    )
    attachments = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=plan_service.MAX_ATTACHMENTS),
        metadata={"description": "Files sent with PUT /attachments/{uuid} (PDF, JPEG, PNG)"},
    )
    version = VERSION


class OutreachPlanReviewSchema(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=plan_service.NOTE_MAX))
    version = Count(load_default=None, allow_none=True)


class OutreachPlanReturnSchema(OutreachPlanReviewSchema):
    note = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=plan_service.NOTE_MAX), _not_blank],
        metadata={"description": "What the lead must change"},
    )


class OutreachPlanSchema(Schema):
    event_id = Integer()
    lead = fields.String(allow_none=True)
    text = fields.String()
    attachments = fields.List(fields.String())
    status = fields.String(metadata={"description": "submitted, approved or returned"})
    late = fields.Boolean(metadata={"description": "Filed after the programme's plan_due_on"})
    due_on = Date(allow_none=True)
    submitted_at = UtcDateTime()
    submitted_by = Integer(allow_none=True)
    reviewed_at = UtcDateTime(allow_none=True)
    reviewed_by = Integer(allow_none=True)
    note = fields.String(allow_none=True)
    version = Integer()


@blp.route("/outreach/events/<int:event_id>/plan")
class Plan(MethodView):
    @blp.roles(*team_service.READERS)
    @blp.response(200, OutreachPlanSchema)
    @blp.doc(security=BEARER)
    def get(self, event_id):
        """The event's site plan (404 `plan_not_found` when none is filed)."""
        return plan_service.get_plan(current_principal(), event_id)

    @blp.roles(*plan_service.FILERS)
    @blp.arguments(OutreachPlanFileSchema)
    @blp.response(200, OutreachPlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, event_id):
        """File or re-file the plan: the event's lead or the coordinator. Late after the
        programme's `plan_due_on` (end of that local day), never refused for it.

        403 `not_the_lead`; 409 `no_lead`, `event_closed`, `plan_approved`, `stale_version`;
        422 `invalid_attachment` (with `index` and `reason`).
        """
        return plan_service.file_plan(
            current_principal(),
            event_id,
            body["text"],
            [str(u) for u in body["attachments"]],
            body["version"],
        )


@blp.route("/outreach/events/<int:event_id>/plan/approve")
class PlanApprove(MethodView):
    @blp.roles(*plan_service.REVIEWERS)
    @blp.arguments(OutreachPlanReviewSchema)
    @blp.response(200, OutreachPlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, event_id):
        """Coordinator: approve the submitted plan (409 `plan_not_submitted` otherwise)."""
        return plan_service.approve_plan(
            current_principal(), event_id, body["note"], body["version"]
        )


@blp.route("/outreach/events/<int:event_id>/plan/return")
class PlanReturn(MethodView):
    @blp.roles(*plan_service.REVIEWERS)
    @blp.arguments(OutreachPlanReturnSchema)
    @blp.response(200, OutreachPlanSchema)
    @blp.doc(security=BEARER)
    def post(self, body, event_id):
        """Coordinator: return the submitted plan with a `note` (409 `plan_not_submitted`)."""
        return plan_service.return_plan(
            current_principal(), event_id, body["note"], body["version"]
        )


# --- reports -----------------------------------------------------------------------------------


class OutreachReportFileSchema(Schema):
    participants = Count(required=True, metadata={"description": "People reached"})
    materials = Count(required=True, metadata={"description": "Materials handed out"})
    consultations = Count(required=True)
    photos = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=report_service.MAX_PHOTOS),
        metadata={"description": "Photos sent with PUT /attachments/{uuid} (JPEG, PNG)"},
    )
    summary = fields.String(
        load_default="", validate=validate.Length(max=report_service.SUMMARY_MAX)
    )
    version = VERSION

    @validates("photos")
    def _photos(self, value: list, **_kwargs: Any) -> None:
        if len({str(v) for v in value}) != len(value):
            raise ValidationError("A photo is named twice.")


class OutreachInstitutionCodeSchema(Schema):
    code = fields.String()


class OutreachReportSchema(Schema):
    event_id = Integer()
    institution = fields.Pluck(OutreachInstitutionCodeSchema, "code")
    participants = Integer()
    materials = Integer()
    consultations = Integer()
    photos = fields.List(fields.String())
    summary = fields.String()
    late = fields.Boolean(metadata={"description": "Filed after the programme's report_due_on"})
    submitted_at = UtcDateTime()
    submitted_by = Integer(allow_none=True)
    version = Integer()


@blp.route("/outreach/events/<int:event_id>/reports")
class Reports(MethodView):
    @blp.roles(*team_service.READERS)
    @blp.response(200, OutreachReportSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, event_id):
        """The reports filed for the event."""
        return report_service.list_reports(current_principal(), event_id)


@blp.route("/outreach/events/<int:event_id>/reports/<string:code>")
class ReportItem(MethodView):
    @blp.roles(*report_service.FILERS)
    @blp.arguments(OutreachReportFileSchema)
    @blp.response(200, OutreachReportSchema)
    @blp.doc(security=BEARER)
    def put(self, body, event_id, code):
        """File or correct institution `code`'s report: its contact or the coordinator, once
        the event has taken place (held or reported, or approved and over; else 409
        `event_not_held`). Late after the programme's `report_due_on`.

        422 `unknown_institution`, `not_a_participant`, `invalid_attachment`,
        `validation_error` (counts are whole numbers >= 0); 403 `not_your_institution`;
        409 `stale_version`.
        """
        version = body.pop("version")
        return report_service.file_report(current_principal(), event_id, code, body, version)


# --- the programme's summary -------------------------------------------------------------------


class OutreachTallyFields(Schema):
    participants = Integer()
    materials = Integer()
    consultations = Integer()
    reports = Integer()
    late_reports = Integer()


class OutreachInstitutionTallySchema(OutreachTallyFields):
    institution = fields.String()
    name = fields.String()


class OutreachSiteTallySchema(OutreachTallyFields):
    event_id = Integer()
    title = fields.String()
    kind = fields.String()
    status = fields.String()
    starts_at = UtcDateTime(allow_none=True)
    lead = fields.String(allow_none=True)
    expected_reports = Integer(metadata={"description": "Participants owing a report"})
    plan_status = fields.String(allow_none=True, metadata={"description": "null: none filed"})
    plan_late = fields.Boolean(allow_none=True)


class OutreachLateReportSchema(Schema):
    event_id = Integer()
    title = fields.String()
    institution = fields.String()
    submitted_at = UtcDateTime()


class OutreachMissingReportSchema(Schema):
    event_id = Integer()
    title = fields.String()
    institution = fields.String()


class OutreachSummarySchema(Schema):
    programme_id = Integer()
    code = fields.String()
    name = fields.String()
    plan_due_on = Date(allow_none=True)
    report_due_on = Date(allow_none=True)
    totals = fields.Nested(OutreachTallyFields)
    by_institution = fields.List(fields.Nested(OutreachInstitutionTallySchema))
    by_site = fields.List(fields.Nested(OutreachSiteTallySchema))
    late_reports = fields.List(fields.Nested(OutreachLateReportSchema))
    missing_reports = fields.List(fields.Nested(OutreachMissingReportSchema))


@blp.route("/outreach/programmes/<int:programme_id>/summary")
class ProgrammeSummary(MethodView):
    @blp.roles(*report_service.SUMMARY_READERS)
    @blp.response(200, OutreachSummarySchema)
    @blp.doc(security=BEARER)
    def get(self, programme_id):
        """Report totals by institution and by site, late and missing reports (participants of
        held or reported events with none), and each site's plan status.

        The coordinator sees everything; a station or street centre the events in its area; an
        institution contact the programme's totals, the sites it takes part in and only its own
        late and missing reports.
        """
        return report_service.summary(current_principal(), programme_id)
